//! What a token store holds for one login: the login itself ([`Entry::Token`]),
//! or a record of how it ended ([`Entry::Ended`]: a logout, or a refresh
//! token Spotify refused). Nothing stored at all means *unknown* (never
//! written, or the store lost its data), never "logged out".
//!
//! A record names the refresh tokens it ended by fingerprint (the first 128
//! bits of their SHA-256, never the tokens), so that no sharer of the store
//! sends one of them again, while a refresh token it does not name (a new
//! login, a new bootstrap token, the successor of a refused token) still
//! works. Records are JSON objects without an `access_token`: the Python
//! `spotify-sdk` reads one as "no token".
//!
//! While a store recovers from a data loss it holds an
//! [`Entry::Recovering`] (see `recovery.rs`): the login an instance wrote
//! back (a token file with one more key, which Python reads as the token),
//! and the copies Spotify refused since.

use crate::clock::{SystemTime, UNIX_EPOCH};
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::recovery::Recovery;
use crate::{RefreshToken, TokenInfo};

/// What a [`TokenCache`](crate::TokenCache) holds for one login.
///
/// Serialised with [`to_json`](Self::to_json): a token as the token file
/// format ([`TokenInfo::to_json`]), a record as a JSON object keyed by
/// `login_ended`. `Debug` never shows a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entry {
    /// A live login: the token to use, and to refresh.
    Token(TokenInfo),
    /// A login that ended, and the refresh tokens it ended.
    Ended(LoginEnded),
    /// A login sealed with an app key (`SealedCache`, feature
    /// `encryption`): opaque without the key. A flow reading it through a
    /// cache without the key sends nothing and reports a cache error.
    Sealed(SealedEntry),
    /// The store lost its data and is recovering: a login an instance
    /// wrote back from memory (perhaps a stale copy), and the copies
    /// Spotify refused since. The next token Spotify issues ends it.
    Recovering(Recovery),
}

/// The opaque text of a sealed entry (see [`Entry::Sealed`]). `Debug` shows
/// its length only.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedEntry(String);

impl SealedEntry {
    /// Wraps the text a sealing layer made.
    pub fn new(text: impl Into<String>) -> Self {
        SealedEntry(text.into())
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SealedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedEntry({} bytes)", self.0.len())
    }
}

/// Why a login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndReason {
    /// Someone logged out (`logout()`, [`TokenCache::clear`](crate::TokenCache::clear),
    /// `spotify-auth logout`).
    Logout,
    /// Spotify refused the refresh token (`invalid_grant`: revoked, or past
    /// the six-month limit).
    Refused,
}

/// How many refresh tokens a logout record names at most: the newest are
/// kept when a logout is recorded over an earlier record.
const MAX_NAMED: usize = 16;

/// A record that a login ended: why, when, and which refresh tokens it
/// ended (by fingerprint: the record holds no secret).
///
/// ```
/// use spotify_auth::{EndReason, LoginEnded, RefreshToken};
///
/// let old = RefreshToken::new("the-refresh-token-logged-out");
/// let record = LoginEnded::logout([&old]);
/// assert_eq!(record.reason(), EndReason::Logout);
/// assert!(record.ends(&old));
/// assert!(!record.ends(&RefreshToken::new("a-new-login")));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct LoginEnded {
    reason: EndReason,
    pub(crate) at_ms: u64,
    ended: Vec<Fingerprint>,
    /// A refusal: when the login whose tokens it names was authorized
    /// (Unix seconds), when known. A login authorized later is another one,
    /// which the refusal does not end.
    login_authorized_at: Option<u64>,
}

