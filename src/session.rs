//! The state of an authorization, without I/O: the token in memory (the hot
//! path), the single-flight bookkeeping of refreshes, the decisions a refresh
//! makes (with the token a failed write left unsaved), and the token
//! requests' forms. Both modes' `flow.rs` drive this.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwapOption;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::attempts::{AuthorizationAttempt, PendingAttempts};
use crate::authorize::{self, AuthorizationRequest};
use crate::config::{Config, Grant};
use crate::entry::{EndReason, Entry, Fingerprint};
use crate::lineage::Lineage;
use crate::observe;
pub(crate) use crate::reconcile::Base;
use crate::reconcile::{self, Held, Mine, Pending, Verdict};
use crate::token::{TokenResponse, unix_now, unix_now_ms};
use crate::{AccessToken, AuthCode, Error, PkceVerifier, RefreshToken, Result, Scopes, TokenInfo};

/// The lifetime assumed for access tokens until one is issued: Spotify's.
const DEFAULT_LIFETIME: u64 = 3600;

/// The shortest wait between two retries of a failed store write, in ms,
/// whatever the backoff hook says.
const MIN_WRITE_BACKOFF_MS: u64 = 10;

/// The longest wait between two retries of a failed cache write, in ms.
const MAX_WRITE_BACKOFF_MS: u64 = 60_000;

/// After a refresh ahead found the lock held by someone else (who is
/// refreshing), how long until the next one may look again, in ms.
const AHEAD_YIELD_MS: u64 = 500;

/// The longest wait between two refreshes ahead that failed, in ms.
const MAX_AHEAD_BACKOFF_MS: u64 = 30_000;

/// The shortest time a store recovering from a data loss, with no copy of
/// the login left, answers `StoreRecovering` before "log in again".
const MIN_RECOVERY_GRACE_MS: u64 = 60_000;

/// The login in memory, with the moment it must be refreshed: the access
/// token for the hot path, and the rest of the login, so that this instance
/// can write it back to a store that lost it.
struct Current {
    /// `Bearer {access_token}`, made once per token; the access token is
    /// its tail.
    header: String,
    /// When the access token expires, in Unix seconds.
    expires_at: u64,
    /// `expires_at - refresh_margin`, in Unix seconds.
    refresh_at: u64,
    refresh_token: Option<RefreshToken>,
    scope: Option<Box<str>>,
    authorized_at: Option<u64>,
    /// The refresh tokens this login descends from, as this instance saw
    /// them (see `lineage.rs`).
    from: Lineage,
    /// The store said this login may have ended elsewhere (a logout
    /// recorded by a sharer): hand nothing out before consulting it.
    recheck: bool,
}

const BEARER: &str = "Bearer ";

impl Current {
    fn access_token(&self) -> &str {
        &self.header[BEARER.len()..]
    }

    fn token(&self) -> TokenInfo {
        TokenInfo {
            access_token: AccessToken::new(self.access_token()),
            expires_at: self.expires_at,
            refresh_token: self.refresh_token.clone(),
            scope: self.scope.as_deref().map(str::to_owned),
            authorized_at: self.authorized_at,
        }
    }

    fn is(&self, token: &TokenInfo) -> bool {
        self.access_token() == token.access_token.secret()
            && self.expires_at == token.expires_at
            && self.refresh_token == token.refresh_token
    }
}

/// What one finished refresh left for the callers that waited on it.
#[derive(Default)]
pub(crate) struct RefreshSlot {
    last_error: Option<Error>,
}

/// What a caller needs from a refresh.
pub(crate) enum Need {
    /// A token valid beyond the refresh margin (`get_access_token`).
    Valid,
    /// A token other than this one, which the Web API rejected
    /// (`force_refresh`); `None` when the caller had none from this instance,
    /// so whatever is cached counts as rejected.
    Replace(Option<AccessToken>),
    /// Square memory with the store, and nothing more: adopt its token,
    /// make a write owed to it (`close()`, an instance's first call, the
    /// retrier of an owed write). Nothing is sent.
    Settle,
}

impl Need {
    /// Whether `token`, read from the cache, is what the caller wants to get
    /// rid of.
    fn rejects(&self, token: &TokenInfo) -> bool {
        match self {
            Need::Valid | Need::Settle => false,
            Need::Replace(None) => true,
            Need::Replace(Some(rejected)) => *rejected == token.access_token,
        }
    }

    /// Whether `access_token`, adopted by another caller while this one
    /// waited, answers this caller: any token does, but the rejected one.
    fn answered_by(&self, access_token: &str) -> bool {
        match self {
            Need::Valid | Need::Settle | Need::Replace(None) => true,
            Need::Replace(Some(rejected)) => rejected.secret() != access_token,
        }
    }
}

