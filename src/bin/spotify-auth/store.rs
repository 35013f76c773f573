//! Where a profile's login is kept, and every use the tool makes of it
//! directly: the OS keychain (the library's `KeyringTokenCache`: the item of
//! service `spotify-auth` and the profile's name), or a token file (its
//! `FileTokenCache`, mode 0600). `login` chooses (`settings.rs`); the
//! profile records the choice. A confidential app's client secret may be
//! kept in the keychain too ([`stored_client_secret`]).
//!
//! The commands otherwise go through the library's `AuthorizationCode`
//! (`get_access_token`, `force_refresh`, `logout`), given
//! [`Store::token_cache`]; what they read of the store without it (`status`,
//! `profiles`, the expiry `token --format json` prints) goes through
//! [`Store::read`] and [`current`].

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use spotify_auth::blocking::AuthorizationCode;
use spotify_auth::{
    ClientSecret, Entry, Error, FileTokenCache, KeyringTokenCache, TokenCache, TokenInfo,
};

use crate::paths;
use crate::profile_name::ProfileName;

/// The keychain service of every login the tool keeps there.
pub const KEYCHAIN_SERVICE: &str = "spotify-auth";

/// The keychain service of the client secrets, one item per client id.
pub const SECRET_SERVICE: &str = "spotify-auth:client-secret";

/// How long asking whether there is a keychain may take (a keychain that
/// hangs, waiting for an unlock prompt nobody sees, counts as none).
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A profile's store as its settings file records it, when it is not the
/// default token file: `{"type": "file", "path": "/abs/token.json"}` or
/// `{"type": "keychain", "service": "spotify-auth", "user": "default"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum StoreSetting {
    /// A token file at `path`.
    File {
        /// The file's absolute path.
        path: PathBuf,
    },
    /// The OS keychain's item of `service` and `user`.
    Keychain {
        /// The item's service.
        service: String,
        /// The item's user.
        user: String,
    },
}

/// Where one login is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// A JSON token file (atomic writes, 0600, a cross-process lock on
    /// `{path}.lock`).
    File(PathBuf),
    /// The OS keychain's item of `service` and `user` (a lock file in the
    /// user's cache directory, the library's default for the item).
    Keychain {
        /// The item's service.
        service: String,
        /// The item's user.
        user: String,
    },
}

impl Store {
    /// The keychain item of profile `name`: service `spotify-auth`, user
    /// the profile's name, or `NAME@CONFIG_DIR` when
    /// `SPOTIFY_AUTH_CONFIG_DIR` names another config directory (whose
    /// profiles are others, and must not share items with the usual ones).
    pub fn keychain_for(name: &ProfileName) -> Self {
        let user = match paths::config_dir_override() {
            Some(dir) => {
                let dir = std::path::absolute(&dir).unwrap_or(dir);
                format!("{}@{}", name.as_str(), dir.display())
            }
            None => name.as_str().to_owned(),
        };
        Store::Keychain {
            service: KEYCHAIN_SERVICE.to_owned(),
            user,
        }
    }

    /// The store a setting names.
    pub fn from_setting(setting: &StoreSetting) -> Self {
        match setting {
            StoreSetting::File { path } => Store::File(path.clone()),
            StoreSetting::Keychain { service, user } => Store::Keychain {
                service: service.clone(),
                user: user.clone(),
            },
        }
    }

    /// The setting that names this store, for a profile's file (a relative
    /// path is made absolute, so that it means the same from any directory).
    pub fn to_setting(&self) -> StoreSetting {
        match self {
            Store::File(path) => StoreSetting::File {
                path: std::path::absolute(path).unwrap_or_else(|_| path.clone()),
            },
            Store::Keychain { service, user } => StoreSetting::Keychain {
                service: service.clone(),
                user: user.clone(),
            },
        }
    }

    /// The kind of store, for `status --json` and `profiles --json`:
    /// `"file"` or `"keychain"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::File(_) => "file",
            Store::Keychain { .. } => "keychain",
        }
    }

    /// The file holding the login, for a file store.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Store::File(path) => Some(path),
            Store::Keychain { .. } => None,
        }
    }

    /// The keychain item's service and user, for a keychain store.
    pub fn keychain_item(&self) -> Option<(&str, &str)> {
        match self {
            Store::File(_) => None,
            Store::Keychain { service, user } => Some((service, user)),
        }
    }

    /// Whether the login is in the keychain.
    pub fn is_keychain(&self) -> bool {
        matches!(self, Store::Keychain { .. })
    }

    /// Where the login is, for people: `file /home/me/.config/…/token.json`,
    /// `keychain (service spotify-auth, user default)`.
    pub fn describe(&self) -> String {
        match self {
            Store::File(path) => format!("file {}", path.display()),
            Store::Keychain { service, user } => {
                format!("keychain (service {service}, user {user})")
            }
        }
    }

    /// The token cache to give the library's `AuthorizationCode`.
    pub fn token_cache(&self) -> Box<dyn TokenCache> {
        match self {
            Store::File(path) => Box::new(FileTokenCache::new(path)),
            Store::Keychain { service, user } => {
                Box::new(KeyringTokenCache::new(service.as_str(), user.as_str()))
            }
        }
    }

    /// The stored token, read directly (no lock, no network). A store that
    /// cannot be read is an error, never `None`.
    pub fn read(&self) -> Result<Option<TokenInfo>, Error> {
        self.token_cache().get()
    }

    /// Whether the store holds a login a logout would end: a token, or
    /// something that cannot be read (a corrupt file). Nothing, or the
    /// record of a login that ended (a logout, a refusal), is no login.
    /// Reads without creating anything (no lock file).
    pub fn has_login(&self) -> bool {
        match self.token_cache().read() {
            Ok(None | Some(Entry::Ended(_))) => false,
            Ok(Some(entry @ Entry::Recovering(_))) => entry.token().is_some(),
            _ => true,
        }
    }

    /// Stores `token` as the login, replacing whatever was there, under the
    /// store's lock (for `login --with-refresh-token`, whose token was had
    /// without this store).
    pub fn replace(&self, token: &TokenInfo) -> Result<(), Error> {
        self.token_cache().set(token)
    }

    /// The file's permission bits (Unix), `None` when it does not exist or
    /// the store is not a file.
    pub fn file_mode(&self) -> Option<u32> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            self.path()
                .and_then(|p| std::fs::metadata(p).ok())
                .map(|m| m.permissions().mode() & 0o7777)
        }
        #[cfg(not(unix))]
        None
    }
}