impl LoginEnded {
    /// A logout, now, ending these refresh tokens.
    pub fn logout<'a>(ended: impl IntoIterator<Item = &'a RefreshToken>) -> Self {
        Self::new(EndReason::Logout, ended.into_iter().map(Fingerprint::of))
    }

    /// Spotify refused `refused`, now.
    pub fn refusal(refused: &RefreshToken) -> Self {
        Self::new(EndReason::Refused, [Fingerprint::of(refused)])
    }

    fn new(reason: EndReason, ended: impl IntoIterator<Item = Fingerprint>) -> Self {
        let mut record = LoginEnded {
            reason,
            at_ms: now_ms(),
            ended: Vec::new(),
            login_authorized_at: None,
        };
        record.name(ended);
        record
    }

    /// This refusal, of tokens of a login authorized at `at` (Unix
    /// seconds, when known).
    #[cfg(any(feature = "blocking", feature = "async"))]
    pub(crate) fn of_login_authorized_at(mut self, at: Option<u64>) -> Self {
        self.login_authorized_at = at;
        self
    }

    /// Names `refused` too, of a login authorized at `at`: the record then
    /// speaks for the later of the two logins, and for none when either
    /// time is unknown.
    #[cfg(any(feature = "blocking", feature = "async"))]
    pub(crate) fn also_refused(&mut self, refused: Fingerprint, at: Option<u64>) {
        self.name([refused]);
        self.login_authorized_at = match (self.login_authorized_at, at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }

    /// A refusal: when the login whose refresh tokens it names was
    /// authorized (Unix seconds), when that was known. `None` for a logout.
    pub fn login_authorized_at(&self) -> Option<u64> {
        self.login_authorized_at
    }

    /// Adds fingerprints (once each), keeping the newest [`MAX_NAMED`].
    pub(crate) fn name(&mut self, more: impl IntoIterator<Item = Fingerprint>) {
        for fp in more {
            if !self.ended.contains(&fp) {
                self.ended.push(fp);
            }
        }
        let excess = self.ended.len().saturating_sub(MAX_NAMED);
        self.ended.drain(..excess);
    }

    /// A logout over what the store held: names what this logout ends
    /// (`mine`: the refresh tokens the logging-out instance knows), plus the
    /// stored login's refresh token, plus what an earlier record named.
    pub(crate) fn logout_over(stored: Option<&Entry>, mine: &[Fingerprint]) -> Self {
        let mut names: Vec<Fingerprint> = match stored {
            Some(Entry::Ended(earlier)) => earlier.ended.clone(),
            Some(Entry::Token(t)) => t.refresh_token.iter().map(Fingerprint::of).collect(),
            Some(Entry::Recovering(r)) => {
                let mut names = r.refused_fingerprints().to_vec();
                names.extend(
                    r.token()
                        .and_then(|t| t.refresh_token.as_ref())
                        .map(Fingerprint::of),
                );
                names
            }
            Some(Entry::Sealed(_)) | None => Vec::new(),
        };
        names.extend_from_slice(mine);
        Self::new(EndReason::Logout, names)
    }

    /// Why the login ended.
    pub fn reason(&self) -> EndReason {
        self.reason
    }

    /// When, in milliseconds since the Unix epoch.
    pub fn at_ms(&self) -> u64 {
        self.at_ms
    }

    /// Whether this record ended `refresh_token`: it must never be sent
    /// again.
    pub fn ends(&self, refresh_token: &RefreshToken) -> bool {
        self.names(Fingerprint::of(refresh_token))
    }

    pub(crate) fn names(&self, fp: Fingerprint) -> bool {
        self.ended.contains(&fp)
    }

    /// How many refresh tokens it names.
    pub fn len(&self) -> usize {
        self.ended.len()
    }

    /// Whether it names no refresh token (a logout where none was known).
    pub fn is_empty(&self) -> bool {
        self.ended.is_empty()
    }
}

impl fmt::Debug for LoginEnded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginEnded")
            .field("reason", &self.reason)
            .field("at_ms", &self.at_ms)
            .field("ended", &self.ended.len())
            .field("login_authorized_at", &self.login_authorized_at)
            .finish()
    }
}

/// The first 128 bits of a refresh token's SHA-256: names it in a record
/// without revealing it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Fingerprint([u8; 16]);