/// A write this instance owes the store, and how it has fared.
struct Owed {
    pending: Pending,
    /// Failed writes in a row.
    failures: u32,
    error: Error,
}

/// What the flow does once the store has been read under its lock.
pub(crate) enum Reconciled {
    /// Decide from this token (the store's, adopted), or from none; the
    /// bootstrap token may be sent when `bootstrap`.
    Decide {
        token: Option<TokenInfo>,
        bootstrap: bool,
        after: Option<EndReason>,
    },
    /// Write this over the store first (a write owed, or a repair), then
    /// decide from it. `pending`: it was an owed write; `from`: the refresh
    /// tokens a token descends from.
    Write {
        entry: Entry,
        from: Lineage,
        pending: bool,
    },
    /// The login ended here (a record in the store says so).
    Ended(EndReason),
    /// No login here for now: this error says why.
    Failed(Error),
}

/// What to do once the cache has been read under its lock.
pub(crate) enum Plan {
    /// This token is good: adopt it, no request.
    Use(TokenInfo),
    /// Refresh with this token; `previous` is what the response amends.
    Refresh {
        refresh_token: RefreshToken,
        previous: Option<TokenInfo>,
        bootstrap: bool,
    },
    /// Client Credentials: get a new app token.
    Fetch,
    /// The store still holds this refresh token, which Spotify refused
    /// before (recording it failed): do not send it again; record it,
    /// with when its login was authorized (if known).
    Refused {
        refresh_token: RefreshToken,
        login_at: Option<u64>,
    },
}

/// A token request: its form body and, for confidential clients, its
/// `Authorization` header. Never `Debug`: both hold secrets.
pub(crate) struct TokenRequest {
    /// Its `grant_type`, for the `token_request` span.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub grant: &'static str,
    pub body: String,
    pub authorization: Option<String>,
}

impl TokenRequest {
    /// The headers every token request carries.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ]
        .into_iter()
        .chain(self.authorization.as_deref().map(|a| ("Authorization", a)))
    }
}

/// Work running on after its caller (a refresh or exchange in a task of its
/// own, a refresh ahead): counted, so that `close()` can wait for it.
#[derive(Default)]
pub(crate) struct Busy(Arc<AtomicUsize>);

/// One piece of [`Busy`] work; it ends when this is dropped.
pub(crate) struct Working(Arc<AtomicUsize>);

