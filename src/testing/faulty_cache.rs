//! [`FaultyCache`]: a [`TokenCache`] wrapper that fails on demand, for tests
//! of what the library does when storage breaks.

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::cache::{CacheLock, Entry, TokenCache};
use crate::{Error, Result};

/// One operation of [`TokenCache`], as [`FaultyCache`] counts and fails them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheOp {
    /// [`TokenCache::read`].
    Read,
    /// [`TokenCache::write`] of a token ([`Entry::Token`]).
    WriteToken,
    /// [`TokenCache::write`] of a record that a login ended
    /// ([`Entry::Ended`]: a logout, a refusal).
    WriteRecord,
    /// [`TokenCache::lock`], [`try_lock`](TokenCache::try_lock),
    /// [`confirm_lock`](TokenCache::confirm_lock) and
    /// [`can_write_after_lapse`](TokenCache::can_write_after_lapse).
    Lock,
}

impl CacheOp {
    /// Every operation, in declaration order.
    pub const ALL: [CacheOp; 4] = [
        CacheOp::Read,
        CacheOp::WriteToken,
        CacheOp::WriteRecord,
        CacheOp::Lock,
    ];

    /// The operation's name: `read`, `write_token`, `write_record`, `lock`.
    pub fn name(self) -> &'static str {
        match self {
            CacheOp::Read => "read",
            CacheOp::WriteToken => "write_token",
            CacheOp::WriteRecord => "write_record",
            CacheOp::Lock => "lock",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for CacheOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`FaultyCache`] knows about one operation.
#[derive(Clone, Copy, Debug, Default)]
struct OpState {
    calls: usize,
    failures: usize,
    fail_next: usize,
    fail_always: bool,
}

/// A [`TokenCache`] that passes every call through to `C`, except the ones
/// it was told to fail.
///
/// A failed call does not reach `C` and returns an [`Error::Cache`] whose
/// message says the failure was injected. Every call is counted, per
/// operation, failed ones included. Thread-safe: share it behind an `Arc`
/// (an `Arc<FaultyCache<C>>` is itself a cache) and keep a handle to steer
/// it while the library uses it.
///
/// ```
/// use std::sync::Arc;
/// use spotify_auth::testing::{CacheOp, FaultyCache};
/// use spotify_auth::{Error, InMemoryTokenCache, TokenCache};
///
/// let cache = Arc::new(FaultyCache::new(InMemoryTokenCache::new()));
/// cache.fail_next(CacheOp::Read, 1);
/// assert!(matches!(cache.get(), Err(Error::Cache { .. })));
/// assert!(cache.get()?.is_none()); // the next one passes through
///
/// // `clear` (a logout) writes a record.
/// cache.fail_always(CacheOp::WriteRecord);
/// assert!(cache.clear().is_err());
/// assert!(cache.clear().is_err());
/// cache.heal(CacheOp::WriteRecord);
/// cache.clear()?;
/// assert_eq!(cache.calls(CacheOp::WriteRecord), 3);
/// assert_eq!(cache.failures(CacheOp::WriteRecord), 2);
/// # Ok::<(), Error>(())
/// ```
pub struct FaultyCache<C> {
    ops: Mutex<[OpState; CacheOp::ALL.len()]>,
    inner: C,
}

impl<C: TokenCache> FaultyCache<C> {
    /// Wraps `inner`; nothing fails until told to.
    pub fn new(inner: C) -> Self {
        Self {
            ops: Mutex::new([OpState::default(); CacheOp::ALL.len()]),
            inner,
        }
    }

    /// The wrapped cache (calls on it are neither counted nor failed).
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// Unwraps the cache.
    pub fn into_inner(self) -> C {
        self.inner
    }

    /// Fails the next `times` calls of `op` (added to any already pending).
    pub fn fail_next(&self, op: CacheOp, times: usize) {
        let mut ops = self.ops();
        let state = &mut ops[op.index()];
        state.fail_next = state.fail_next.saturating_add(times);
    }

    /// Fails every call of `op` until [`heal`](Self::heal)ed.
    pub fn fail_always(&self, op: CacheOp) {
        self.ops()[op.index()].fail_always = true;
    }

