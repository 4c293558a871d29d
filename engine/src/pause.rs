//! Pausing indexing, in cancellation tokens. A run takes the pause token in force
//! when it starts and stops when that token is cancelled; a pause cancels it, and
//! a resume puts a fresh one in its place for later runs. A run that saw the pause
//! stops even if the resume comes before it notices: it has committed its work and
//! the next run carries on. What waits for the resume (the watcher, holding back
//! changes) waits on a second token that the resume cancels.

use std::sync::{Mutex, MutexGuard};

use crate::cancel::CancelToken;

#[derive(Debug, Default)]
pub(crate) struct IndexingPause(Mutex<Tokens>);

#[derive(Debug, Default)]
struct Tokens {
    /// Cancelled by a pause.
    pause: CancelToken,
    /// Cancelled by the resume that ends the pause.
    resume: CancelToken,
}

impl IndexingPause {
    pub fn pause(&self) {
        self.lock().pause.cancel();
    }

    pub fn resume(&self) {
        let mut tokens = self.lock();
        if tokens.pause.is_cancelled() {
            tokens.pause = CancelToken::new();
            std::mem::take(&mut tokens.resume).cancel();
        }
    }

    pub fn is_paused(&self) -> bool {
        self.lock().pause.is_cancelled()
    }

    /// What a run starting now stops on.
    pub fn token(&self) -> CancelToken {
        self.lock().pause.clone()
    }

    /// While indexing is paused, a token the resume cancels; None while it is not.
    pub fn resumed(&self) -> Option<CancelToken> {
        let tokens = self.lock();
        tokens.pause.is_cancelled().then(|| tokens.resume.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Tokens> {
        // Two tokens swapped whole: nothing is half written if a holder panicked.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_stops_on_the_pause_it_started_with_and_the_next_run_goes_on() {
        let pause = IndexingPause::default();
        let run = pause.token();
        assert!(!pause.is_paused() && pause.resumed().is_none());
        pause.pause();
        assert!(run.is_cancelled() && pause.is_paused());
        let resumed = pause.resumed().expect("paused");
        assert!(!resumed.is_cancelled());
        pause.resume();
        assert!(resumed.is_cancelled(), "the resume wakes what waited for it");
        assert!(run.is_cancelled(), "the paused run still stops");
        assert!(!pause.token().is_cancelled() && !pause.is_paused());
        pause.resume();
        assert!(!pause.token().is_cancelled(), "resuming twice changes nothing");
    }
}
