//! `CHAOS_TRACE=dir`: every cache operation of every actor, and every call
//! that failed, one line each, in `dir/{process}.log` (Unix ms, actor,
//! what). For triage: a violation's history says which tokens were sent
//! and written; this says what each instance read before it acted.

use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use spotify_auth::Entry;

use super::clock::unix_ms;
use super::watcher::short;

fn sink() -> Option<&'static Mutex<File>> {
    static SINK: OnceLock<Option<Mutex<File>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let dir = std::env::var_os("CHAOS_TRACE")?;
        let name = format!("{}.log", std::process::id());
        File::create(std::path::Path::new(&dir).join(name))
            .ok()
            .map(Mutex::new)
    })
    .as_ref()
}

/// Whether tracing is on.
pub fn on() -> bool {
    sink().is_some()
}

/// Writes one line: now, `actor`, `what`.
pub fn line(actor: &str, what: std::fmt::Arguments<'_>) {
    if let Some(sink) = sink() {
        let mut file = sink.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(file, "{} {actor} {what}", unix_ms());
    }
}

/// An entry, in a few words (never a whole token).
pub fn entry(entry: Option<&Entry>) -> String {
    let refresh = |t: &spotify_auth::TokenInfo| {
        t.refresh_token
            .as_ref()
            .map_or("-".to_owned(), |r| short(r.secret()))
    };
    match entry {
        None => "nothing".to_owned(),
        Some(Entry::Token(t)) => format!("token {}", refresh(t)),
        Some(Entry::Ended(r)) => format!("ended {:?} at {}", r.reason(), r.at_ms()),
        Some(Entry::Recovering(r)) => format!(
            "recovering since {} copy {}",
            r.since_ms(),
            r.token().map_or("-".to_owned(), refresh)
        ),
        Some(_) => "other".to_owned(),
    }
}
