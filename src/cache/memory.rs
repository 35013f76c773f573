//! [`InMemoryTokenCache`]: the default cache, a token in this process's memory.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{CacheLock, TokenCache};
use crate::{Result, TokenInfo};

/// A token kept in memory only: lost when the process ends. The default cache.
///
/// Share one between several flows of a process with an `Arc` (each flow's
/// builder takes `token_cache(cache.clone())`): its refresh lock is real, so
/// the flows refresh once between them, and the others read the new token.
#[derive(Debug, Default)]
pub struct InMemoryTokenCache {
    token: Mutex<Option<TokenInfo>>,
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
            token: Mutex::new(Some(token)),
            ..Self::default()
        }
    }

    fn slot(&self) -> MutexGuard<'_, Option<TokenInfo>> {
        // A panic elsewhere while holding this lock cannot leave a half-written
        // Option behind, so a poisoned lock is safe to use.
        self.token.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenCache for InMemoryTokenCache {
    fn get(&self) -> Result<Option<TokenInfo>> {
        Ok(self.slot().clone())
    }

    fn set(&self, token: &TokenInfo) -> Result<()> {
        *self.slot() = Some(token.clone());
        Ok(())
    }

    fn clear(&self) -> Result<()> {
        *self.slot() = None;
        Ok(())
    }

    /// Waits until no other holder has the lock, then holds it until the
    /// returned guard is dropped (on any thread). Not reentrant.
    fn lock(&self) -> Result<CacheLock> {
        self.lock.acquire();
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

    fn acquire(&self) {
        let mut held = self.flag();
        while *held {
            held = self.released.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        *held = true;
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
    fn get_set_clear_do_not_need_the_lock() {
        let cache = InMemoryTokenCache::new();
        let _held = cache.lock().unwrap();
        assert_eq!(cache.get().unwrap(), None);
        cache.clear().unwrap();
    }
}