impl Drop for Working {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Busy {
    pub fn start(&self) -> Working {
        self.0.fetch_add(1, Ordering::AcqRel);
        Working(Arc::clone(&self.0))
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// The I/O-free state of one `AuthorizationCode`.
pub(crate) struct Session {
    pub config: Config,
    /// Read lock-free on the hot path: a load writes nothing other callers
    /// read, so readers on several cores do not slow each other down.
    current: ArcSwapOption<Current>,
    bootstrap: Mutex<Option<RefreshToken>>,
    pending: PendingAttempts,
    /// Counts finished refreshes; read before waiting on the refresh lock to
    /// tell whether another caller refreshed meanwhile.
    epoch: AtomicU64,
    /// The write a failure left owed: a token held in memory only, or a
    /// logout not recorded yet. Boxed: almost always empty, and an
    /// instance per user should be small.
    owed: Mutex<Option<Box<Owed>>>,
    /// The refresh token Spotify refused last: never sent again by this
    /// instance, even if recording the refusal failed.
    last_refused: Mutex<Option<RefreshToken>>,
    /// When (Unix milliseconds) the owed write is retried next; 0 when
    /// nothing is owed.
    write_retry_at: AtomicU64,
    /// When (Unix ms) a refresh ahead may start next; `u64::MAX` while one
    /// runs.
    beside_at: AtomicU64,
    /// Refreshes ahead that failed in a row.
    beside_failures: AtomicU64,
    /// The lifetime, in seconds, of the latest access token issued to this
    /// instance: the refresh margin is clamped to half of it.
    lifetime: AtomicU64,
    /// Work running on after its caller.
    pub busy: Busy,
}

impl Session {
    pub fn new(mut config: Config) -> Self {
        let bootstrap = config.bootstrap_refresh_token.take();
        Self {
            config,
            current: ArcSwapOption::const_empty(),
            bootstrap: Mutex::new(bootstrap),
            pending: PendingAttempts::default(),
            epoch: AtomicU64::new(0),
            owed: Mutex::new(None),
            last_refused: Mutex::new(None),
            write_retry_at: AtomicU64::new(0),
            beside_at: AtomicU64::new(0),
            beside_failures: AtomicU64::new(0),
            lifetime: AtomicU64::new(DEFAULT_LIFETIME),
            busy: Busy::default(),
        }
    }

    /// The hot path: the access token in memory when it is valid for longer
    /// than the refresh margin. No I/O, no lock, one allocation (the
    /// returned string).
    #[inline]
    pub fn fresh_access_token(&self) -> Option<String> {
        self.fresh(|c| c.access_token().to_owned())
    }

    /// The hot path for the header: `Bearer {token}` under the same rules as
    /// [`fresh_access_token`](Self::fresh_access_token); one allocation.
    #[inline]
    pub fn fresh_authorization_header(&self) -> Option<String> {
        self.fresh(|c| c.header.clone())
    }

    #[inline]
    fn fresh(&self, read: impl FnOnce(&Current) -> String) -> Option<String> {
        let now = unix_now();
        match &*self.current.load() {
            Some(c) if now < c.refresh_at => Some(read(c)),
            _ => None,
        }
    }

    /// Off the hot path (inside the refresh margin), while the token in
    /// memory has not expired: the token (or header) to return at once, and
    /// whether this caller starts the refresh ahead beside the callers: true
    /// for one caller at a time. `None` once the token has expired (or there
    /// is none): callers wait.
    pub fn serve_while_valid(&self, header: bool) -> Option<(String, bool)> {
        let now_ms = unix_now_ms();
        let current = self.current.load();
        let c = current
            .as_ref()
            .filter(|c| now_ms / 1000 < c.expires_at && !c.recheck)?;
        let served = if header {
            c.header.clone()
        } else {
            c.access_token().to_owned()
        };
        let due = now_ms / 1000 >= c.refresh_at;
        Some((served, due && self.claim_beside(now_ms)))
    }

    /// Claims the work beside the callers, when none runs and its backoff
    /// is over.
    fn claim_beside(&self, now_ms: u64) -> bool {
        let at = self.beside_at.load(Ordering::Relaxed);
        now_ms >= at
            && self
                .beside_at
                .compare_exchange(at, u64::MAX, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// The refresh ahead ended: `Ok(true)` it did its job, `Ok(false)` it
    /// left the refresh to another holder of the lock, `Err` it failed
    /// (backing off before the next try: 1 s doubling to 30 s, through the
    /// builder's `backoff_hook`).
    pub fn beside_done(&self, outcome: std::result::Result<bool, ()>) {
        let wait_ms = match outcome {
            Ok(true) => {
                self.beside_failures.store(0, Ordering::Relaxed);
                0
            }
            Ok(false) => AHEAD_YIELD_MS,
            Err(()) => {
                let n = self.beside_failures.fetch_add(1, Ordering::Relaxed);
                (1000u64 << n.min(5)).min(MAX_AHEAD_BACKOFF_MS)
            }
        };
        let wait = self.config.actual_delay(Duration::from_millis(wait_ms));
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        let at = if wait_ms == 0 {
            0
        } else {
            unix_now_ms().saturating_add(wait_ms)
        };
        self.beside_at.store(at, Ordering::Release);
    }

    /// The access token in memory while it has not expired, even within the
    /// refresh margin: what a refresh that failed for a passing reason
    /// falls back to.
    fn unexpired_access_token(&self) -> Option<String> {
        match &*self.current.load() {
            Some(c) if unix_now() < c.expires_at => Some(c.access_token().to_owned()),
            _ => None,
        }
    }

    /// The outcome of a refresh for its callers: a refresh that failed for a
    /// passing reason (network, 5xx, 429, a store that is down) while the
    /// token in memory is still valid, if only within the refresh margin,
    /// yields that token; the next call tries to refresh again. Not for a
    /// forced refresh: its caller knows that token was rejected.
    pub fn outcome(&self, result: Result<String>, need: &Need) -> Result<String> {
        match (result, need) {
            (Err(e), Need::Valid) if crate::retry::is_transient(&e) || is_store_failure(&e) => {
                self.unexpired_access_token().ok_or(e)
            }
            (other, _) => other,
        }
    }

    /// What a forced refresh must replace: the token in memory now.
    pub fn replacing_current(&self) -> Need {
        Need::Replace(
            self.current
                .load()
                .as_ref()
                .map(|c| AccessToken::new(c.access_token())),
        )
    }

    /// Whether a token is in memory, whatever its age.
    pub fn has_token(&self) -> bool {
        self.current.load().is_some()
    }

    /// The refresh margin in use: the configured one, at most half the
    /// lifetime of the latest access token issued (a server issuing tokens
    /// shorter than the margin would otherwise cause a refresh on every call).
    pub fn margin(&self) -> Duration {
        let half_life = Duration::from_secs(self.lifetime.load(Ordering::Relaxed) / 2);
        self.config.refresh_margin.min(half_life)
    }

    /// Makes `token` the login in memory; `from` is the refresh tokens it
    /// descends from.
    pub fn adopt(&self, token: &TokenInfo, from: Lineage) {
        let refresh_at = token.expires_at.saturating_sub(self.margin().as_secs());
        let secret = token.access_token.secret();
        let mut header = String::with_capacity(BEARER.len() + secret.len());
        header.push_str(BEARER);
        header.push_str(secret);
        self.current.store(Some(Arc::new(Current {
            header,
            expires_at: token.expires_at,
            refresh_at,
            refresh_token: token.refresh_token.clone(),
            scope: token.scope.as_deref().map(Box::from),
            authorized_at: token.authorized_at,
            from,
            recheck: false,
        })));
    }

    /// A sharer recorded the end of the login elsewhere (the store's watch
    /// said so): the token in memory is not handed out again before the
    /// store is consulted (the next call waits for that read). The login
    /// itself is kept, for the store to decide: a logout ends it; a token
    /// there is adopted.
    pub fn recheck(&self) {
        let Some(c) = &*self.current.load() else {
            return;
        };
        observe::debug!(
            flow,
            "the store reports the login ended elsewhere: the next call consults it"
        );
        self.current.store(Some(Arc::new(Current {
            header: c.header.clone(),
            expires_at: c.expires_at,
            refresh_at: 0,
            refresh_token: c.refresh_token.clone(),
            scope: c.scope.clone(),
            authorized_at: c.authorized_at,
            from: c.from.clone(),
            recheck: true,
        })));
    }

    /// The error for a call that finds no login in a store recovering from
    /// a data loss since `since_ms` (every copy written back refused): a
    /// passing one while an instance holding the live login may still
    /// write it back (one access-token lifetime, as each holder consults
    /// the store at least that often while used, and at least
    /// `MIN_RECOVERY_GRACE_MS`, for a holder paused meanwhile), then "log
    /// in again".
    pub fn recovering_error(&self, since_ms: u64) -> Error {
        let grace_ms = self
            .lifetime
            .load(Ordering::Relaxed)
            .saturating_mul(1000)
            .max(MIN_RECOVERY_GRACE_MS);
        if unix_now_ms().saturating_sub(since_ms) >= grace_ms {
            return ended_error(Some(EndReason::Refused));
        }
        observe::debug!(
            flow,
            "the store lost its data and the copies written back so far were refused: waiting for the live login"
        );
        Error::StoreRecovering { since_ms }
    }

    /// Forgets the token in memory.
    pub fn forget(&self) {
        self.current.store(None);
    }

    /// The login in memory, whole.
    fn held(&self) -> Option<Held> {
        self.current.load().as_ref().map(|c| Held {
            token: c.token(),
            from: c.from.clone(),
        })
    }

    /// A token response arrived: its lifetime clamps the margin from now on.
    fn issued(&self, response: &TokenResponse) {
        self.lifetime
            .store(response.expires_in.max(1), Ordering::Relaxed);
    }

    /// The token a refresh response makes, adopted before anything else
    /// (an incomplete answer too: its access token as expired, its rotated
    /// refresh token kept; the caller reports [`TokenResponse::problem`]).
    pub fn refreshed(
        &self,
        response: &TokenResponse,
        used: &RefreshToken,
        previous: Option<&TokenInfo>,
    ) -> (TokenInfo, Lineage) {
        self.issued(response);
        let token = response.to_refreshed(used, previous);
        let lineage = Lineage::after(Fingerprint::of(used), &self.lineage());
        if self.scope_check(&token).is_ok() {
            self.adopt(&token, lineage.clone());
        } else {
            self.forget();
        }
        observe::adopted("refresh", &token, Some(used));
        (token, lineage)
    }

    /// The lineage of the login in memory.
    pub fn lineage(&self) -> Lineage {
        self.current
            .load()
            .as_ref()
            .map(|c| c.from.clone())
            .unwrap_or_default()
    }

    /// The lineage of `token`, adopted from the store over the login in
    /// memory: a token with another refresh token replaced the one held
    /// here (or started a new login, which a refusal of the old one need
    /// not end either).
    fn lineage_of_adopted(&self, token: &TokenInfo) -> Lineage {
        let current = self.current.load();
        let Some(c) = current.as_ref() else {
            return Lineage::none();
        };
        match &c.refresh_token {
            Some(held) if token.refresh_token.as_ref() != Some(held) => {
                Lineage::after(Fingerprint::of(held), &c.from)
            }
            _ => c.from.clone(),
        }
    }

    /// The app token a Client Credentials response makes, adopted.
    pub fn fetched(&self, response: &TokenResponse) -> TokenInfo {
        self.issued(response);
        let token = response.to_token();
        self.adopt(&token, Lineage::none());
        observe::adopted("client_credentials", &token, None);
        token
    }

    /// Logged out, or the login ended by a record in the store: nothing in
    /// memory, no bootstrap token, no owed write.
    pub fn logged_out(&self) {
        self.forget();
        *lock(&self.bootstrap) = None;
        self.drop_owed();
    }

    /// The refresh tokens this instance knows, for a logout record to name:
    /// the one in memory, the owed one, the bootstrap one.
    pub fn known_refresh_tokens(&self) -> Vec<Fingerprint> {
        let mut known = Vec::new();
        if let Some(c) = &*self.current.load() {
            known.extend(c.refresh_token.iter().map(Fingerprint::of));
        }
        if let Some(owed) = lock(&self.owed).as_ref()
            && let Entry::Token(t) = &owed.pending.entry
        {
            known.extend(t.refresh_token.iter().map(Fingerprint::of));
        }
        known.extend(lock(&self.bootstrap).iter().map(Fingerprint::of));
        known
    }

    /// Squares what the store holds (read under its lock) with what this
    /// instance holds (see `reconcile.rs`), and updates memory: an owed
    /// write the store moved past is dropped; a token adopted from the
    /// store is in memory; a login a record ended is forgotten.
    pub fn reconcile(&self, stored: Option<&Entry>) -> Reconciled {
        let held = self.held();
        let mut owed = lock(&self.owed);
        let bootstrap = lock(&self.bootstrap).clone();
        let refused = lock(&self.last_refused).clone();
        let verdict = reconcile::reconcile(
            stored,
            Mine {
                held: held.as_ref(),
                pending: owed.as_ref().map(|o| &o.pending),
                bootstrap: bootstrap.as_ref(),
                refused: refused.as_ref(),
            },
        );
        if owed.is_some() && !matches!(verdict, Verdict::Write { pending: true, .. }) {
            observe::debug!(
                flow,
                "dropped the write held in memory only: the store moved on since it was issued"
            );
            *owed = None;
            self.write_retry_at.store(0, Ordering::Relaxed);
        }
        drop(owed);
        match verdict {
            Verdict::Adopt(token) => {
                let same = self.current.load().as_ref().is_some_and(|c| c.is(&token));
                observe::from_cache(&token, || same);
                if self.scope_check(&token).is_err() {
                    // Never handed out: `plan` says why.
                    self.forget();
                } else if !same {
                    self.adopt(&token, self.lineage_of_adopted(&token));
                }
                Reconciled::Decide {
                    token: Some(token),
                    bootstrap: false,
                    after: None,
                }
            }
            Verdict::Write {
                entry,
                from,
                pending,
            } => {
                if let Some(t) = entry.token()
                    && !self.current.load().as_ref().is_some_and(|c| c.is(t))
                {
                    self.adopt(t, from.clone());
                }
                if !pending {
                    observe::warn!(
                        flow,
                        "the store had lost the login (no entry): writing it back from memory"
                    );
                }
                Reconciled::Write {
                    entry,
                    from,
                    pending,
                }
            }
            Verdict::Empty { bootstrap, after } => {
                if !bootstrap {
                    // A bootstrap token a record named, or refused here.
                    *lock(&self.bootstrap) = None;
                }
                Reconciled::Decide {
                    token: None,
                    bootstrap,
                    after,
                }
            }
            Verdict::Recovering {
                bootstrap,
                since_ms,
            } => {
                if bootstrap {
                    return Reconciled::Decide {
                        token: None,
                        bootstrap,
                        after: None,
                    };
                }
                *lock(&self.bootstrap) = None;
                Reconciled::Failed(self.recovering_error(since_ms))
            }
            Verdict::Ended(reason) => {
                observe::warn!(
                    flow,
                    reason = observe::end_reason(reason),
                    "the store records that the login ended (a logout, or a refusal by Spotify): it ends here too; nothing is sent"
                );
                self.logged_out();
                Reconciled::Ended(reason)
            }
        }
    }

    /// The owed write is stored now.
    pub fn stored(&self) {
        let was = lock(&self.owed).take();
        self.write_retry_at.store(0, Ordering::Relaxed);
        if let Some(was) = was {
            observe::debug!(
                flow,
                failures = was.failures,
                "stored the write held in memory only until now"
            );
        }
    }

    /// Writing `entry` failed: owe it, to write later while the store holds
    /// `base`. The retry is due at once; further failures back off (1 s,
    /// 2 s, 4 s, ... up to a minute, through the builder's `backoff_hook`).
    pub fn store_failed(&self, entry: &Entry, base: Base, from: Lineage, error: Error) {
        let mut owed = lock(&self.owed);
        let again = owed.as_ref().filter(|o| o.pending.entry == *entry);
        let failures = again.map_or(1, |o| o.failures.saturating_add(1));
        let planned_ms = match failures {
            1 => 0,
            n => (1000u64 << (n - 2).min(6)).min(MAX_WRITE_BACKOFF_MS),
        };
        // Through the builder's backoff hook (tests shorten it), never
        // shorter than a few ms: a store that keeps failing is not hammered.
        let backoff = self.config.actual_delay(Duration::from_millis(planned_ms));
        let backoff_ms =
            u64::try_from(backoff.as_millis())
                .unwrap_or(u64::MAX)
                .max(if planned_ms == 0 {
                    0
                } else {
                    MIN_WRITE_BACKOFF_MS
                });
        let pending = match owed.take() {
            // Retrying the same write: what it was issued against stays.
            Some(o) if o.pending.entry == *entry => o.pending,
            _ => Pending {
                entry: entry.clone(),
                base,
                from,
                issued_ms: unix_now_ms(),
            },
        };
        observe::warn!(
            flow,
            failures,
            retry_in_ms = backoff_ms,
            error = observe::err(&error),
            "held in memory only: writing to the token store failed; the write is retried beside the callers"
        );
        *owed = Some(Box::new(Owed {
            pending,
            failures,
            error,
        }));
        self.write_retry_at.store(
            unix_now_ms().saturating_add(backoff_ms).max(1),
            Ordering::Relaxed,
        );
    }

    /// The last failure of an owed write.
    pub fn unsaved_error(&self) -> Option<Error> {
        lock(&self.owed).as_ref().map(|o| o.error.clone())
    }

    /// Whether a write is owed.
    pub fn owes_write(&self) -> bool {
        lock(&self.owed).is_some()
    }

    /// When the owed write's next retry is due (Unix ms; 0: none).
    pub fn owed_retry_at(&self) -> u64 {
        self.write_retry_at.load(Ordering::Relaxed)
    }

    /// A retry of the owed write failed before the write itself was tried
    /// (the store's lock or read failed): counted and backed off as a
    /// failed write.
    pub fn owed_attempt_failed(&self, error: Error) {
        let owed = lock(&self.owed)
            .as_ref()
            .map(|o| (o.pending.entry.clone(), o.pending.from.clone()));
        if let Some((entry, from)) = owed {
            // The same entry: its base and issue time are kept.
            self.store_failed(&entry, Base::Unknown, from, error);
        }
    }

    /// How long until the owed write is due for a retry; `None` when
    /// nothing is owed.
    pub fn owed_retry_in(&self) -> Option<Duration> {
        let at = self.write_retry_at.load(Ordering::Relaxed);
        (at != 0 && self.owes_write())
            .then(|| Duration::from_millis(at.saturating_sub(unix_now_ms())))
    }

    fn drop_owed(&self) {
        *lock(&self.owed) = None;
        self.write_retry_at.store(0, Ordering::Relaxed);
    }

    /// Read before waiting for the refresh lock.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// After the refresh lock is taken: when another caller finished a refresh
    /// while this one waited, its outcome (the fresh token, or its error).
    pub fn settled_while_waiting(
        &self,
        seen: u64,
        slot: &RefreshSlot,
        need: &Need,
    ) -> Option<Result<String>> {
        if self.epoch() == seen {
            return None;
        }
        let replaced = self
            .current
            .load()
            .as_ref()
            .is_some_and(|c| need.answered_by(c.access_token()));
        if replaced && let Some(token) = self.fresh_access_token() {
            return Some(Ok(token));
        }
        slot.last_error.clone().map(|e| self.outcome(Err(e), need))
    }

    /// Records the outcome of a refresh, under the refresh lock.
    pub fn finish(&self, slot: &mut RefreshSlot, error: Option<&Error>) {
        slot.last_error = error.cloned();
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// Decides, from the token the store holds (after
    /// [`reconcile`](Self::reconcile)), whether a refresh is needed. The
    /// refresh token is the store's (or ours, written back), else the
    /// bootstrap one when `bootstrap` allows it.
    pub fn plan(
        &self,
        decided: Option<TokenInfo>,
        need: &Need,
        bootstrap: bool,
        after: Option<EndReason>,
    ) -> Result<Plan> {
        if let Some(token) = &decided {
            self.scope_check(token)?;
        }
        if let Some(token) = &decided
            && token.is_valid_for(self.margin())
            && !need.rejects(token)
        {
            return Ok(Plan::Use(token.clone()));
        }
        if self.config.grant == Grant::ClientCredentials {
            return Ok(Plan::Fetch);
        }
        if let Some(refresh_token) = decided.as_ref().and_then(|t| t.refresh_token.clone()) {
            if lock(&self.last_refused).as_ref() == Some(&refresh_token) {
                return Ok(Plan::Refused {
                    refresh_token,
                    login_at: decided.as_ref().and_then(|t| t.authorized_at),
                });
            }
            return Ok(Plan::Refresh {
                refresh_token,
                previous: decided,
                bootstrap: false,
            });
        }
        let boot = if bootstrap {
            lock(&self.bootstrap).clone()
        } else {
            None
        };
        if let Some(refresh_token) = boot {
            return Ok(Plan::Refresh {
                refresh_token,
                previous: decided,
                bootstrap: true,
            });
        }
        match decided {
            // Within the margin but not expired, and nothing to refresh with.
            Some(token) if !token.is_expired() && !need.rejects(&token) => Ok(Plan::Use(token)),
            _ => Err(ended_error(after)),
        }
    }

    /// Whether `token` was granted every scope the app asks for: a token
    /// whose scopes are unknown (an old file, the Python library's, an app
    /// token) passes; one that lacks some is
    /// [`Error::MissingScopes`](crate::Error::MissingScopes).
    pub fn scope_check(&self, token: &TokenInfo) -> Result<()> {
        let (Some(granted), Grant::AuthorizationCode) = (&token.scope, self.config.grant) else {
            return Ok(());
        };
        if self.config.scope.is_empty() {
            return Ok(());
        }
        let missing = self
            .config
            .scope
            .missing_from(&Scopes::from(granted.as_str()));
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::MissingScopes { missing })
        }
    }

    /// After Spotify refused `refused`: forget it everywhere in memory.
    pub fn refused(&self, refused: &RefreshToken, bootstrap: bool) {
        if bootstrap || lock(&self.bootstrap).as_ref() == Some(refused) {
            *lock(&self.bootstrap) = None;
        }
        *lock(&self.last_refused) = Some(refused.clone());
        let mut owed = lock(&self.owed);
        if owed.as_ref().is_some_and(|o| {
            matches!(&o.pending.entry, Entry::Token(t) if t.refresh_token.as_ref() == Some(refused))
        }) {
            *owed = None;
            self.write_retry_at.store(0, Ordering::Relaxed);
        }
        drop(owed);
        self.forget();
    }

    /// The authorization URL, sending Spotify back to `redirect_uri` (the
    /// configured one, or the one a callback server is bound to); for PKCE
    /// clients, a new verifier is made and remembered for this state.
    pub fn authorization_url(
        &self,
        state: Option<&str>,
        scope: Option<&Scopes>,
        show_dialog: bool,
        redirect_uri: &str,
    ) -> Result<String> {
        let challenge = if self.config.pkce {
            let verifier = authorize::generate_verifier()?;
            let challenge = crate::pkce_challenge(verifier.secret());
            self.pending.insert(state, verifier);
            Some(challenge)
        } else {
            None
        };
        Ok(AuthorizationRequest {
            endpoint: &self.config.authorize_url,
            client_id: &self.config.client_id,
            redirect_uri,
            scope: scope.unwrap_or(&self.config.scope),
            state,
            show_dialog,
            code_challenge: challenge.as_deref(),
        }
        .url())
    }

    /// A new authorization attempt for the application to keep (the
    /// stateless flow): a fresh random state and, for PKCE clients, a fresh
    /// verifier; nothing is remembered here.
    pub fn authorization_attempt(
        &self,
        state: Option<String>,
        scope: Option<&Scopes>,
        show_dialog: bool,
        redirect_uri: &str,
    ) -> Result<AuthorizationAttempt> {
        let state = match state {
            Some(s) => s,
            None => authorize::generate_state()?,
        };
        let verifier = if self.config.pkce {
            Some(authorize::generate_verifier()?)
        } else {
            None
        };
        let challenge = verifier.as_ref().map(|v| crate::pkce_challenge(v.secret()));
        let url = AuthorizationRequest {
            endpoint: &self.config.authorize_url,
            client_id: &self.config.client_id,
            redirect_uri,
            scope: scope.unwrap_or(&self.config.scope),
            state: Some(&state),
            show_dialog,
            code_challenge: challenge.as_deref(),
        }
        .url();
        Ok(AuthorizationAttempt {
            url,
            state,
            pkce_verifier: verifier,
        })
    }

    /// Parses a callback and ties its code to its attempt's PKCE verifier.
    pub fn parse_response_url(&self, url: &str, expected_state: Option<&str>) -> Result<AuthCode> {
        let callback = authorize::parse_callback(url, expected_state)?;
        if self.config.pkce {
            self.pending
                .bind_code(callback.state.as_deref(), &callback.code);
        }
        Ok(callback.code)
    }

    /// The verifier for a code, when the client uses PKCE: it stays with its
    /// attempt until [`settle_attempt`](Self::settle_attempt).
    pub fn verifier_for_code(&self, code: &AuthCode) -> Result<Option<PkceVerifier>> {
        if !self.config.pkce {
            return Ok(None);
        }
        self.pending.verifier_for_code(code).map(Some)
    }

    /// After an exchange of `code`: its attempt is over unless the failure
    /// was a passing one (then the same code can be tried again).
    pub fn settle_attempt(&self, code: &AuthCode, result: &Result<TokenInfo>) {
        let passing = matches!(result, Err(e) if crate::retry::is_transient(e));
        if self.config.pkce && !passing {
            self.pending.settle(code);
        }
    }

    /// The verifier given to the stateless exchange: required for PKCE
    /// clients.
    pub fn given_verifier<'v>(
        &self,
        verifier: Option<&'v PkceVerifier>,
    ) -> Result<Option<&'v PkceVerifier>> {
        match verifier {
            None if self.config.pkce => Err(Error::config(
                "pkce_verifier",
                "this client uses PKCE: pass the verifier of the authorization attempt \
                 (AuthorizationAttempt::pkce_verifier) to the exchange",
            )),
            v => Ok(v),
        }
    }

    /// The form exchanging `code`, with `redirect_uri` exactly as sent in
    /// the authorization request the code answers.
    pub fn exchange_request(
        &self,
        code: &AuthCode,
        verifier: Option<&PkceVerifier>,
        redirect_uri: &str,
    ) -> TokenRequest {
        let mut params = vec![
            ("grant_type", "authorization_code"),
            ("code", code.secret()),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(v) = verifier {
            params.push(("code_verifier", v.secret()));
        }
        self.token_request("authorization_code", params)
    }

    /// The form refreshing with `refresh_token`.
    pub fn refresh_request(&self, refresh_token: &RefreshToken) -> TokenRequest {
        self.token_request(
            "refresh_token",
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.secret()),
            ],
        )
    }

