//! Sharing the cores between indexing and the chat model. Both want every core, and
//! llama.cpp's threads wait for each other at every step by spinning: with the
//! embedder on the same cores an answer was written about 7× slower. So while an
//! answer or a summary is being generated, indexing steps aside: its workers take
//! no new file and the embedder starts no new slice of passages until it is done.
//! The last generation to end wakes them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use crate::cancel::{CancelToken, ParkedThreads};

/// The generations running now, shared by the engine's chat model and its indexer.
#[derive(Debug, Clone, Default)]
pub struct GenerationActivity(Arc<Running>);

#[derive(Debug, Default)]
struct Running {
    count: AtomicUsize,
    /// Tasks waiting for the last generation to end.
    tasks: Notify,
    /// Threads waiting for the last generation to end.
    threads: ParkedThreads,
}

/// Held for as long as one generation runs.
#[derive(Debug)]
pub struct ActiveGeneration(Arc<Running>);

impl GenerationActivity {
    pub fn begin(&self) -> ActiveGeneration {
        self.0.count.fetch_add(1, Ordering::SeqCst);
        ActiveGeneration(self.0.clone())
    }

    pub fn is_generating(&self) -> bool {
        self.0.count.load(Ordering::SeqCst) > 0
    }

    /// Blocks this thread while a generation runs, until `stop` is cancelled. Says
    /// whether it waited.
    pub fn wait_blocking(&self, stop: &CancelToken) -> bool {
        // Joined before looking: an end or a cancel in between still wakes this thread.
        let _for_the_end = self.0.threads.join();
        let _for_the_stop = stop.parked_threads().join();
        let mut waited = false;
        while self.is_generating() && !stop.is_cancelled() {
            waited = true;
            std::thread::park();
        }
        waited
    }

    /// Waits while a generation runs, until `stop` is cancelled. Says whether it waited.
    pub async fn wait(&self, stop: &CancelToken) -> bool {
        let mut waited = false;
        loop {
            let ended = self.0.tasks.notified();
            tokio::pin!(ended);
            // Registered before looking, so an end in between still wakes this task.
            ended.as_mut().enable();
            if !self.is_generating() || stop.is_cancelled() {
                return waited;
            }
            waited = true;
            tokio::select! {
                () = ended => {}
                () = stop.cancelled() => {}
            }
        }
    }
}

impl Drop for ActiveGeneration {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.tasks.notify_waiters();
            self.0.threads.wake_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn indexing_waits_for_every_generation_to_end() {
        let activity = GenerationActivity::default();
        let never = CancelToken::new();
        assert!(!activity.wait_blocking(&never), "nothing runs: no wait");
        let first = activity.begin();
        let second = activity.begin();
        let waiter = {
            let activity = activity.clone();
            std::thread::spawn(move || activity.wait_blocking(&CancelToken::new()))
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
        let paused = CancelToken::new();
        paused.cancel();
        assert!(!activity.wait_blocking(&paused));
        // And a pause that comes while the thread waits wakes it.
        let pause = CancelToken::new();
        let waiter = {
            let (activity, pause) = (activity.clone(), pause.clone());
            std::thread::spawn(move || activity.wait_blocking(&pause))
        };
        std::thread::sleep(Duration::from_millis(60));
        assert!(!waiter.is_finished(), "the generation still runs");
        pause.cancel();
        assert!(waiter.join().unwrap_or(false));
    }

    #[tokio::test]
    async fn a_task_waits_for_the_end_or_the_pause() {
        let activity = GenerationActivity::default();
        let running = activity.begin();
        let waiter = {
            let activity = activity.clone();
            tokio::spawn(async move { activity.wait(&CancelToken::new()).await })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiter.is_finished(), "the generation still runs");
        drop(running);
        let waited = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(waited.expect("woken by the end").unwrap_or(false));

        let _running = activity.begin();
        let pause = CancelToken::new();
        let waiter = {
            let (activity, pause) = (activity.clone(), pause.clone());
            tokio::spawn(async move { activity.wait(&pause).await })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        pause.cancel();
        let waited = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(waited.expect("woken by the pause").unwrap_or(false));
    }
}
