//! The coordinator: logs in (at the start, after a logout, and when an actor
//! reports that the login ended while the cache holds no live refresh
//! token) and logs out on schedule. One thread, so that logins and logouts
//! never overlap.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spotify_auth::testing::FakeSpotify;
use spotify_auth::{CacheLock, Entry, Error, TokenCache, TokenInfo};

use super::auth::{Auth, Expected, expected};
use super::double_exchange;
use super::ledger::{self, Login, Logout};
use super::plan::Double;
use super::{ID, SCOPE};

/// What the harness tells the coordinator.
pub enum Command {
    /// An actor saw its login end.
    Relogin,
    /// Chaos over: no more logouts; keep a login in the cache.
    Settle,
    Stop,
}

pub struct Coordinator {
    pub server: Arc<FakeSpotify>,
    /// A handle on the shared cache of its own (never faulty).
    pub cache: Arc<dyn TokenCache>,
    /// Its own instance on that cache, for exchanges and logouts.
    pub auth: Auth,
    pub ledger: ledger::Shared,
    /// Whether the n-th login is an exchange (cycled).
    pub exchange_logins: Vec<bool>,
    /// How the n-th exchange login exchanges its code (cycled).
    pub doubles: Vec<Double>,
    /// Logouts, after `start`.
    pub logouts: Vec<Duration>,
    pub lineages: usize,
    pub exchanges: usize,
}

impl Coordinator {
    /// Logs in unless the cache holds a live refresh token (checked under
    /// the cache's lock).
    pub fn ensure_login(&mut self) {
        for attempt in 0..30 {
            {
                let guard = match self.cache.lock() {
                    Ok(guard) => guard,
                    Err(e) => {
                        self.unexpected(format!("cannot lock the cache: {e}"));
                        return;
                    }
                };
                let cached = match self.cache.get() {
                    Ok(cached) => cached,
                    Err(e) => {
                        self.unexpected(format!("cannot read the cache: {e}"));
                        return;
                    }
                };
                let live = cached
                    .and_then(|t| t.refresh_token)
                    .is_some_and(|r| self.server.refresh_token_is_live(r.secret()));
                if live {
                    return;
                }
                let exchange = self.exchange_logins[self.lineages % self.exchange_logins.len()];
                if !exchange {
                    if self.mint_login(&guard) {
                        return;
                    }
                    // A store fault took the lock (deleted, or a FLUSHALL)
                    // before the write: the next attempt is a new lineage.
                    drop(guard);
                    std::thread::sleep(Duration::from_millis(5 * attempt));
                    continue;
                }
            }
            // The library takes the lock itself to store what it exchanged.
            if self.exchange_login() {
                return;
            }
            // A fault ate it: the next attempt is a new lineage.
            std::thread::sleep(Duration::from_millis(5 * attempt));
        }
        self.unexpected("no login in 30 attempts".to_owned());
    }

    fn next_lineage(&mut self) -> String {
        let lineage = format!("login-{}", self.lineages);
        self.lineages += 1;
        self.server.sign_in_as(&lineage);
        lineage
    }

    /// A refresh token minted by the fake, written with an expired access
    /// token (so the next caller refreshes); the cache's lock is held.
    /// False when the write was refused because a store fault took the
    /// lock meanwhile (nothing was written: no login was made).
    fn mint_login(&mut self, guard: &CacheLock) -> bool {
        let lineage = self.next_lineage();
        let refresh = self.server.issue_refresh_token(ID, SCOPE);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let token = TokenInfo::new(format!("expired-{lineage}"), now - 1)
            .with_refresh_token(refresh.clone())
            .with_scope(SCOPE)
            .with_authorized_at(now);
        let error = self
            .cache
            .write(&Entry::Token(token), guard)
            .err()
            .map(|e| e.to_string());
        let lost = error
            .as_ref()
            .is_some_and(|e| e.contains("held by this instance was lost"));
        match &error {
            // Never written: the token reached no one, and is no login.
            Some(_) if lost => {
                self.server.revoke_refresh_token(&refresh);
            }
            Some(e) => self.unexpected(format!("cannot write a minted login: {e}")),
            None => {}
        }
        ledger::lock(&self.ledger).logins.push(Login {
            lineage,
            at: Instant::now(),
            how: "minted",
            error,
        });
        !lost
    }