impl Fingerprint {
    pub(crate) fn of(token: &RefreshToken) -> Self {
        let digest = Sha256::digest(token.secret().as_bytes());
        let mut fp = [0u8; 16];
        fp.copy_from_slice(&digest[..16]);
        Fingerprint(fp)
    }

    /// Of an authorization code (same hash; used to recognise a code
    /// exchanged moments ago).
    #[cfg(any(feature = "blocking", feature = "async"))]
    pub(crate) fn of_code(code: &crate::AuthCode) -> Self {
        Self::of(&RefreshToken::new(code.secret()))
    }

    fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn from_hex(hex: &str) -> Option<Self> {
        // Digits only: `from_str_radix` alone would take a `+` sign.
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut fp = [0u8; 16];
        for (i, byte) in fp.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Fingerprint(fp))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not a secret, but nothing a log needs either.
        f.write_str("Fingerprint(..)")
    }
}

/// The JSON shape of a sealed entry.
#[derive(Serialize, Deserialize)]
struct SealedJson {
    sealed: String,
}

/// The JSON shape of a recovery, under the key `recovery` (beside a
/// token's fields, or alone).
#[derive(Serialize, Deserialize)]
struct RecoveryJson {
    since_ms: u64,
    #[serde(default)]
    refused: Vec<String>,
}

/// A JSON object's `recovery` key.
#[derive(Serialize, Deserialize)]
struct RecoveryKey {
    recovery: RecoveryJson,
}

/// The JSON shape of a record.
#[derive(Serialize, Deserialize)]
struct RecordJson {
    login_ended: EndReason,
    at_ms: u64,
    #[serde(default)]
    ended: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorized_at: Option<u64>,
}

impl Entry {
    /// The token, when this is a live login (or one written back while
    /// the store recovers from a data loss).
    pub fn token(&self) -> Option<&TokenInfo> {
        match self {
            Entry::Token(t) => Some(t),
            Entry::Recovering(r) => r.token(),
            _ => None,
        }
    }

    /// The record, when this login ended.
    pub fn ended(&self) -> Option<&LoginEnded> {
        match self {
            Entry::Ended(r) => Some(r),
            _ => None,
        }
    }

    /// As JSON: a token in the token file format; a record as
    /// `{"login_ended":"logout"|"refused","at_ms":…,"ended":["<32 hex>",…]}`
    /// (a refusal also `"authorized_at":…`, its login's, when known);
    /// a sealed entry as `{"sealed":"<text>"}`; a recovery as its token's
    /// JSON with one more key, `"recovery":{"since_ms":…,"refused":[…]}`
    /// (or that key alone when no login is left). Only a token has an
    /// `access_token`: the Python library reads the others as "no token".
    pub fn to_json(&self) -> String {
        match self {
            Entry::Token(t) => t.to_json(),
            Entry::Recovering(r) => {
                let recovery = RecoveryJson {
                    since_ms: r.since_ms(),
                    refused: r
                        .refused_fingerprints()
                        .iter()
                        .map(|fp| fp.to_hex())
                        .collect(),
                };
                match r.token() {
                    None => serde_json::to_string(&RecoveryKey { recovery })
                        .expect("a recovery always serialises"),
                    Some(t) => {
                        let mut json = t.to_json();
                        // A token serialises as a non-empty object.
                        json.pop();
                        json.push_str(",\"recovery\":");
                        json.push_str(
                            &serde_json::to_string(&recovery)
                                .expect("a recovery always serialises"),
                        );
                        json.push('}');
                        json
                    }
                }
            }
            Entry::Sealed(s) => serde_json::to_string(&SealedJson {
                sealed: s.0.clone(),
            })
            .expect("a sealed entry always serialises"),
            Entry::Ended(r) => serde_json::to_string(&RecordJson {
                login_ended: r.reason,
                at_ms: r.at_ms,
                ended: r.ended.iter().map(|fp| fp.to_hex()).collect(),
                authorized_at: r.login_authorized_at,
            })
            .expect("a record always serialises"),
        }
    }

