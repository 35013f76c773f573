//! `spotify-auth status [--json]`: the profile, and what its store says,
//! read directly (no network, no refresh). Never prints a token or secret.
//!
//! "Logged in" means a token is stored and it can still be used without the
//! browser: its access token has not expired, or it has a refresh token and
//! the login has not ended (Spotify's refresh tokens expire six months after
//! the user authorized; see `login_expiry.rs`). Spotify may still refuse a
//! refresh token it revoked; only `spotify-auth token` finds that out.
//!
//! With a refresh token the report says when the login ends ("expires in 170
//! days"), warns when that is under 14 days away (run `spotify-auth login`
//! again), says "expired" once it has passed, and "expiry unknown" for a
//! token file that does not record when the user logged in (written by the
//! Python library, an older version, or `login --with-refresh-token`).
//!
//! The last line, `Stored in:`, says where the login is kept: `keychain
//! (service spotify-auth, user NAME)`, or `file PATH` and its mode; for a
//! login in the profile's default token file (no keychain when it was
//! stored, or stored by a version without the keychain) it also says why
//! it is not in the keychain (`no keychain available: ...`), or that a new
//! `login` would keep it there.
//!
//! JSON keys: `profile` (name), `profile_saved` (bool), `profile_path`
//! (string or null), `client_id` (string or null), `client_type`
//! (`"public"`, `"confidential"`, or null when the profile is not saved),
//! `store` (`{"type": "file" or "keychain", "path": the token file or null,
//! "mode": "0600" or null, "service" and "user": the keychain item's or
//! null, "keychain_unavailable": why a login kept in the profile's default
//! token file is not in the keychain, or null}`),
//! `logged_in` (bool), `scopes` (array of strings), `expires_at` (Unix
//! seconds or null), `expires_in_seconds` (negative once expired, or null),
//! `expired` (bool or null), `has_refresh_token` (bool), `cache_path`
//! (string: the token file, as `store.path`), `cache_mode` (octal string such
//! as `"0600"`, null when the file does not exist or off Unix),
//! `cache_error` (string or null); for the six-month login: `authorized_at`
//! and `login_expires_at` (Unix seconds, or null when no token or unknown),
//! `login_expires_in_seconds` (negative once ended, or null),
//! `login_expired` (bool or null), and `login_expires_soon` (bool: a refresh
//! token is stored and its login ends within 14 days or has ended, so run
//! `spotify-auth login` again; false when unknown).
//!
//! Exit 0 whether or not logged in (the report says which); exit 2 for an
//! unknown or malformed profile, and when the store exists but cannot be
//! read or parsed: the report is then printed with `cache_error` set, and
//! the error goes to stderr.

use serde_json::json;
use spotify_auth::TokenInfo;

use crate::args::{GlobalArgs, StatusArgs};
use crate::clock;
use crate::exit::Failure;
use crate::login_expiry::LoginExpiry;
use crate::settings::{self, Need, Setup};
use crate::store::{self, Store};

/// The profile's part of the report.
struct ProfileFacts {
    /// The profile's name.
    name: String,
    /// Its settings file, when it was saved.
    saved_path: Option<String>,
    /// The client id in use (flag, environment or profile).
    client_id: Option<String>,
    /// `public` or `confidential`, when the profile was saved.
    client_type: Option<&'static str>,
    /// Where the client secret comes from: `set` (the environment), `kept
    /// in the keychain`, or `not set` (never its value).
    secret: &'static str,
}

impl ProfileFacts {
    /// The facts of `setup`'s profile.
    fn of(setup: &Setup, global: &GlobalArgs) -> Self {
        Self {
            name: setup.name.to_string(),
            saved_path: setup
                .saved
                .as_ref()
                .and(setup.profile_path.as_ref())
                .map(|p| p.display().to_string()),
            client_id: setup.client_id_or_none(global),
            client_type: setup.saved.as_ref().map(|p| p.client_type.as_str()),
            secret: if settings::secret_given() {
                "set"
            } else if setup.keychain_secret(global).is_some() {
                "kept in the keychain"
            } else {
                "not set"
            },
        }
    }

