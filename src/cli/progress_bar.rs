//! Renders the engine's progress reports as an indicatif bar on stderr.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use quire_engine::progress::{Phase, Progress, ProgressSink};

pub struct ProgressBarSink {
    bar: ProgressBar,
    phase: Mutex<Option<Phase>>,
}

impl ProgressBarSink {
    pub fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.enable_steady_tick(Duration::from_millis(120));
        ProgressBarSink {
            bar,
            phase: Mutex::new(None),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl ProgressSink for ProgressBarSink {
    fn report(&self, progress: &Progress) {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        if *phase != Some(progress.phase) {
            *phase = Some(progress.phase);
            let style = match progress.phase {
                Phase::Scanning => ProgressStyle::with_template("{spinner} scanning folders…"),
                Phase::Indexing | Phase::Querying | Phase::Summarizing => {
                    ProgressStyle::with_template("{spinner} [{bar:32.cyan/blue}] {pos}/{len} {msg}")
                }
            };
            if let Ok(style) = style {
                self.bar.set_style(style.progress_chars("=> "));
            }
            self.bar.reset();
        }
        self.bar.set_length(progress.total);
        self.bar.set_position(progress.done);
        let eta = progress
            .eta_secs
            .map(|s| format!(", ETA {}", format_secs(s)))
            .unwrap_or_default();
        self.bar.set_message(format!(
            "{}, {:.1} {}/s{eta}",
            progress.unit, progress.rate, progress.unit
        ));
    }
}

fn format_secs(secs: f64) -> String {
    let secs = secs.round() as u64;
    if secs >= 3600 {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    } else if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}
