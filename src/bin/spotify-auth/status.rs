//! `spotify-auth status [--json]`: what the token cache says, read directly
//! (no network, no refresh). Never prints a token.
//!
//! "Logged in" means a token is stored and it can still be used without the
//! browser: its access token has not expired, or it has a refresh token.
//! (Spotify may still refuse a refresh token it revoked; only
//! `spotify-auth token` finds that out.)
//!
//! JSON keys: `logged_in` (bool), `scopes` (array of strings),
//! `expires_at` (Unix seconds or null), `expires_in_seconds` (negative once
//! expired, or null), `expired` (bool or null), `has_refresh_token` (bool),
//! `cache_path` (string), `cache_mode` (octal string such as `"0600"`, null
//! when the file does not exist or off Unix), `cache_error` (string or null).
//!
//! Exit 0 whether or not logged in (the report says which); exit 2 when the
//! cache file exists but cannot be read or parsed: the report is printed
//! with `cache_error` set, and the error goes to stderr.

use std::path::Path;

use serde_json::json;
use spotify_auth::{FileTokenCache, TokenCache, TokenInfo};

use crate::args::{GlobalArgs, StatusArgs};
use crate::clock;
use crate::exit::Failure;
use crate::settings;

/// What the cache holds, without its secrets.
struct Report {
    /// The cache file's path, for display.
    cache_path: String,
    /// The file's permission bits, when it exists (Unix).
    cache_mode: Option<u32>,
    /// The token's facts, when one is stored.
    token: Option<Facts>,
    /// Why the file could not be read, when it could not.
    cache_error: Option<String>,
}

/// The facts of a stored token (never the token).
struct Facts {
    /// The granted scopes.
    scopes: Vec<String>,
    /// When the access token expires, in Unix seconds.
    expires_at: u64,
    /// Seconds from now; negative once expired.
    expires_in: i64,
    /// Whether a refresh token is stored.
    has_refresh_token: bool,
}

impl Facts {
    /// The facts of `token` at Unix time `now`.
    fn of(token: &TokenInfo, now: u64) -> Self {
        Self {
            scopes: token
                .scope
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            expires_at: token.expires_at,
            expires_in: token.expires_at as i64 - now as i64,
            has_refresh_token: token.refresh_token.is_some(),
        }
    }

    /// Whether the access token has expired.
    fn expired(&self) -> bool {
        self.expires_in <= 0
    }
}

impl Report {
    /// Reads `cache` (no lock, no network); also returns the error that made
    /// it unreadable, if any.
    fn read(cache: &FileTokenCache) -> (Self, Option<spotify_auth::Error>) {
        let (token, error) = match cache.get() {
            Ok(token) => (token, None),
            Err(e) => (None, Some(e)),
        };
        let report = Report {
            cache_path: cache.path().display().to_string(),
            cache_mode: file_mode(cache.path()),
            token: token.map(|t| Facts::of(&t, clock::now_unix())),
            cache_error: error.as_ref().map(ToString::to_string),
        };
        (report, error)
    }

    /// A token is stored and usable without the browser (see the module
    /// documentation).
    fn logged_in(&self) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| t.has_refresh_token || !t.expired())
    }

    /// The `--json` report.
    fn to_json(&self) -> serde_json::Value {
        let t = self.token.as_ref();
        json!({
            "logged_in": self.logged_in(),
            "scopes": t.map(|t| t.scopes.clone()).unwrap_or_default(),
            "expires_at": t.map(|t| t.expires_at),
            "expires_in_seconds": t.map(|t| t.expires_in),
            "expired": t.map(Facts::expired),
            "has_refresh_token": t.is_some_and(|t| t.has_refresh_token),
            "cache_path": self.cache_path,
            "cache_mode": self.cache_mode.map(|m| format!("{m:04o}")),
            "cache_error": self.cache_error,
        })
    }

    /// The text report, one `Label:  value` line per fact.
    fn to_text(&self) -> String {
        let mut lines = Vec::new();
        let mut line = |label: &str, value: String| lines.push(format!("{label:<15}{value}"));
        match (&self.token, &self.cache_error) {
            (_, Some(_)) => line(
                "Logged in:",
                "unknown (the token cache cannot be read)".into(),
            ),
            (None, None) => line("Logged in:", "no (run `spotify-auth login`)".into()),
            (Some(t), None) => {
                let verdict = match (t.expired(), t.has_refresh_token) {
                    (false, _) => "yes",
                    (true, true) => "yes (the next `spotify-auth token` refreshes the token)",
                    (true, false) => "no: expired, and no refresh token (run `spotify-auth login`)",
                };
                line("Logged in:", verdict.into());
                let scopes = if t.scopes.is_empty() {
                    "(none)".to_owned()
                } else {
                    t.scopes.join(" ")
                };
                line("Scopes:", scopes);
                let verb = if t.expired() { "expired" } else { "expires" };
                line(
                    "Access token:",
                    format!(
                        "{verb} {} ({})",
                        clock::format_utc(t.expires_at),
                        clock::relative(t.expires_in)
                    ),
                );
                let refresh = if t.has_refresh_token {
                    "present"
                } else {
                    "none"
                };
                line("Refresh token:", refresh.into());
            }
        }
        let cache = match self.cache_mode {
            Some(mode) if mode & 0o077 != 0 => format!(
                "{} (mode {mode:04o}: readable by other users; run chmod 600 on it)",
                self.cache_path
            ),
            Some(mode) => format!("{} (mode {mode:04o})", self.cache_path),
            None if self.token.is_some() || self.cache_error.is_some() => self.cache_path.clone(),
            None => format!("{} (does not exist)", self.cache_path),
        };
        line("Cache:", cache);
        lines.join("\n")
    }
}

/// The permission bits of `path` (Unix), `None` when it does not exist.
fn file_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Runs `status`.
pub fn run(global: &GlobalArgs, args: &StatusArgs) -> Result<(), Failure> {
    let cache = settings::cache(global)?;
    let (report, error) = Report::read(&cache);
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.to_text());
    }
    match error {
        Some(e) => Err(Failure::from_error(&e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(token: Option<Facts>) -> Report {
        Report {
            cache_path: "/tmp/token.json".into(),
            cache_mode: Some(0o600),
            token,
            cache_error: None,
        }
    }

    fn facts(expires_in: i64, has_refresh_token: bool) -> Facts {
        Facts {
            scopes: vec!["a".into(), "b".into()],
            expires_at: (1_700_000_000 + expires_in) as u64,
            expires_in,
            has_refresh_token,
        }
    }

    #[test]
    fn logged_in_needs_a_usable_token() {
        assert!(!report(None).logged_in());
        assert!(report(Some(facts(60, false))).logged_in());
        assert!(report(Some(facts(-60, true))).logged_in());
        assert!(!report(Some(facts(-60, false))).logged_in());
    }

    #[test]
    fn json_has_the_documented_keys() {
        let v = report(Some(facts(-60, true))).to_json();
        assert_eq!(v["expired"], true);
        assert_eq!(v["expires_in_seconds"], -60);
        assert_eq!(v["cache_mode"], "0600");
        assert_eq!(v["scopes"], json!(["a", "b"]));
        let v = report(None).to_json();
        assert_eq!(v["logged_in"], false);
        assert!(v["expires_at"].is_null());
        assert_eq!(v["scopes"], json!([]));
    }
}
