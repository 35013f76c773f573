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
    /// tokens in failure messages, and to tell the known library issue
    /// (see `verdict`) from others.
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