    /// The report's `Profile:` and `Client id:` lines.
    fn lines(&self) -> [(&'static str, String); 2] {
        let profile = match &self.saved_path {
            Some(path) => format!("{} (saved in {path})", self.name),
            None => format!(
                "{} (not saved: settings come from flags and the environment; \
                 `spotify-auth login` saves them)",
                self.name
            ),
        };
        let id = self.client_id.as_deref().unwrap_or("(none)");
        let client = match self.client_type {
            Some("confidential") if self.secret == "kept in the keychain" => {
                format!("{id} (confidential: its client secret is kept in the keychain)")
            }
            Some("confidential") => format!(
                "{id} (confidential: refreshing needs SPOTIFY_SDK_CLIENT_SECRET, which is {})",
                self.secret
            ),
            Some(kind) => format!("{id} ({kind}: PKCE, no secret)"),
            None => id.to_owned(),
        };
        [("Profile:", profile), ("Client id:", client)]
    }
}

/// What a store holds, without its secrets.
pub struct Report {
    /// Where the login is kept.
    store: Store,
    /// The file's permission bits, when it exists (Unix).
    cache_mode: Option<u32>,
    /// The token's facts, when one is stored.
    token: Option<Facts>,
    /// Why the file could not be read, when it could not.
    cache_error: Option<String>,
    /// For a login in the profile's default token file: why it is not in
    /// the keychain (`Some(Err(why))`), or that it could be (`Some(Ok)`).
    keychain: Option<Result<(), String>>,
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
    /// When the login (the refresh token) ends.
    login: LoginExpiry,
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
            expires_in: clock::seconds_until(token.expires_at, now),
            has_refresh_token: token.refresh_token.is_some(),
            login: LoginExpiry::of(token, now),
        }
    }

    /// Whether the access token has expired.
    fn expired(&self) -> bool {
        self.expires_in <= 0
    }

    /// Whether the refresh token can still be used: there is one, and its
    /// login has not ended (or when it ends is unknown).
    fn can_refresh(&self) -> bool {
        self.has_refresh_token && self.login.expired() != Some(true)
    }

    /// Whether to warn that the login ends within 14 days or has ended.
    fn login_expires_soon(&self) -> bool {
        self.has_refresh_token && self.login.expires_soon()
    }
}

impl Report {
    /// Reads `setup`'s store (no lock, no network; for a login in the
    /// default token file, asks whether there is a keychain); also returns
    /// the error that made it unreadable, if any.
    pub fn read(setup: &Setup) -> (Self, Option<spotify_auth::Error>) {
        let store = &setup.store;
        let (token, error) = match store.read() {
            Ok(token) => (token, None),
            Err(e) => (None, Some(e)),
        };
        let keychain = setup
            .store_is_default_file()
            .then(|| store::probe_keychain(&Store::keychain_for(&setup.name)));
        let report = Report {
            store: store.clone(),
            cache_mode: store.file_mode(),
            token: token.map(|t| Facts::of(&t, clock::now_unix())),
            cache_error: error.as_ref().map(ToString::to_string),
            keychain,
        };
        (report, error)
    }

    /// Why a login in the default token file is not in the keychain.
    fn keychain_unavailable(&self) -> Option<&str> {
        match &self.keychain {
            Some(Err(why)) => Some(why),
            _ => None,
        }
    }

