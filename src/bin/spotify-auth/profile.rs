//! A profile's settings file, `profiles/NAME.json` in the config directory:
//! what `login` saved so that `token`, `status` and `logout` need no
//! environment. Never a secret: a confidential app's secret comes from
//! `SPOTIFY_SDK_CLIENT_SECRET` whenever a refresh needs it.
//!
//! ```json
//! {
//!   "version": 1,
//!   "client_id": "your-client-id",
//!   "redirect_uri": "http://127.0.0.1/callback",
//!   "client_type": "public",
//!   "scopes": ["user-read-email", "user-top-read"],
//!   "store": {"type": "file", "path": "/home/me/tokens/spotify.json"}
//! }
//! ```
//!
//! `client_type` is `public` (logs in and refreshes with PKCE, no secret) or
//! `confidential` (needs the secret to refresh); `store` is present only
//! when the login was stored somewhere other than the profile's default
//! place (`--cache`). Written atomically with mode 0600. Unknown fields are
//! ignored; a file of a later `version` is refused with a message saying so.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::exit::Failure;
use crate::private_file;
use crate::profile_name::ProfileName;
use crate::store::StoreSetting;

/// The format version this tool writes and reads.
pub const VERSION: u32 = 1;

/// The largest settings file read (a real one is a few hundred bytes).
const MAX_FILE_SIZE: u64 = 64 * 1024;

/// Whether the app has a client secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// No secret: PKCE.
    Public,
    /// A secret (from `SPOTIFY_SDK_CLIENT_SECRET`) authenticates each
    /// token request.
    Confidential,
}

impl ClientType {
    /// `public` or `confidential`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Public => "public",
            ClientType::Confidential => "confidential",
        }
    }
}

/// A profile's saved settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The format version ([`VERSION`]).
    pub version: u32,
    /// The app's client id.
    pub client_id: String,
    /// The redirect URI registered for the app (as given, before `--port`).
    pub redirect_uri: String,
    /// Public (PKCE) or confidential.
    pub client_type: ClientType,
    /// The scopes the login asked for; a later `login` without `--scope`
    /// asks for them again.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Where the login is kept, when not the profile's default place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreSetting>,
}

/// Reads the profile at `path`: `Ok(None)` when there is no such file; a
/// file that cannot be read or is not a profile is a one-line configuration
/// failure naming the path and the fix (exit 2).
pub fn load(path: &Path, name: &ProfileName) -> Result<Option<Profile>, Failure> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(path, &e.to_string())),
    };
    let is_file = file.metadata().map(|m| m.is_file()).unwrap_or(false);
    if !is_file {
        return Err(unreadable(path, "not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(path, &e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(malformed(path, name, "larger than 64 KiB"));
    }
    match parse(&bytes) {
        Ok(profile) => Ok(Some(profile)),
        Err(Problem::Newer(version)) => Err(Failure::config(format!(
            "the profile file {} has format version {version}, written by a newer \
             spotify-auth than this one (which reads version {VERSION}): upgrade spotify-auth",
            path.display()
        ))),
        Err(Problem::Malformed(problem)) => Err(malformed(path, name, &problem)),
    }
}

/// Why a settings file was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// It is not a profile: what is wrong, without the file's content.
    Malformed(String),
    /// It is a profile of a later format version.
    Newer(u64),
}

/// Parses a settings file; the error says what is wrong without quoting the
/// file's content.
pub(crate) fn parse(bytes: &[u8]) -> Result<Profile, Problem> {
    let located = |e: &serde_json::Error, what: &str| {
        Problem::Malformed(format!(
            "{what} at line {}, column {}",
            e.line(),
            e.column()
        ))
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| located(&e, "not valid JSON"))?;
    let object = value
        .as_object()
        .ok_or_else(|| Problem::Malformed("not a JSON object".to_owned()))?;
    let version = object
        .get("version")
        .ok_or_else(|| Problem::Malformed("no \"version\" field".to_owned()))?;
    match version.as_u64() {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) if v > u64::from(VERSION) => return Err(Problem::Newer(v)),
        _ => return Err(Problem::Malformed("unknown \"version\"".to_owned())),
    }
    let profile: Profile = serde_json::from_slice(bytes).map_err(|e| {
        // serde's message names the field at fault; a wrong value would be
        // quoted in it, so only "missing field" messages are shown whole.
        let message = e.to_string();
        match message.split(" at line").next() {
            Some(missing) if missing.starts_with("missing field") => {
                Problem::Malformed(missing.to_owned())
            }
            _ => located(
                &e,
                "a field has the wrong type or value (client_type: public or confidential; \
                 scopes: a list of strings)",
            ),
        }
    })?;
    if profile.client_id.trim().is_empty() {
        return Err(Problem::Malformed("an empty \"client_id\"".to_owned()));
    }
    Ok(profile)
}

/// The failure of a settings file that exists but cannot be read.
fn unreadable(path: &Path, problem: &str) -> Failure {
    Failure::config(format!(
        "cannot read the profile file {}: {problem}; fix its permissions, or remove it",
        path.display()
    ))
}

/// The failure of a settings file that is not a profile.
fn malformed(path: &Path, name: &ProfileName, problem: &str) -> Failure {
    let path = path.display();
    Failure::config(format!(
        "the profile file {path} is malformed ({problem}): fix it, or remove it \
         (rm {path}) and run `{} login` again",
        name.command()
    ))
}

