//! [`InMemoryTokenCache`]: the default cache, a token in this process's memory.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{CacheLock, Entry, TokenCache};
use crate::{Result, TokenInfo};

/// How long [`InMemoryTokenCache`]'s `lock()` waits for another holder.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(180);

/// A token kept in memory only: lost when the process ends. The default cache.
///
/// Share one between several flows of a process with an `Arc` (each flow's
/// builder takes `token_cache(cache.clone())`): its refresh lock is real, so
/// the flows refresh once between them, and the others read the new token.
#[derive(Debug, Default)]
pub struct InMemoryTokenCache {
    entry: Mutex<Option<Entry>>,
    lock: Arc<RefreshLock>,
}

impl InMemoryTokenCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache that starts with `token`.
    pub fn with_token(token: TokenInfo) -> Self {
        Self {
            entry: Mutex::new(Some(Entry::Token(token))),
            ..Self::default()
        }
    }

    /// Forgets everything it holds, as a store that lost its data would (an
    /// evicted key, a restarted server): not a logout. For tests of what
    /// the library does then; [`clear`](TokenCache::clear) is the logout.
    pub fn lose_data(&self) {
        *self.slot() = None;
    }

    fn slot(&self) -> MutexGuard<'_, Option<Entry>> {
        // A panic elsewhere while holding this lock cannot leave a half-written
        // Option behind, so a poisoned lock is safe to use.
        self.entry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenCache for InMemoryTokenCache {
    fn read(&self) -> Result<Option<Entry>> {
        Ok(self.slot().clone())
    }

    /// Stores `entry`; the lock is not checked (one process: its holders
    /// are the flows sharing this instance, which write under it).
    fn write(&self, entry: &Entry, _lock: &CacheLock) -> Result<()> {
        *self.slot() = Some(entry.clone());
        Ok(())
    }

    /// Waits until no other holder has the lock (for at most 180 s, then an
    /// [`Error::Cache`](crate::Error::Cache)), then holds it until the
    /// returned guard is dropped (on any thread). Not reentrant: take it
    /// again while holding it (say, [`set`](TokenCache::set) inside a
    /// `lock()` of your own, where [`write`](TokenCache::write) with the
    /// guard is meant) and the wait runs out.
    fn lock(&self) -> Result<CacheLock> {
        if !self.lock.acquire(LOCK_WAIT) {
            return Err(crate::Error::Cache {
                path: None,
                message: format!(
                    "the in-memory cache's lock is still held after waiting {} s \
                     (a flow refreshing, or a lock() of your own not dropped yet)",
                    LOCK_WAIT.as_secs()
                ),
                source: None,
            });
        }
        Ok(CacheLock::new(Held(Arc::clone(&self.lock))))
    }

    /// Always: a mutex held for a clone, no I/O.
    fn never_blocks(&self) -> bool {
        true
    }

    /// The lock if it is free now; `None` while another flow holds it.
    fn try_lock(&self) -> Result<Option<CacheLock>> {
        Ok(self
            .lock
            .try_acquire()
            .then(|| CacheLock::new(Held(Arc::clone(&self.lock)))))
    }
}

/// The refresh lock: a flag and the condition its waiters sleep on. Unlike a
/// `MutexGuard`, the guard of this lock can be sent to and dropped on another
/// thread, as `CacheLock` requires.
#[derive(Debug, Default)]
struct RefreshLock {
    held: Mutex<bool>,
    released: Condvar,
}

impl RefreshLock {
    fn flag(&self) -> MutexGuard<'_, bool> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the lock, waiting at most `wait`; false when it is still held.
    fn acquire(&self, wait: std::time::Duration) -> bool {
        let deadline = crate::clock::Instant::now().checked_add(wait);
        let mut held = self.flag();
        while *held {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(crate::clock::Instant::now()),
                None => wait,
            };
            if left.is_zero() {
                return false;
            }
            held = self
                .released
                .wait_timeout(held, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *held = true;
        true
    }

    fn try_acquire(&self) -> bool {
        let mut held = self.flag();
        !std::mem::replace(&mut *held, true)
    }

    fn release(&self) {
        *self.flag() = false;
        self.released.notify_one();
    }
}

/// A held [`RefreshLock`], released when dropped.
struct Held(Arc<RefreshLock>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn the_lock_excludes_other_holders_until_dropped_on_any_thread() {
        let cache = Arc::new(InMemoryTokenCache::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (cache, inside, most) = (cache.clone(), inside.clone(), most.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        let guard = cache.lock().unwrap();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(200));
                        inside.fetch_sub(1, Ordering::SeqCst);
                        // Released on another thread, as the async flows do.
                        std::thread::spawn(move || drop(guard)).join().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1, "never two holders at once");
    }

    #[test]
    fn try_lock_takes_a_free_lock_and_never_waits() {
        let cache = InMemoryTokenCache::new();
        assert!(cache.never_blocks());
        let held = cache.try_lock().unwrap().expect("free");
        assert!(cache.try_lock().unwrap().is_none(), "held: no wait");
        drop(held);
        assert!(cache.try_lock().unwrap().is_some(), "free again");
    }

    #[test]
    fn read_and_write_do_not_need_the_lock() {
        let cache = InMemoryTokenCache::new();
        let _held = cache.lock().unwrap();
        assert_eq!(cache.read().unwrap(), None);
        let record = Entry::Ended(crate::LoginEnded::logout([]));
        cache.write(&record, &CacheLock::none()).unwrap();
        assert_eq!(cache.read().unwrap(), Some(record));
        assert_eq!(cache.get().unwrap(), None, "a record is no token");
    }

    #[test]
    fn clear_is_a_logout_record_and_losing_data_is_not() {
        let token = TokenInfo {
            access_token: crate::AccessToken::new("a"),
            expires_at: 1,
            refresh_token: Some(crate::RefreshToken::new("r")),
            scope: None,
            authorized_at: None,
        };
        let cache = InMemoryTokenCache::with_token(token.clone());
        cache.clear().unwrap();
        let record = cache.read().unwrap().and_then(|e| e.ended().cloned());
        assert!(record.unwrap().ends(token.refresh_token.as_ref().unwrap()));
        cache.set(&token).unwrap();
        cache.lose_data();
        assert_eq!(cache.read().unwrap(), None);
    }
}