    /// A real login through the library (its code sometimes exchanged
    /// twice at once and again moments later); false when a fault made it
    /// fail.
    fn exchange_login(&mut self) -> bool {
        let lineage = self.next_lineage();
        let double = self.doubles[self.exchanges % self.doubles.len()];
        self.exchanges += 1;
        let pause = Duration::from_millis(5 + 10 * (self.exchanges as u64 % 5));
        let exchange = double_exchange::login(&self.auth, double, pause);
        let error = exchange
            .result
            .as_ref()
            .err()
            .map(|e| format!("{e} ({e:?})"));
        {
            let mut ledger = ledger::lock(&self.ledger);
            if double != Double::Once {
                ledger.doubled_exchanges += 1;
            }
            ledger.logins.push(Login {
                lineage,
                at: Instant::now(),
                how: "exchange",
                error: error.clone(),
            });
            for d in exchange.disagreements {
                ledger
                    .violations
                    .push(format!("one code, one exchange ({double:?}): {d}"));
            }
        }
        match exchange.result {
            Ok(_) => true,
            Err(e) if expected(&e, false) == Expected::Transient => false,
            // A truncated body can fail the parse, which is not retried.
            Err(Error::InvalidTokenResponse { .. }) => false,
            // The code was sent again after a passing failure, and refused:
            // the first request had been processed.
            Err(_) if exchange.retried => false,
            Err(e) => {
                self.unexpected(format!("a login by exchange failed: {e} ({e:?})"));
                false
            }
        }
    }

    fn logout(&mut self) {
        let start = Instant::now();
        let index = {
            let mut ledger = ledger::lock(&self.ledger);
            ledger.logouts.push(Logout { start, end: None });
            ledger.logouts.len() - 1
        };
        let result = self.auth.logout();
        ledger::lock(&self.ledger).logouts[index].end = Some(Instant::now());
        if let Err(e) = result {
            self.unexpected(format!("logout failed: {e} ({e:?})"));
        }
    }

    fn unexpected(&self, what: String) {
        ledger::lock(&self.ledger)
            .unexpected
            .push(format!("coordinator: {what}"));
    }

    /// Runs until [`Command::Stop`]: logouts on schedule (from `start`),
    /// logins on request, and, once settling, a login kept in the cache.
    pub fn spawn(mut self, commands: Receiver<Command>, start: Instant) -> JoinHandle<()> {
        std::thread::spawn(move || {
            let mut logouts = std::mem::take(&mut self.logouts);
            logouts.sort();
            let mut logouts = logouts.into_iter().peekable();
            let mut settling = false;
            loop {
                if !settling
                    && logouts
                        .next_if(|at| start + *at <= Instant::now())
                        .is_some()
                {
                    self.logout();
                    // Let the actors see the logout before the next login.
                    std::thread::sleep(Duration::from_millis(50));
                    self.ensure_login();
                }
                match commands.recv_timeout(Duration::from_millis(20)) {
                    Ok(Command::Relogin) => {
                        // Many actors ask at once: one look is enough.
                        let mut stop = false;
                        while let Ok(command) = commands.try_recv() {
                            match command {
                                Command::Relogin => {}
                                Command::Settle => settling = true,
                                Command::Stop => stop = true,
                            }
                        }
                        if stop {
                            return;
                        }
                        self.ensure_login();
                    }
                    Ok(Command::Settle) => settling = true,
                    Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                    Err(RecvTimeoutError::Timeout) if settling => self.ensure_login(),
                    Err(RecvTimeoutError::Timeout) => {}
                }
            }
        })
    }
}
