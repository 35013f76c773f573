//! Work that runs to its end whatever happens to its caller (a refresh, an
//! exchange, a logout: see `detached` in the modes), and who is still
//! there: a caller that goes away while the work runs on, and work that
//! finishes with no caller left, are reported. Empty without the feature.

#[cfg(feature = "tracing")]
use std::sync::Arc;
#[cfg(feature = "tracing")]
use std::sync::atomic::{AtomicU8, Ordering};

/// The caller's side: dropped before the work finished, it reports that the
/// caller went away.
pub(crate) struct Caller {
    #[cfg(feature = "tracing")]
    watch: Arc<Watch>,
}

/// The work's side of [`Caller`]: [`finished`](Task::finished) reports the
/// work ending with no caller left to take its result.
pub(crate) struct Task {
    #[cfg(feature = "tracing")]
    watch: Arc<Watch>,
}

/// The two sides of `work` ("refresh", "exchange", "logout").
#[inline(always)]
pub(crate) fn detach(work: &'static str) -> (Caller, Task) {
    #[cfg(feature = "tracing")]
    {
        let watch = Arc::new(Watch::new(work));
        (
            Caller {
                watch: watch.clone(),
            },
            Task { watch },
        )
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = work;
        (Caller {}, Task {})
    }
}

impl Task {
    /// The work is over (`ok`: it succeeded).
    #[inline(always)]
    pub(crate) fn finished(&self, ok: bool) {
        #[cfg(feature = "tracing")]
        self.watch.finished(ok);
        #[cfg(not(feature = "tracing"))]
        let _ = ok;
    }
}

#[cfg(feature = "tracing")]
impl Drop for Caller {
    fn drop(&mut self) {
        self.watch.caller_left();
    }
}

#[cfg(feature = "tracing")]
const RUNNING: u8 = 0;
#[cfg(feature = "tracing")]
const FINISHED: u8 = 1;
#[cfg(feature = "tracing")]
const ABANDONED: u8 = 2;

/// Who is still there: the caller, the work, or both.
#[cfg(feature = "tracing")]
struct Watch {
    work: &'static str,
    state: AtomicU8,
}

#[cfg(feature = "tracing")]
impl Watch {
    fn new(work: &'static str) -> Self {
        Watch {
            work,
            state: AtomicU8::new(RUNNING),
        }
    }

    fn caller_left(&self) {
        let left =
            self.state
                .compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire);
        if left.is_ok() {
            super::debug!(
                flow,
                work = self.work,
                "the caller went away; its work runs on to its end"
            );
        }
    }

    fn finished(&self, ok: bool) {
        if self.state.swap(FINISHED, Ordering::AcqRel) == ABANDONED {
            super::debug!(
                flow,
                work = self.work,
                ok,
                "work finished with no caller left (its outcome is kept for the next caller)"
            );
        }
    }
}
