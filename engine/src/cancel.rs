//! One way to ask work to stop: a [`CancelToken`], cancelled once by whoever wants
//! the work to stop (a closed window, Ctrl-C, the user pausing indexing, the app
//! quitting) and watched by the work. Loops that run anyway (llama.cpp's token
//! loop, an indexing worker between files) check [`CancelToken::is_cancelled`];
//! work that waits wakes when the token is cancelled, never by looking again later:
//! tasks through [`CancelToken::cancelled`], threads through
//! [`CancelToken::wait_blocking`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, Thread, ThreadId};

use tokio::sync::Notify;

/// A request to stop, shared by clones. Once cancelled it stays cancelled.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    /// Tasks awaiting [`CancelToken::cancelled`].
    tasks: Notify,
    /// Threads blocked in a wait that this token ends.
    threads: ParkedThreads,
}

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Asks the work to stop, and wakes whatever waits on this token.
    pub fn cancel(&self) {
        if !self.0.cancelled.swap(true, Ordering::SeqCst) {
            self.0.tasks.notify_waiters();
            self.0.threads.wake_all();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Returns once the token is cancelled (at once if it is already).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.0.tasks.notified();
            tokio::pin!(notified);
            // Registered before looking, so a cancel in between still wakes it.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// Blocks this thread until the token is cancelled; for threads outside the async runtime.
    pub fn wait_blocking(&self) {
        let _parked = self.0.threads.join();
        while !self.is_cancelled() {
            thread::park();
        }
    }

    /// Threads to wake when the token is cancelled, for waits that also end otherwise
    /// (crate::activity).
    pub(crate) fn parked_threads(&self) -> &ParkedThreads {
        &self.0.threads
    }
}

/// Threads that wait, each parked (`std::thread::park`), until something they wait
/// for happens. A thread joins before it looks at what it waits for, and parks after:
/// a wake in between leaves its park token set, so no wake is lost. Parking can also
/// end spuriously, so a waiter looks again each time it wakes.
#[derive(Debug, Default)]
pub(crate) struct ParkedThreads(Mutex<Vec<Thread>>);

impl ParkedThreads {
    /// Adds the current thread until the returned guard drops.
    pub(crate) fn join(&self) -> Parked<'_> {
        let me = thread::current();
        let id = me.id();
        self.lock().push(me);
        Parked { threads: self, id }
    }

    pub(crate) fn wake_all(&self) {
        for thread in self.lock().iter() {
            thread.unpark();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Thread>> {
        // The list stays whole whatever panicked while it was held.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The current thread's place among [`ParkedThreads`].
pub(crate) struct Parked<'a> {
    threads: &'a ParkedThreads,
    id: ThreadId,
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        let mut threads = self.threads.lock();
        if let Some(at) = threads.iter().position(|t| t.id() == self.id) {
            threads.swap_remove(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_cancel_wakes_a_blocked_thread() {
        let token = CancelToken::new();
        let waiter = {
            let token = token.clone();
            thread::spawn(move || token.wait_blocking())
        };
        thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "nothing cancelled yet");
        token.cancel();
        waiter.join().unwrap();
        assert!(token.is_cancelled());
        assert!(
            token.parked_threads().lock().is_empty(),
            "the waiter left the list"
        );
        // Cancelled stays cancelled: a later wait returns at once.
        token.wait_blocking();
    }

    #[tokio::test]
    async fn a_cancel_wakes_every_task_waiting() {
        let token = CancelToken::new();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let token = token.clone();
                tokio::spawn(async move { token.cancelled().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(waiters.iter().all(|w| !w.is_finished()));
        token.cancel();
        for waiter in waiters {
            tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .expect("woken")
                .unwrap();
        }
        token.cancelled().await;
    }
}