    /// The form asking for an app token (Client Credentials).
    pub fn client_credentials_request(&self) -> TokenRequest {
        self.token_request(
            "client_credentials",
            vec![("grant_type", "client_credentials")],
        )
    }

    /// Confidential clients authenticate with HTTP Basic; public clients name
    /// themselves with `client_id` in the body.
    fn token_request<'a>(
        &'a self,
        grant: &'static str,
        mut params: Vec<(&'a str, &'a str)>,
    ) -> TokenRequest {
        let authorization = match &self.config.client_secret {
            Some(secret) => Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", self.config.client_id, secret.secret()))
            )),
            None => {
                params.push(("client_id", self.config.client_id.as_str()));
                None
            }
        };
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        TokenRequest {
            grant,
            body,
            authorization,
        }
    }

    /// The token an authorization-code response makes (it must carry a
    /// refresh token), adopted before anything else (an incomplete answer
    /// carrying a refresh token too, its access token as expired; the
    /// caller reports [`TokenResponse::problem`]).
    pub fn exchanged(&self, response: &TokenResponse) -> Result<TokenInfo> {
        if response.refresh_token.is_none() {
            return Err(response.problem().unwrap_or_else(|| {
                Error::invalid_response("the authorization code response carries no refresh_token")
            }));
        }
        self.issued(response);
        let token = response.to_authorized();
        self.adopt(&token, Lineage::none());
        observe::adopted("exchange", &token, None);
        Ok(token)
    }
}

/// The error for "no login here", after what ended the last one.
pub(crate) fn ended_error(after: Option<EndReason>) -> Error {
    match after {
        Some(EndReason::Refused) => Error::ReauthorizationRequired { description: None },
        _ => Error::NotAuthorized,
    }
}

/// Whether an error is the token store failing (down, a lock not taken in
/// time): a passing failure for a caller whose token is still valid.
pub(crate) fn is_store_failure(e: &Error) -> bool {
    matches!(e, Error::Cache { .. })
}

/// Whether a failed refresh means the refresh token is dead.
pub(crate) fn is_invalid_grant(e: &Error) -> bool {
    matches!(e, Error::TokenEndpoint { error: Some(code), .. } if code == "invalid_grant")
}

/// The error a dead refresh token becomes.
pub(crate) fn reauthorization_required(e: Error) -> Error {
    match e {
        Error::TokenEndpoint { description, .. } => Error::ReauthorizationRequired { description },
        other => other,
    }
}

/// A mutex that a panic elsewhere cannot poison for good: every value kept
/// behind these is whole at every step.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
