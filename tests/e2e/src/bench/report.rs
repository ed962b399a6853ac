//! One figure of the benchmark: what was measured, against which anchor,
//! the ratio between them and whether the goal holds. Printed for people
//! and written as JSON for machines (`<out>/<name>.json`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Which way a ratio has to go for the goal to hold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "limit", rename_all = "snake_case")]
pub enum Goal {
    /// `measured / anchor` must be at most this.
    RatioAtMost(f64),
    /// `measured / anchor` must be at least this.
    RatioAtLeast(f64),
    /// The measured value itself must be below this.
    ValueBelow(f64),
}

impl Goal {
    fn met(self, value: f64, ratio: Option<f64>) -> bool {
        match self {
            Goal::RatioAtMost(limit) => ratio.is_some_and(|r| r <= limit),
            Goal::RatioAtLeast(limit) => ratio.is_some_and(|r| r >= limit),
            Goal::ValueBelow(limit) => value < limit,
        }
    }

    fn describe(self, unit: &str) -> String {
        match self {
            Goal::RatioAtMost(l) => format!("ratio ≤ {l}"),
            Goal::RatioAtLeast(l) => format!("ratio ≥ {l}"),
            Goal::ValueBelow(l) => format!("< {} {unit}", num(l)),
        }
    }
}

/// A reference value the measurement is compared with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anchor {
    pub name: String,
    pub value: f64,
}

/// One measured quantity, optionally against an anchor and a goal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub metric: String,
    pub value: f64,
    pub unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<Anchor>,
    /// `value / anchor.value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal: Option<Goal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal_met: Option<bool>,
}

impl Line {
    pub fn new(metric: impl Into<String>, value: f64, unit: impl Into<String>) -> Self {
        Self {
            metric: metric.into(),
            value,
            unit: unit.into(),
            anchor: None,
            ratio: None,
            goal: None,
            goal_met: None,
        }
    }

    /// Compares with `anchor` (same unit); the ratio is `value / anchor`.
    pub fn against(mut self, name: impl Into<String>, anchor: f64) -> Self {
        self.ratio = (anchor != 0.0).then(|| self.value / anchor);
        self.anchor = Some(Anchor {
            name: name.into(),
            value: anchor,
        });
        self.goal_met = self.goal.map(|g| g.met(self.value, self.ratio));
        self
    }

    pub fn goal(mut self, goal: Goal) -> Self {
        self.goal = Some(goal);
        self.goal_met = Some(goal.met(self.value, self.ratio));
        self
    }
}

/// A figure: its lines plus the settings and raw details behind them.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// File stem of the JSON output, e.g. `restage_makespan`.
    pub name: String,
    pub title: String,
    pub settings: serde_json::Value,
    pub lines: Vec<Line>,
    /// Anything a reader may want to re-check (distributions, counts).
    pub details: serde_json::Value,
    /// Caveats that change how the numbers read.
    pub notes: Vec<String>,
    /// Wall-clock seconds the figure took to produce.
    pub wall_secs: f64,
}

impl Figure {
    pub fn new(name: &str, title: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            title: title.into(),
            settings: serde_json::Value::Null,
            lines: Vec::new(),
            details: serde_json::Value::Null,
            notes: Vec::new(),
            wall_secs: 0.0,
        }
    }

    pub fn line(&mut self, line: Line) {
        self.lines.push(line);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Every goal of this figure holds.
    pub fn goals_met(&self) -> bool {
        self.lines.iter().all(|l| l.goal_met != Some(false))
    }

    /// The human-readable rendering.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "== {} ({:.1} s)", self.title, self.wall_secs);
        for l in &self.lines {
            let _ = write!(
                out,
                "   {:<44} {:>12} {:<8}",
                l.metric,
                num(l.value),
                l.unit
            );
            if let Some(a) = &l.anchor {
                let _ = write!(out, " vs {} = {}", a.name, num(a.value));
                if let Some(r) = l.ratio {
                    if r.abs() >= 0.001 {
                        let _ = write!(out, "  ratio {r:.3}");
                    } else {
                        let _ = write!(out, "  ratio {r:.1e}");
                    }
                }
            }
            if let Some(g) = l.goal {
                let mark = if l.goal_met == Some(true) {
                    "met"
                } else {
                    "NOT met"
                };
                let _ = write!(out, "  [goal {}: {mark}]", g.describe(&l.unit));
            }
            out.push('\n');
        }
        for n in &self.notes {
            let _ = writeln!(out, "   note: {n}");
        }
        out
    }

    /// Writes `<dir>/<name>.json`.
    pub fn write_json(&self, dir: &Path) -> Result<PathBuf, ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(format!("{}.json", self.name));
        let text = serde_json::to_string_pretty(self).map_err(ReportError::Encode)?;
        std::fs::write(&path, text + "\n").map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}; choose another directory with --out")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode the figure as JSON: {0}")]
    Encode(serde_json::Error),
}

/// A number with as many decimals as it deserves.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_follow_the_ratio() {
        let l = Line::new("makespan", 103.0, "s")
            .goal(Goal::RatioAtMost(1.05))
            .against("bound", 100.0);
        assert_eq!(l.goal_met, Some(true));
        let l = Line::new("makespan", 110.0, "s")
            .goal(Goal::RatioAtMost(1.05))
            .against("bound", 100.0);
        assert_eq!(l.goal_met, Some(false));
        let l = Line::new("rss", 30.0, "MB").goal(Goal::ValueBelow(64.0));
        assert_eq!(l.goal_met, Some(true));
    }
}