    /// Parses [`to_json`](Self::to_json)'s format (a token file written by
    /// the Python library, or an older version of this one, is a token).
    /// Errors never contain the content.
    pub fn from_json(json: &[u8]) -> std::result::Result<Self, String> {
        if json.trim_ascii_start().first() != Some(&b'{') {
            return Err("not a valid token file (not a JSON object)".to_owned());
        }
        // A record and a sealed entry are told apart by their keys;
        // anything else is a token.
        #[derive(Deserialize)]
        struct Probe {
            #[serde(default)]
            login_ended: Option<serde::de::IgnoredAny>,
            #[serde(default)]
            sealed: Option<serde::de::IgnoredAny>,
            #[serde(default)]
            recovery: Option<serde::de::IgnoredAny>,
            #[serde(default)]
            access_token: Option<serde::de::IgnoredAny>,
        }
        // A probe that fails (a key given twice, say) is no token either:
        // an entry edited into an ambiguous shape is an error.
        let probe = serde_json::from_slice::<Probe>(json).map_err(|e| {
            format!(
                "not a valid token file ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            )
        })?;
        let (is_record, is_sealed) = (probe.login_ended.is_some(), probe.sealed.is_some());
        if probe.recovery.is_some() {
            if is_record || is_sealed {
                return Err("not a valid token file (a recovery beside a record)".to_owned());
            }
            return Self::recovery_from_json(json, probe.access_token.is_some());
        }
        if is_sealed {
            return match serde_json::from_slice::<SealedJson>(json) {
                Ok(s) if !is_record => Ok(Entry::Sealed(SealedEntry(s.sealed))),
                _ => Err("not a valid sealed entry".to_owned()),
            };
        }
        if !is_record {
            return TokenInfo::from_json(json).map(Entry::Token);
        }
        let record: RecordJson = serde_json::from_slice(json).map_err(|e| {
            format!(
                "not a valid login record ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            )
        })?;
        let ended = record
            .ended
            .iter()
            .map(|hex| Fingerprint::from_hex(hex))
            .collect::<Option<Vec<_>>>()
            .ok_or("not a valid login record (a fingerprint is not 32 hex digits)")?;
        Ok(Entry::Ended(LoginEnded {
            reason: record.login_ended,
            at_ms: record.at_ms,
            ended,
            // Only a refusal speaks for a login.
            login_authorized_at: record
                .authorized_at
                .filter(|_| record.login_ended == EndReason::Refused),
        }))
    }
}

impl Entry {
    fn recovery_from_json(json: &[u8], with_token: bool) -> std::result::Result<Self, String> {
        let key: RecoveryKey = serde_json::from_slice(json).map_err(|e| {
            format!(
                "not a valid recovery ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            )
        })?;
        let refused = key
            .recovery
            .refused
            .iter()
            .map(|hex| Fingerprint::from_hex(hex))
            .collect::<Option<Vec<_>>>()
            .ok_or("not a valid recovery (a fingerprint is not 32 hex digits)")?;
        let token = if with_token {
            Some(TokenInfo::from_json(json)?)
        } else {
            None
        };
        Ok(Entry::Recovering(Recovery::from_parts(
            token,
            refused,
            key.recovery.since_ms,
        )))
    }
}

/// What a flow reads from its store: a sealed entry is an error there (the
/// flow was given the store without its `SealedCache`), never a login.
#[cfg(any(feature = "blocking", feature = "async"))]
pub(crate) fn unsealed(stored: Option<Entry>) -> crate::Result<Option<Entry>> {
    match stored {
        Some(Entry::Sealed(_)) => Err(crate::Error::Cache {
            path: None,
            message: "the store holds a login sealed with an app key: give this flow the \
                      store inside a SealedCache with that key (feature encryption)"
                .into(),
            source: None,
        }),
        other => Ok(other),
    }
}

impl From<TokenInfo> for Entry {
    fn from(token: TokenInfo) -> Self {
        Entry::Token(token)
    }
}

impl From<Recovery> for Entry {
    fn from(recovery: Recovery) -> Self {
        Entry::Recovering(recovery)
    }
}

impl From<LoginEnded> for Entry {
    fn from(record: LoginEnded) -> Self {
        Entry::Ended(record)
    }
}

/// Milliseconds since the Unix epoch, by the system clock.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    /// A refusal's login time round-trips; a record without one (older
    /// versions) and a logout have none.
    #[cfg(any(feature = "blocking", feature = "async"))]
    #[test]
    fn a_refusals_login_time_is_kept_in_its_json() {
        use super::{Entry, LoginEnded};
        let refusal = Entry::Ended(
            LoginEnded::refusal(&crate::RefreshToken::new("r")).of_login_authorized_at(Some(42)),
        );
        let json = refusal.to_json();
        assert!(json.contains("\"authorized_at\":42"), "{json}");
        assert_eq!(Entry::from_json(json.as_bytes()).unwrap(), refusal);
        let older = br#"{"login_ended":"refused","at_ms":1,"ended":[]}"#;
        let Entry::Ended(r) = Entry::from_json(older).unwrap() else {
            panic!("a record")
        };
        assert_eq!(r.login_authorized_at(), None);
        let logout = br#"{"login_ended":"logout","at_ms":1,"authorized_at":42}"#;
        let Entry::Ended(r) = Entry::from_json(logout).unwrap() else {
            panic!("a record")
        };
        assert_eq!(r.login_authorized_at(), None);
        let logout = Entry::Ended(LoginEnded::logout([])).to_json();
        assert!(!logout.contains("authorized_at"), "{logout}");
    }
    use super::*;
    use crate::AccessToken;

    fn token(refresh: &str) -> TokenInfo {
        TokenInfo {
            access_token: AccessToken::new("access-secret"),
            expires_at: 1_700_000_000,
            refresh_token: Some(RefreshToken::new(refresh)),
            scope: Some("a b".into()),
            authorized_at: None,
        }
    }

    #[test]
    fn a_token_entry_is_the_token_file_format() {
        let t = token("r");
        let e = Entry::Token(t.clone());
        assert_eq!(e.to_json(), t.to_json());
        assert_eq!(Entry::from_json(e.to_json().as_bytes()).unwrap(), e);
        // Python's file (floats, nulls) is a token.
        let py =
            br#"{"access_token":"a","expires_at":1700000000.5,"refresh_token":null,"scope":null}"#;
        assert!(matches!(Entry::from_json(py).unwrap(), Entry::Token(_)));
    }

    #[test]
    fn a_recovery_round_trips_and_reads_as_its_token_elsewhere() {
        let refused = RefreshToken::new("refresh-secret-stale");
        let with = Recovery::written_back(token("refresh-secret-live")).after_refusal(&refused);
        let e = Entry::Recovering(with.clone());
        let json = e.to_json();
        assert!(!json.contains("refresh-secret-stale"), "{json}");
        assert_eq!(Entry::from_json(json.as_bytes()).unwrap(), e);
        // Python (and an older version of this crate) reads the token.
        let t = TokenInfo::from_json(json.as_bytes()).unwrap();
        assert_eq!(Some(&t), with.token());
        assert_eq!(e.token(), with.token());
        let without =
            Entry::Recovering(with.after_refusal(&RefreshToken::new("refresh-secret-live")));
        let json = without.to_json();
        assert!(
            !json.contains("access_token"),
            "Python reads it as no token: {json}"
        );
        assert!(!json.contains("secret"), "{json}");
        let back = Entry::from_json(json.as_bytes()).unwrap();
        assert_eq!(back, without);
        assert_eq!(back.token(), None);
        for bad in [
            &br#"{"recovery":{"since_ms":1,"refused":["zz"]}}"#[..],
            br#"{"recovery":1}"#,
            br#"{"recovery":{"since_ms":1},"login_ended":"logout","at_ms":1}"#,
            br#"{"recovery":{"since_ms":1},"access_token":5,"expires_at":1}"#,
        ] {
            let err = Entry::from_json(bad).unwrap_err();
            assert!(!err.contains("zz"), "{err}");
        }
    }

    #[test]
    fn records_round_trip_and_name_without_revealing() {
        let r1 = RefreshToken::new("refresh-secret-one");
        let r2 = RefreshToken::new("refresh-secret-two");
        let record = LoginEnded::logout([&r1, &r2, &r1]);
        assert_eq!(record.len(), 2, "named once each");
        let json = Entry::Ended(record.clone()).to_json();
        assert!(!json.contains("refresh-secret"), "{json}");
        assert!(
            !json.contains("access_token"),
            "Python reads it as no token"
        );
        let back = Entry::from_json(json.as_bytes()).unwrap();
        assert_eq!(back, Entry::Ended(record.clone()));
        let back = back.ended().unwrap().clone();
        assert!(back.ends(&r1) && back.ends(&r2));
        assert!(!back.ends(&RefreshToken::new("other")));
        assert_eq!(back.reason(), EndReason::Logout);
        let refused = LoginEnded::refusal(&r1);
        let json = Entry::Ended(refused.clone()).to_json();
        assert!(json.contains(r#""login_ended":"refused""#), "{json}");
        assert_eq!(
            Entry::from_json(json.as_bytes()).unwrap(),
            Entry::Ended(refused)
        );
        assert!(!format!("{record:?}").contains("secret"));
    }

    #[test]
    fn a_logout_over_a_record_carries_its_names_and_keeps_the_newest() {
        let tokens: Vec<RefreshToken> = (0..40)
            .map(|i| RefreshToken::new(format!("r{i}")))
            .collect();
        let first = LoginEnded::logout(&tokens[..10]);
        let stored = Entry::Ended(first);
        let mine: Vec<Fingerprint> = tokens[10..].iter().map(Fingerprint::of).collect();
        let next = LoginEnded::logout_over(Some(&stored), &mine);
        assert_eq!(next.len(), MAX_NAMED);
        assert!(next.ends(&tokens[39]) && !next.ends(&tokens[0]));
        let over_token = LoginEnded::logout_over(Some(&Entry::Token(token("stored"))), &[]);
        assert!(over_token.ends(&RefreshToken::new("stored")));
    }

    #[test]
    fn a_sealed_entry_round_trips_and_reads_as_no_token() {
        let e = Entry::Sealed(SealedEntry::new("spotify-auth-sealed:AAAA"));
        let json = e.to_json();
        assert_eq!(json, r#"{"sealed":"spotify-auth-sealed:AAAA"}"#);
        assert!(!json.contains("access_token"));
        assert_eq!(Entry::from_json(json.as_bytes()).unwrap(), e);
        assert!(e.token().is_none() && e.ended().is_none());
        assert_eq!(format!("{e:?}"), "Sealed(SealedEntry(24 bytes))");
        for bad in [
            &br#"{"sealed":5}"#[..],
            br#"{"sealed":"x","login_ended":"logout","at_ms":1}"#,
        ] {
            assert!(Entry::from_json(bad).is_err());
        }
    }

    #[test]
    fn bad_records_are_errors_that_quote_nothing() {
        for bad in [
            &br#"{"login_ended":"vanished","at_ms":1}"#[..],
            br#"{"login_ended":"logout"}"#,
            br#"{"login_ended":"logout","at_ms":1,"ended":["zz"]}"#,
            br#"{"login_ended":"logout","at_ms":1,"ended":["secret-value-00000000000000000000"]}"#,
            br#"["login_ended"]"#,
        ] {
            let err = Entry::from_json(bad).unwrap_err();
            assert!(
                !err.contains("secret") && !err.contains("vanished"),
                "{err}"
            );
        }
        assert!(Fingerprint::from_hex("é0000000000000000000000000000000").is_none());
    }
}
