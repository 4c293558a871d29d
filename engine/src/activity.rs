//! Sharing the cores between indexing and the chat model. Both want every core, and
//! llama.cpp's threads wait for each other at every step by spinning: with the
//! embedder on the same cores an answer was written about 7× slower. So while an
//! answer or a summary is being generated, indexing steps aside: its workers take
//! no new file and the embedder starts no new slice of passages until it is done.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often a waiting indexer looks again.
const RECHECK: Duration = Duration::from_millis(20);

/// The generations running now, shared by the engine's chat model and its indexer.
#[derive(Debug, Clone, Default)]
pub struct GenerationActivity(Arc<AtomicUsize>);

/// Held for as long as one generation runs.
#[derive(Debug)]
pub struct ActiveGeneration(Arc<AtomicUsize>);

impl GenerationActivity {
    pub fn begin(&self) -> ActiveGeneration {
        self.0.fetch_add(1, Ordering::SeqCst);
        ActiveGeneration(self.0.clone())
    }

    pub fn is_generating(&self) -> bool {
        self.0.load(Ordering::SeqCst) > 0
    }

    /// Blocks while a generation runs, or until `stop` is set. Says whether it waited.
    pub fn wait_blocking(&self, stop: &AtomicBool) -> bool {
        let mut waited = false;
        while self.is_generating() && !stop.load(Ordering::Relaxed) {
            waited = true;
            std::thread::sleep(RECHECK);
        }
        waited
    }

    /// Waits while a generation runs, or until `stop` is set. Says whether it waited.
    pub async fn wait(&self, stop: &AtomicBool) -> bool {
        let mut waited = false;
        while self.is_generating() && !stop.load(Ordering::Relaxed) {
            waited = true;
            tokio::time::sleep(RECHECK).await;
        }
        waited
    }
}

impl Drop for ActiveGeneration {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexing_waits_for_every_generation_to_end() {
        let activity = GenerationActivity::default();
        let never = AtomicBool::new(false);
        assert!(!activity.wait_blocking(&never), "nothing runs: no wait");
        let first = activity.begin();
        let second = activity.begin();
        let waiter = {
            let activity = activity.clone();
            std::thread::spawn(move || activity.wait_blocking(&AtomicBool::new(false)))
        };
        drop(first);
        std::thread::sleep(Duration::from_millis(60));
        assert!(!waiter.is_finished(), "one generation still runs");
        drop(second);
        assert!(waiter.join().unwrap_or(false));
        assert!(!activity.is_generating());
    }

    #[test]
    fn a_pause_ends_the_wait() {
        let activity = GenerationActivity::default();
        let _running = activity.begin();
        assert!(!activity.wait_blocking(&AtomicBool::new(true)));
    }
}