/// Writes `profile` to `path` atomically, mode 0600.
pub fn save(path: &Path, profile: &Profile) -> Result<(), Failure> {
    let mut json = serde_json::to_vec_pretty(profile)
        .map_err(|e| Failure::config(format!("cannot encode the profile: {e}")))?;
    json.push(b'\n');
    private_file::write(path, &json).map_err(|e| {
        Failure::config(format!(
            "cannot write the profile file {}: {e}",
            path.display()
        ))
    })
}

/// The names of the profiles saved in `dir` (`profiles/` in the config
/// directory), sorted; files that are not `NAME.json` with a valid name are
/// skipped. An absent folder has none.
pub fn saved_names(dir: &Path) -> Result<Vec<ProfileName>, Failure> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Failure::config(format!(
                "cannot list the profiles in {}: {e}",
                dir.display()
            )));
        }
    };
    let mut names: Vec<ProfileName> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path: PathBuf = entry.path();
            if path.extension()? != "json" {
                return None;
            }
            let stem = path.file_stem()?.to_str()?;
            ProfileName::parse(stem).ok()
        })
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            version: VERSION,
            client_id: "id".into(),
            redirect_uri: "http://127.0.0.1/callback".into(),
            client_type: ClientType::Confidential,
            scopes: vec!["a".into()],
            store: None,
        }
    }

    #[test]
    fn saved_profiles_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let name = ProfileName::parse("work").unwrap();
        let path = dir.path().join("profiles").join("work.json");
        assert_eq!(load(&path, &name).unwrap(), None);
        save(&path, &profile()).unwrap();
        assert_eq!(load(&path, &name).unwrap(), Some(profile()));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"version\": 1"), "{text}");
        assert!(text.contains("\"client_type\": \"confidential\""), "{text}");
        assert!(!text.contains("store"), "{text}");
        std::fs::write(dir.path().join("profiles").join("not a name.json"), "").unwrap();
        std::fs::write(dir.path().join("profiles").join("notes.txt"), "").unwrap();
        assert_eq!(saved_names(&dir.path().join("profiles")).unwrap(), [name]);
    }

    #[test]
    fn malformed_files_say_what_and_never_quote_values() {
        let bad = |text: &str| match parse(text.as_bytes()).unwrap_err() {
            Problem::Malformed(problem) => problem,
            newer => panic!("{newer:?}"),
        };
        assert!(bad("{ not json").starts_with("not valid JSON at line 1"));
        assert_eq!(bad("[1]"), "not a JSON object");
        assert_eq!(bad("\"x\""), "not a JSON object");
        assert_eq!(bad(r#"{"client_id": "x"}"#), "no \"version\" field");
        assert_eq!(parse(br#"{"version": 2}"#).unwrap_err(), Problem::Newer(2));
        assert_eq!(bad(r#"{"version": "x"}"#), "unknown \"version\"");
        assert_eq!(
            bad(r#"{"version": 1, "redirect_uri": "u", "client_type": "public"}"#),
            "missing field `client_id`"
        );
        let wrong = bad(
            r#"{"version": 1, "client_id": "i", "redirect_uri": "u", "client_type": "secret-value-here"}"#,
        );
        assert!(!wrong.contains("secret-value-here"), "{wrong}");
        assert!(wrong.contains("client_type"), "{wrong}");
        assert_eq!(
            bad(
                r#"{"version": 1, "client_id": " ", "redirect_uri": "u", "client_type": "public"}"#
            ),
            "an empty \"client_id\""
        );
        // Unknown fields (a later minor addition) are ignored.
        let ok = parse(
            br#"{"version": 1, "client_id": "i", "redirect_uri": "u", "client_type": "public", "extra": 1}"#,
        )
        .unwrap();
        assert!(ok.scopes.is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: if std::env::var_os("PROPTEST_CASES").is_some() {
                proptest::test_runner::Config::default().cases
            } else {
                256
            },
            ..proptest::test_runner::Config::default()
        })]

        /// Any profile file (hand-edited, a secret where none belongs):
        /// no panic, a one-line problem that quotes no value, and a
        /// profile read saves and reads back equal.
        #[test]
        fn any_profile_file_reads_or_is_refused_without_quoting_it(
            input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)
        ) {
            use crate::generators::{Gen, has_marker, json, mutate_bytes};
            let mut g = Gen::new(&input);
            let valid = json::profile(&mut g);
            let bytes = if g.chance(1, 3) { mutate_bytes(&mut g, &valid) } else { valid.into_bytes() };
            match parse(&bytes) {
                Ok(profile) => {
                    let saved = serde_json::to_vec_pretty(&profile).unwrap();
                    proptest::prop_assert_eq!(parse(&saved), Ok(profile));
                }
                Err(Problem::Malformed(problem)) => {
                    proptest::prop_assert!(!has_marker(&problem) && !problem.contains('\n'), "{}", problem);
                }
                Err(Problem::Newer(version)) => proptest::prop_assert!(version > u64::from(VERSION)),
            }
        }
    }

    #[test]
    fn malformed_message_is_one_line_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("work.json");
        std::fs::write(&path, "{\n oops").unwrap();
        let name = ProfileName::parse("work").unwrap();
        let failure = load(&path, &name).unwrap_err();
        assert_eq!(failure.exit, crate::exit::Exit::Config);
        assert!(!failure.message.contains('\n'), "{}", failure.message);
        assert!(failure.message.contains(&path.display().to_string()));
        assert!(
            failure
                .message
                .contains("spotify-auth --profile work login")
        );
    }
}