    /// Stops failing `op`: forgets [`fail_always`](Self::fail_always) and any
    /// pending [`fail_next`](Self::fail_next). Counts are kept.
    pub fn heal(&self, op: CacheOp) {
        let mut ops = self.ops();
        let state = &mut ops[op.index()];
        state.fail_always = false;
        state.fail_next = 0;
    }

    /// [`heal`](Self::heal)s every operation.
    pub fn heal_all(&self) {
        for op in CacheOp::ALL {
            self.heal(op);
        }
    }

    /// How many times `op` was called, failed calls included.
    pub fn calls(&self, op: CacheOp) -> usize {
        self.ops()[op.index()].calls
    }

    /// How many calls of `op` failed on purpose.
    pub fn failures(&self, op: CacheOp) -> usize {
        self.ops()[op.index()].failures
    }

    /// Counts a call of `op` and decides whether it fails.
    fn enter(&self, op: CacheOp) -> Result<()> {
        let mut ops = self.ops();
        let state = &mut ops[op.index()];
        state.calls += 1;
        let fail = if state.fail_always {
            true
        } else if state.fail_next > 0 {
            state.fail_next -= 1;
            true
        } else {
            false
        };
        if !fail {
            return Ok(());
        }
        state.failures += 1;
        Err(Error::Cache {
            path: None,
            message: format!("injected failure of {op} (testing::FaultyCache)"),
            source: None,
        })
    }

    /// Runs `call` on the inner cache unless `op` is to fail.
    fn pass<T>(&self, op: CacheOp, call: impl FnOnce(&C) -> Result<T>) -> Result<T> {
        self.enter(op)?;
        call(&self.inner)
    }

    fn ops(&self) -> MutexGuard<'_, [OpState; CacheOp::ALL.len()]> {
        // Counters only: a panic elsewhere cannot leave them inconsistent.
        self.ops.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// Every method of the trait is forwarded, each under its own `CacheOp`: a
// method added to `TokenCache` gets a variant and a line here, so that it
// is counted and can fail, and never silently falls back to its default.
impl<C: TokenCache> TokenCache for FaultyCache<C> {
    fn read(&self) -> Result<Option<Entry>> {
        self.pass(CacheOp::Read, C::read)
    }

    fn write(&self, entry: &Entry, lock: &CacheLock) -> Result<()> {
        let op = match entry {
            Entry::Ended(_) => CacheOp::WriteRecord,
            _ => CacheOp::WriteToken,
        };
        self.pass(op, |inner| inner.write(entry, lock))
    }

    fn lock(&self) -> Result<CacheLock> {
        self.pass(CacheOp::Lock, C::lock)
    }

    /// Counted and failed as a `Lock`.
    fn try_lock(&self) -> Result<Option<CacheLock>> {
        self.pass(CacheOp::Lock, C::try_lock)
    }

    /// Counted and failed as a `Lock`.
    fn confirm_lock(&self, lock: &CacheLock) -> Result<bool> {
        self.pass(CacheOp::Lock, |inner| inner.confirm_lock(lock))
    }

    /// Counted and failed as a `Lock`.
    fn can_write_after_lapse(&self, lock: &CacheLock) -> Result<bool> {
        self.pass(CacheOp::Lock, |inner| inner.can_write_after_lapse(lock))
    }

    /// Forwarded, not counted: only a browser store (wasm32, where this
    /// fake does not exist) has one.
    fn lock_async(&self, wait: bool) -> Option<crate::cache::LockFuture> {
        self.inner.lock_async(wait)
    }

    fn watch_ended(&self, listener: crate::cache::EndedListener) {
        self.inner.watch_ended(listener)
    }

    fn never_blocks(&self) -> bool {
        self.inner.never_blocks()
    }
}

impl<C> fmt::Debug for FaultyCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The inner cache may hold a token: show its type, not its contents.
        let ops = *self.ops.lock().unwrap_or_else(PoisonError::into_inner);
        let mut debug = f.debug_struct("FaultyCache");
        debug.field("inner", &std::any::type_name::<C>());
        for op in CacheOp::ALL {
            debug.field(op.name(), &ops[op.index()]);
        }
        debug.finish()
    }
}

impl<C: TokenCache + Default> Default for FaultyCache<C> {
    fn default() -> Self {
        Self::new(C::default())
    }
}
