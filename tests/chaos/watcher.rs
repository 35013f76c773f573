//! Assertion 3: a thread that reads the shared cache continuously while the
//! actors run, and checks every state it sees.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use spotify_auth::Entry;
use spotify_auth::testing::FakeSpotify;

use super::ledger::{self, Logout};

/// What a cache holds: the bytes, and (for a file) its permission bits.
type Stored = (Vec<u8>, Option<u32>);

/// Where the watcher reads the shared token.
pub enum Source {
    File(PathBuf),
    #[cfg(feature = "redis")]
    Redis(redis::Connection, String),
}

impl Source {
    /// The stored bytes and (for a file) its permission bits; `None` when
    /// there is no token.
    fn read(&mut self) -> Result<Option<Stored>, String> {
        match self {
            Source::File(path) => {
                let mut file = match std::fs::File::open(&*path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(format!("cannot open the token file: {e}")),
                };
                // The mode of the file actually read (a rename may replace
                // the path meanwhile).
                let mode = {
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::PermissionsExt;
                        let meta = file.metadata().map_err(|e| e.to_string())?;
                        Some(meta.permissions().mode() & 0o777)
                    }
                    #[cfg(not(unix))]
                    None
                };
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes)
                    .map_err(|e| format!("cannot read the token file: {e}"))?;
                Ok(Some((bytes, mode)))
            }
            #[cfg(feature = "redis")]
            Source::Redis(conn, key) => {
                let value: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(&*key)
                    .query(conn)
                    .map_err(|e| format!("cannot read the key: {e}"))?;
                Ok(value.map(|v| (v, None)))
            }
        }
    }
}

/// What the watcher saw.
#[derive(Debug, Default)]
pub struct Watched {
    pub reads: u64,
    pub missing: u64,
    pub changes: u64,
}

/// The watcher's memory between reads.
struct Watcher {
    source: Source,
    server: Arc<FakeSpotify>,
    ledger: ledger::Shared,
    /// Refresh token -> when it was issued (from the fake).
    issued: HashMap<String, Instant>,
    /// The refresh token last seen in the cache, and when it was read.
    last: Option<(String, Instant)>,
    watched: Watched,
    violations: usize,
    /// When it started (the actors start a moment later): for messages.
    started: Instant,
    /// When the read being judged began.
    now: Instant,
}

/// Watches until `stop` is set.
pub fn spawn(
    source: Source,
    server: Arc<FakeSpotify>,
    ledger: ledger::Shared,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Watched> {
    let mut watcher = Watcher {
        source,
        server,
        ledger,
        issued: HashMap::new(),
        last: None,
        watched: Watched::default(),
        violations: 0,
        started: Instant::now(),
        now: Instant::now(),
    };
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            watcher.look();
            std::thread::sleep(Duration::from_millis(2));
        }
        watcher.watched
    })
}

impl Watcher {
    fn look(&mut self) {
        let read_at = Instant::now();
        self.now = read_at;
        self.watched.reads += 1;
        let read = self.source.read();
        // A fault recorded after the read began may have struck before it
        // ended: the read is judged against what was recorded by its end.
        let read_done = Instant::now();
        let (bytes, mode) = match read {
            Ok(Some(found)) => found,
            Ok(None) => return self.missing(read_done),
            Err(e) => return self.violation(format!("the cache cannot be read: {e}")),
        };
        if let Some(mode) = mode
            && mode != 0o600
        {
            self.violation(format!("the token file has mode {mode:o}, not 600"));
        }
        let token = match Entry::from_json(&bytes) {
            Ok(Entry::Token(token)) => token,
            // A record that the login ended (a logout, a refusal): no token,
            // judged as such.
            Ok(_) => return self.missing(read_done),
            Err(e) => {
                return self.violation(format!(
                    "the cache holds something that is not a token ({} bytes): {e}",
                    bytes.len()
                ));
            }
        };
        let Some(refresh) = token.refresh_token.map(|r| r.into_secret()) else {
            return self.violation("the cache holds a token without a refresh token".to_owned());
        };
        if self.last.as_ref().is_some_and(|(last, _)| *last == refresh) {
            self.last = Some((refresh, read_at));
            return;
        }
        self.watched.changes += 1;
        let Some(issued_at) = self.issued_at(&refresh) else {
            return self.violation(format!(
                "the cache holds refresh token {} that the fake never issued",
                short(&refresh)
            ));
        };
        let logouts: Vec<Logout> = {
            let mut ledger = ledger::lock(&self.ledger);
            ledger.store_tokens.push((read_at, issued_at));
            ledger.logouts.clone()
        };
        let written_back = logouts
            .iter()
            .filter_map(|l| l.end)
            .any(|end| issued_at < end && end < read_at);
        if written_back {
            self.violation(format!(
                "after a logout the cache holds refresh token {}, issued before it",
                short(&refresh)
            ));
        }
        self.last = Some((refresh, read_at));
    }

    /// No token (nothing, or a record that the login ended): fine before
    /// anything was seen, after a logout or a data loss (a store fault)
    /// since the last token was seen, or when that token is dead (refused
    /// tokens are recorded as such; a token that was replaced meanwhile is
    /// dead too).
    fn missing(&mut self, read_done: Instant) {
        self.watched.missing += 1;
        let Some((last, seen_at)) = self.last.clone() else {
            return;
        };
        // Data losses and logouts are in the ledger before they are made.
        let explained = {
            let ledger = ledger::lock(&self.ledger);
            let logged_out = ledger
                .logouts
                .iter()
                .any(|l| l.end.is_none_or(|end| end > seen_at) && l.start < read_done);
            let lost = ledger
                .store_events
                .iter()
                .any(|e| e.loss && e.end >= seen_at && e.start <= read_done);
            logged_out || lost
        };
        if !explained && self.server.refresh_token_is_live(&last) {
            self.violation(format!(
                "the cache lost its token: none at all while refresh token {} last seen in it \
                 is live, and no logout since",
                short(&last)
            ));
        }
    }

    fn issued_at(&mut self, refresh: &str) -> Option<Instant> {
        if !self.issued.contains_key(refresh) {
            self.issued = self
                .server
                .issued_refresh_tokens()
                .into_iter()
                .map(|t| (t.token().to_owned(), t.issued_at()))
                .collect();
        }
        self.issued.get(refresh).copied()
    }

    fn violation(&mut self, what: String) {
        self.violations += 1;
        if self.violations <= 10 {
            let at = self.now.saturating_duration_since(self.started).as_millis();
            ledger::lock(&self.ledger)
                .violations
                .push(format!("assertion 3 (watcher): at {at}ms: {what}"));
        }
    }
}

/// Enough of a token to tell it apart in a message.
pub fn short(token: &str) -> String {
    token.chars().take(10).collect()
}
