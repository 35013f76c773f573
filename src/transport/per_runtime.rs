//! One value per tokio runtime, forgotten when that runtime shuts down.
//!
//! A `reqwest::Client`'s connections are driven by tasks of the runtime that
//! opened them. Shared by two runtimes, a connection opened by one can carry
//! the other's request; the first runtime ending then drops it mid-request,
//! possibly after Spotify processed it: a rotated refresh token is lost and
//! the login ends. So the default client is one per runtime ([`PerRuntime`]),
//! and each runtime's own connections serve only its own requests.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::runtime::{Handle, Id};

/// Values keyed by runtime. Few runtimes live at once, so a list does.
pub(crate) struct PerRuntime<T> {
    values: Mutex<Vec<(Id, T)>>,
}

impl<T: Clone + Send + 'static> PerRuntime<T> {
    pub(crate) const fn new() -> Self {
        Self {
            values: Mutex::new(Vec::new()),
        }
    }

    /// The value of the runtime `handle` belongs to, made by `make` on its
    /// first use there. A task parked on that runtime for its whole life
    /// holds a guard that forgets the value when the runtime shuts down
    /// (a runtime drops every task it holds then), so nothing is kept for
    /// runtimes that are gone.
    pub(crate) fn get_or_try_make<E>(
        &'static self,
        handle: &Handle,
        make: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let id = handle.id();
        if let Some(value) = self.find(id) {
            return Ok(value);
        }
        // Made outside the lock (building a client loads certificates);
        // two first calls racing both make one, the first kept wins.
        let made = make()?;
        {
            let mut values = self.lock();
            if let Some((_, value)) = values.iter().find(|(i, _)| *i == id) {
                return Ok(value.clone());
            }
            values.push((id, made.clone()));
        }
        let guard = Forget { of: self, id };
        // On a runtime already shutting down the task is dropped at once,
        // and the value forgotten with it: the next call makes another.
        drop(handle.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        }));
        Ok(made)
    }

    fn find(&self, id: Id) -> Option<T> {
        let values = self.lock();
        values
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| v.clone())
    }

    /// How many runtimes have a value now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(Id, T)>> {
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Forgets runtime `id`'s value when dropped.
struct Forget<T: 'static> {
    of: &'static PerRuntime<T>,
    id: Id,
}

impl<T> Drop for Forget<T> {
    fn drop(&mut self) {
        let removed = {
            let mut values = self
                .of
                .values
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            values
                .iter()
                .position(|(i, _)| *i == self.id)
                .map(|at| values.swap_remove(at))
        };
        // Dropped outside the lock: a client's pool may take a while.
        drop(removed);
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::PerRuntime;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn one_value_per_runtime_forgotten_when_the_runtime_ends() {
        static VALUES: PerRuntime<u32> = PerRuntime::new();
        static MADE: AtomicU32 = AtomicU32::new(0);
        let get = |rt: &tokio::runtime::Runtime| {
            VALUES
                .get_or_try_make(rt.handle(), || {
                    Ok::<_, Infallible>(MADE.fetch_add(1, Ordering::SeqCst))
                })
                .unwrap()
        };
        let (one, two) = (runtime(), runtime());
        let first = get(&one);
        assert_eq!(get(&one), first, "the same runtime, the same value");
        let second = get(&two);
        assert_ne!(second, first, "another runtime, another value");
        assert_eq!(MADE.load(Ordering::SeqCst), 2);
        assert_eq!(VALUES.len(), 2);
        drop(one);
        assert_eq!(VALUES.len(), 1, "the ended runtime's value is gone");
        assert_eq!(get(&two), second);
        drop(two);
        assert_eq!(VALUES.len(), 0);
    }

    #[test]
    fn a_failure_to_make_is_not_kept() {
        static VALUES: PerRuntime<u32> = PerRuntime::new();
        let rt = runtime();
        let failed = VALUES.get_or_try_make(rt.handle(), || Err("no roots"));
        assert_eq!(failed, Err("no roots"));
        assert_eq!(VALUES.len(), 0);
        let made = VALUES.get_or_try_make(rt.handle(), || Ok::<_, &str>(7));
        assert_eq!(made, Ok(7));
    }
}
