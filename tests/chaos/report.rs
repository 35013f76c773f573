//! What actors tell the harness: through a channel in this process, as
//! `CHAOS {json}` lines on a child's stdout.

use std::sync::mpsc::Sender;

use serde::{Deserialize, Serialize};

/// The prefix of a report line on a child's stdout.
pub const PREFIX: &str = "CHAOS ";

/// One thing an actor (or a child) tells the harness.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Report {
    /// A child built its actors and waits for `go`.
    Ready { process: usize },
    /// The login ended for this actor (`why`: the error): log in again if the
    /// cache holds no live refresh token.
    Relogin { actor: String, why: String },
    /// The cache's `set` of a token carrying `refresh`: for the history of
    /// tokens in failure messages.
    Write {
        actor: String,
        refresh: String,
        /// `None` when it worked.
        error: Option<String>,
    },
    /// A `get` or `clear` failed after `refresh` was read under the same
    /// lock: the library could not check, or remove, a refused token.
    RemovalFailed {
        actor: String,
        refresh: String,
        error: String,
    },
    /// An instance read `refresh` from the store for the first time.
    Read {
        actor: String,
        refresh: String,
        at_ms: u64,
    },
    /// A call that started at `start_ms` was told the login ended
    /// (`ReauthorizationRequired`, `NotAuthorized`).
    Ended {
        actor: String,
        start_ms: u64,
        end_ms: u64,
        error: String,
    },
    /// A call failed because the store's lock lapsed under it.
    LapseError {
        actor: String,
        start_ms: u64,
        end_ms: u64,
        error: String,
    },
    /// An instance's threads handed `token` out in calls that started from
    /// `first_ms` to `last_ms`; the instance knew it from `known_ms` (read
    /// or written through its cache, or returned by a call).
    Served {
        actor: String,
        token: String,
        first_ms: u64,
        last_ms: u64,
        known_ms: u64,
    },
    /// An instance read a logout record from the store (the first time it
    /// read that record).
    LogoutSeen { actor: String, at_ms: u64 },
    /// A `get_access_token` failed while the actor's cache was down on
    /// purpose; `last_token`: the access token the instance held (the one
    /// it read or wrote last).
    DownError {
        actor: String,
        start_ms: u64,
        end_ms: u64,
        last_token: Option<String>,
        /// The refresh token of `last_token`.
        last_refresh: Option<String>,
        error: String,
    },
    /// An async instance was closed (then its runtime dropped): what
    /// `close()` returned, and how long it took.
    Closed {
        actor: String,
        result: Result<(), String>,
        waited_ms: u64,
    },
    /// A thread's call in the last round.
    Final {
        round: u32,
        thread: String,
        result: Result<String, String>,
    },
    /// A call returned an error outside the expected kinds, or a thread
    /// panicked.
    Unexpected { actor: String, what: String },
    /// An actor's counts, when it is done.
    Stats { actor: String, stats: Stats },
}

/// What an actor's calls came to.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stats {
    pub calls: u64,
    pub ok: u64,
    pub forced: u64,
    pub cancelled: u64,
    pub reauthorization_required: u64,
    pub not_authorized: u64,
    pub transient: u64,
    pub cache_errors: u64,
    pub unsaved_seen: u64,
    /// Calls made while the actor's cache was down, and those that failed.
    pub down_calls: u64,
    pub down_errors: u64,
    /// Instances closed and rebuilt.
    pub rebuilt: u64,
    /// Calls that failed because the store's lock lapsed.
    pub lapse_errors: u64,
}

impl Stats {
    pub fn add(&mut self, other: &Stats) {
        self.calls += other.calls;
        self.ok += other.ok;
        self.forced += other.forced;
        self.cancelled += other.cancelled;
        self.reauthorization_required += other.reauthorization_required;
        self.not_authorized += other.not_authorized;
        self.transient += other.transient;
        self.cache_errors += other.cache_errors;
        self.unsaved_seen += other.unsaved_seen;
        self.down_calls += other.down_calls;
        self.down_errors += other.down_errors;
        self.rebuilt += other.rebuilt;
        self.lapse_errors += other.lapse_errors;
    }
}

/// Where reports go.
#[derive(Clone)]
pub enum Reporter {
    /// To the harness in this process.
    Channel(Sender<Report>),
    /// To the parent, as lines on stdout.
    Stdout,
}

impl Reporter {
    pub fn send(&self, report: Report) {
        match self {
            // The harness may have given up (a failure): nothing to do then.
            Reporter::Channel(tx) => {
                let _ = tx.send(report);
            }
            Reporter::Stdout => println!("{PREFIX}{}", serde_json::to_string(&report).unwrap()),
        }
    }
}

/// The report on a child's stdout line, if it is one.
pub fn parse_line(line: &str) -> Option<Report> {
    // The test harness may have started the line ("test child ... ").
    let json = &line[line.find(PREFIX)? + PREFIX.len()..];
    Some(
        serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("a child's report does not parse ({e}): {line}")),
    )
}