    /// A token is stored and usable without the browser (see the module
    /// documentation).
    pub fn logged_in(&self) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| t.can_refresh() || !t.expired())
    }

    /// The token file's path, for display (empty for a store that is not a
    /// file).
    fn cache_path(&self) -> String {
        self.store
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }

    /// The `store` object of the JSON reports: its type, path and mode,
    /// the keychain item, why the login is not in the keychain.
    pub fn store_json(&self) -> serde_json::Value {
        let item = self.store.keychain_item();
        json!({
            "type": self.store.kind(),
            "path": self.store.path().map(|p| p.display().to_string()),
            "mode": self.cache_mode.map(|m| format!("{m:04o}")),
            "service": item.map(|(service, _)| service),
            "user": item.map(|(_, user)| user),
            "keychain_unavailable": self.keychain_unavailable(),
        })
    }

    /// The `--json` report, with `profile`'s keys first.
    fn to_json(&self, profile: &ProfileFacts) -> serde_json::Value {
        let t = self.token.as_ref();
        json!({
            "profile": profile.name,
            "profile_saved": profile.saved_path.is_some(),
            "profile_path": profile.saved_path,
            "client_id": profile.client_id,
            "client_type": profile.client_type,
            "store": self.store_json(),
            "logged_in": self.logged_in(),
            "scopes": t.map(|t| t.scopes.clone()).unwrap_or_default(),
            "expires_at": t.map(|t| t.expires_at),
            "expires_in_seconds": t.map(|t| t.expires_in),
            "expired": t.map(Facts::expired),
            "has_refresh_token": t.is_some_and(|t| t.has_refresh_token),
            "authorized_at": t.and_then(|t| t.login.authorized_at),
            "login_expires_at": t.and_then(|t| t.login.expires_at),
            "login_expires_in_seconds": t.and_then(|t| t.login.expires_in),
            "login_expired": t.and_then(|t| t.login.expired()),
            "login_expires_soon": t.is_some_and(Facts::login_expires_soon),
            "cache_path": self.cache_path(),
            "cache_mode": self.cache_mode.map(|m| format!("{m:04o}")),
            "cache_error": self.cache_error,
        })
    }

    /// The text report, one `Label:  value` line per fact, `profile`'s
    /// first.
    fn to_text(&self, profile: &ProfileFacts) -> String {
        let mut lines = Vec::new();
        let mut line = |label: &str, value: String| lines.push(format!("{label:<15}{value}"));
        for (label, value) in profile.lines() {
            line(label, value);
        }
        match (&self.token, &self.cache_error) {
            (_, Some(_)) => line(
                "Logged in:",
                "unknown (the token cache cannot be read)".into(),
            ),
            (None, None) => line("Logged in:", "no (run `spotify-auth login`)".into()),
            (Some(t), None) => {
                let verdict = match (t.expired(), t.has_refresh_token, t.can_refresh()) {
                    (false, _, _) => "yes",
                    (true, _, true) => "yes (the next `spotify-auth token` refreshes the token)",
                    (true, true, false) => {
                        "no: the access token and the login expired (run `spotify-auth login`)"
                    }
                    (true, false, _) => {
                        "no: expired, and no refresh token (run `spotify-auth login`)"
                    }
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
                if t.has_refresh_token {
                    line("Login:", t.login.describe());
                    if let Some(warning) = t.login.warning() {
                        line("Warning:", warning);
                    }
                }
            }
        }
        line("Stored in:", self.store_description());
        lines.join("\n")
    }

    /// Where the login is kept and how (`file PATH (mode 0600)`, and why
    /// not in the keychain): the value of the report's `Stored in:` line.
    pub fn store_description(&self) -> String {
        let place = self.file_description();
        match &self.keychain {
            Some(Err(why)) => format!("{place} (no keychain available: {why})"),
            Some(Ok(())) if self.token.is_some() => format!(
                "{place} (not in the keychain: `spotify-auth login` keeps a new login there)"
            ),
            _ => place,
        }
    }

    /// The store and, for a file, its mode.
    fn file_description(&self) -> String {
        let place = self.store.describe();
        if self.store.is_keychain() {
            return place;
        }
        match self.cache_mode {
            Some(mode) if mode & 0o077 != 0 => {
                format!("{place} (mode {mode:04o}: readable by other users; run chmod 600 on it)")
            }
            Some(mode) => format!("{place} (mode {mode:04o})"),
            None if self.token.is_some() || self.cache_error.is_some() => place,
            None => format!("{place} (does not exist)"),
        }
    }
}

