//! The demo's live progress line: one bar over the run's apps, with the
//! count in each phase.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How many of a run's apps are in each phase right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// Planned, not yet building.
    pub queued: usize,
    pub staging: usize,
    pub deploying: usize,
    /// Final outcomes other than failed (restaged, already current, skipped).
    pub done: usize,
    pub failed: usize,
}

impl Phases {
    pub fn finished(&self) -> usize {
        self.done + self.failed
    }
}

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// `visible = false` draws nothing (`--quiet`, `--json`, or no terminal).
    pub fn new(total: usize, visible: bool) -> Self {
        let bar = if visible {
            ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        // The template is a constant; fall back to the default style if it ever fails to parse.
        // The phase counts come first and the bar takes what is left, so the line stays one
        // line on an 80-column terminal instead of wrapping.
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {elapsed:>3} {msg} [{wide_bar}] {pos}/{len}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(100));
        Self { bar }
    }

    pub fn update(&self, phases: Phases) {
        self.bar.set_position(phases.finished() as u64);
        self.bar.set_message(format!(
            "queued {} · staging {} · deploying {} · done {} · failed {}",
            phases.queued, phases.staging, phases.deploying, phases.done, phases.failed
        ));
    }

    pub fn finish(&self) {
        self.bar.finish();
    }
}
