//! The demo's live progress line: one bar over every app of the final
//! table, with the count in each phase.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How many of a run's apps are in each phase right now. Every app of the
/// final table is in exactly one, so the total is the table's length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// On the queue, not yet picked up.
    pub queued: usize,
    /// Picked or ready, but another app of its space is restaging (one per
    /// space at a time: the quota boundary).
    pub waiting: usize,
    pub staging: usize,
    pub deploying: usize,
    /// Restaged or already current.
    pub done: usize,
    /// Left alone, by the plan or by the worker, with a reason.
    pub skipped: usize,
    /// Crashed while verified; the previous droplet runs again.
    pub rolled_back: usize,
    pub failed: usize,
}

impl Phases {
    /// Apps with their last word said.
    pub fn settled(&self) -> usize {
        self.done + self.skipped + self.rolled_back + self.failed
    }

    pub fn total(&self) -> usize {
        self.queued + self.waiting + self.staging + self.deploying + self.settled()
    }

    /// The progress line's words.
    pub fn describe(&self) -> String {
        format!(
            "queued {} · waiting for its space {} · staging {} · deploying {} · done {} · skipped {} · rolled back {} · failed {}",
            self.queued,
            self.waiting,
            self.staging,
            self.deploying,
            self.done,
            self.skipped,
            self.rolled_back,
            self.failed
        )
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
        self.bar.set_length(phases.total() as u64);
        self.bar.set_position(phases.settled() as u64);
        self.bar.set_message(phases.describe());
    }

    pub fn finish(&self) {
        self.bar.finish();
    }
}