/// Runs `status`.
pub fn run(global: &GlobalArgs, args: &StatusArgs) -> Result<(), Failure> {
    let setup = settings::setup(global, Need::Saved)?;
    let profile = ProfileFacts::of(&setup, global);
    let (report, error) = Report::read(&setup);
    if args.json {
        println!("{}", report.to_json(&profile));
    } else {
        // The advice to log in names the profile when it is not the default.
        let text = report.to_text(&profile).replace(
            "`spotify-auth login`",
            &format!("`{} login`", setup.name.command()),
        );
        println!("{text}");
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
            store: Store::File("/tmp/token.json".into()),
            cache_mode: Some(0o600),
            token,
            cache_error: None,
            keychain: None,
        }
    }

    fn profile(client_type: Option<&'static str>) -> ProfileFacts {
        ProfileFacts {
            name: "default".into(),
            saved_path: client_type.map(|_| "/c/profiles/default.json".into()),
            client_id: Some("id".into()),
            client_type,
            secret: "not set",
        }
    }

    const NOW: u64 = 1_700_000_000;

    /// A token whose login ends is unknown.
    fn facts(expires_in: i64, has_refresh_token: bool) -> Facts {
        Facts {
            scopes: vec!["a".into(), "b".into()],
            expires_at: (NOW as i64 + expires_in) as u64,
            expires_in,
            has_refresh_token,
            login: LoginExpiry {
                authorized_at: None,
                expires_at: None,
                expires_in: None,
            },
        }
    }

    /// A token whose login ends `login_left` seconds from [`NOW`].
    fn facts_with_login(expires_in: i64, has_refresh_token: bool, login_left: i64) -> Facts {
        let end = (NOW as i64 + login_left) as u64;
        Facts {
            login: LoginExpiry {
                authorized_at: Some(end - spotify_auth::LOGIN_LIFETIME.as_secs()),
                expires_at: Some(end),
                expires_in: Some(login_left),
            },
            ..facts(expires_in, has_refresh_token)
        }
    }

    #[test]
    fn logged_in_needs_a_usable_token() {
        assert!(!report(None).logged_in());
        assert!(report(Some(facts(60, false))).logged_in());
        assert!(report(Some(facts(-60, true))).logged_in());
        assert!(!report(Some(facts(-60, false))).logged_in());
        // A refresh token whose login ended cannot be used.
        assert!(report(Some(facts_with_login(-60, true, 86_400))).logged_in());
        assert!(!report(Some(facts_with_login(-60, true, -60))).logged_in());
        assert!(report(Some(facts_with_login(60, true, -60))).logged_in());
    }

    #[test]
    fn text_says_when_the_login_ends() {
        let text = |f: Facts| report(Some(f)).to_text(&profile(Some("confidential")));
        let t = text(facts_with_login(60, true, 100 * 86_400));
        assert!(t.contains("\nLogin:         expires in 100 days ("), "{t}");
        assert!(!t.contains("Warning:"), "{t}");
        let t = text(facts_with_login(60, true, 3 * 86_400));
        assert!(t.contains("Login:         expires in 3 days ("), "{t}");
        assert!(
            t.contains("Warning:       login expires in 3 days: run `spotify-auth login` again"),
            "{t}"
        );
        let t = text(facts_with_login(-60, true, -86_400));
        assert!(t.contains("Login:         expired "), "{t}");
        assert!(
            t.contains("Logged in:     no: the access token and the login expired"),
            "{t}"
        );
        let t = text(facts(60, true));
        assert!(t.contains("Login:         expiry unknown ("), "{t}");
        // Without a refresh token there is no login to outlast the access token.
        let t = text(facts_with_login(60, false, 3 * 86_400));
        assert!(!t.contains("Login:") && !t.contains("Warning:"), "{t}");
    }

    #[test]
    fn json_has_the_documented_keys() {
        let v = report(Some(facts(-60, true))).to_json(&profile(None));
        assert_eq!(v["expired"], true);
        assert_eq!(v["expires_in_seconds"], -60);
        assert_eq!(v["cache_mode"], "0600");
        assert_eq!(v["scopes"], json!(["a", "b"]));
        assert!(v["authorized_at"].is_null());
        assert!(v["login_expires_at"].is_null());
        assert!(v["login_expired"].is_null());
        assert_eq!(v["login_expires_soon"], false);
        let v = report(Some(facts_with_login(60, true, 3 * 86_400))).to_json(&profile(None));
        assert_eq!(v["login_expires_at"], NOW + 3 * 86_400);
        assert_eq!(v["authorized_at"], NOW + 3 * 86_400 - 180 * 86_400);
        assert_eq!(v["login_expires_in_seconds"], 3 * 86_400);
        assert_eq!(v["login_expired"], false);
        assert_eq!(v["login_expires_soon"], true);
        let v = report(Some(facts_with_login(60, false, 3 * 86_400))).to_json(&profile(None));
        assert_eq!(v["login_expires_soon"], false, "no refresh token, no login");
        let v = report(None).to_json(&profile(None));
        assert_eq!(v["logged_in"], false);
        assert!(v["expires_at"].is_null());
        assert!(v["authorized_at"].is_null());
        assert_eq!(v["login_expires_soon"], false);
        assert_eq!(v["scopes"], json!([]));
        assert_eq!(v["profile"], "default");
        assert_eq!(v["profile_saved"], false);
        assert!(v["client_type"].is_null());
        assert_eq!(
            v["store"],
            json!({"type": "file", "path": "/tmp/token.json", "mode": "0600",
                   "service": null, "user": null, "keychain_unavailable": null})
        );
        let mut fallback = report(None);
        fallback.keychain = Some(Err("no session bus".into()));
        assert_eq!(
            fallback.to_json(&profile(None))["store"]["keychain_unavailable"],
            "no session bus"
        );
        let keychain = Report {
            store: Store::Keychain {
                service: "spotify-auth".into(),
                user: "default".into(),
            },
            cache_mode: None,
            ..report(None)
        };
        assert_eq!(
            keychain.to_json(&profile(None))["store"],
            json!({"type": "keychain", "path": null, "mode": null,
                   "service": "spotify-auth", "user": "default", "keychain_unavailable": null})
        );
        assert_eq!(
            keychain.store_description(),
            "keychain (service spotify-auth, user default)"
        );
        assert_eq!(v["cache_path"], "/tmp/token.json");
    }

    #[test]
    fn text_names_the_profile_and_where_the_login_is_stored() {
        let t = report(None).to_text(&profile(Some("confidential")));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "Profile:       default (saved in /c/profiles/default.json)"
        );
        assert_eq!(
            lines[1],
            "Client id:     id (confidential: refreshing needs SPOTIFY_SDK_CLIENT_SECRET, \
             which is not set)"
        );
        assert_eq!(
            *lines.last().unwrap(),
            "Stored in:     file /tmp/token.json (mode 0600)"
        );
        let mut fallback = report(None);
        fallback.keychain = Some(Err("no session bus".into()));
        let t = fallback.to_text(&profile(None));
        assert!(
            t.ends_with(
                "Stored in:     file /tmp/token.json (mode 0600) (no keychain available: \
                 no session bus)"
            ),
            "{t}"
        );
        let t = report(None).to_text(&profile(None));
        assert!(t.starts_with("Profile:       default (not saved: "), "{t}");
        assert!(t.contains("\nClient id:     id\n"), "{t}");
    }
}