/// Whether the OS keychain can be used for `store` (a keychain store):
/// `Err` with the reason, one line, when it cannot (no keychain on this
/// platform, no Secret Service on the session bus, a keychain that did not
/// answer within 10 s). Looks the item up without changing anything.
pub fn probe_keychain(store: &Store) -> Result<(), String> {
    let Some((service, user)) = store.keychain_item() else {
        return Ok(());
    };
    let cache = KeyringTokenCache::new(service, user);
    let (tx, rx) = mpsc::channel();
    // A thread of its own, so that a keychain that never answers cannot
    // hang the command (it is left behind; the process ends soon).
    std::thread::spawn(move || {
        let _ = tx.send(cache.check());
    });
    match rx.recv_timeout(PROBE_TIMEOUT) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(reason(&e)),
        Err(_) => Err(format!(
            "the keychain did not answer within {} s",
            PROBE_TIMEOUT.as_secs()
        )),
    }
}

/// Why the keychain cannot be used, in a line: the platform's own words
/// (the first cause) when it gave some, else the library's.
fn reason(error: &Error) -> String {
    let text = match std::error::Error::source(error) {
        Some(cause) => cause.to_string(),
        None => match error {
            Error::Cache { message, .. } => message.clone(),
            e => e.to_string(),
        },
    };
    text.lines().next().unwrap_or_default().trim().to_owned()
}

/// The client secret of `client_id` kept in the keychain, `None` when there
/// is none (or no keychain). Never printed.
pub fn stored_client_secret(client_id: &str) -> Option<ClientSecret> {
    let store = KeyringTokenCache::platform_store().ok()?;
    let item = keyring_core::Entry::new_in_store(&store, SECRET_SERVICE, client_id).ok()?;
    let secret = item.get_password().ok()?;
    (!secret.trim().is_empty()).then(|| ClientSecret::new(secret))
}

/// Keeps `secret` as `client_id`'s client secret in the keychain; the
/// error says why not, without the secret.
pub fn store_client_secret(client_id: &str, secret: &str) -> Result<(), String> {
    let store = KeyringTokenCache::platform_store().map_err(|e| reason(&e))?;
    keyring_core::Entry::new_in_store(&store, SECRET_SERVICE, client_id)
        .and_then(|item| item.set_password(secret))
        // keyring-core's errors for a write carry no value; said in a
        // line all the same.
        .map_err(|e| match e {
            keyring_core::Error::PlatformFailure(e) | keyring_core::Error::NoStorageAccess(e) => {
                e.to_string()
            }
            _ => "the keychain refused it".to_owned(),
        })
}

/// The login `auth` holds in its store right now (after a
/// `get_access_token` or `force_refresh`: the token it returned, unless
/// another process replaced it since or the write failed).
pub fn current(auth: &AuthorizationCode) -> Result<Option<TokenInfo>, Error> {
    auth.token_cache().get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_is_tagged_and_absolute() {
        let setting = Store::File("relative/token.json".into()).to_setting();
        let StoreSetting::File { path } = &setting else {
            panic!("{setting:?}")
        };
        assert!(path.is_absolute());
        assert!(path.ends_with("relative/token.json"));
        let json = serde_json::to_value(&setting).unwrap();
        assert_eq!(json["type"], "file");
        let back: StoreSetting = serde_json::from_value(json).unwrap();
        assert_eq!(back, setting);
        assert_eq!(
            Store::from_setting(&setting).describe(),
            format!("file {}", path.display())
        );
    }

    #[test]
    fn keychain_setting_round_trips() {
        let store = Store::Keychain {
            service: KEYCHAIN_SERVICE.into(),
            user: "work".into(),
        };
        let json = serde_json::to_value(store.to_setting()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "keychain", "service": "spotify-auth", "user": "work"})
        );
        let back: StoreSetting = serde_json::from_value(json).unwrap();
        assert_eq!(Store::from_setting(&back), store);
        assert_eq!(store.kind(), "keychain");
        assert_eq!(store.path(), None);
        assert_eq!(
            store.describe(),
            "keychain (service spotify-auth, user work)"
        );
    }
}
