//! Where a profile's login is kept, and every use the tool makes of it
//! directly. Today a login is a token file (the library's
//! `FileTokenCache`); another kind of store (the OS keychain) is one more
//! variant of [`Store`] and [`StoreSetting`].
//!
//! The commands otherwise go through the library's `AuthorizationCode`
//! (`get_access_token`, `force_refresh`, `logout`), given
//! [`Store::token_cache`]; what they read of the store without it (`status`,
//! `profiles`, the expiry `token --format json` prints) goes through
//! [`Store::read`] and [`current`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use spotify_auth::blocking::AuthorizationCode;
use spotify_auth::{Entry, Error, FileTokenCache, TokenCache, TokenInfo};

/// A profile's store as its settings file records it, when it is not the
/// default place: `{"type": "file", "path": "/abs/token.json"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum StoreSetting {
    /// A token file at `path`.
    File {
        /// The file's absolute path.
        path: PathBuf,
    },
}

/// Where one login is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// A JSON token file (atomic writes, 0600, a cross-process lock on
    /// `{path}.lock`).
    File(PathBuf),
}

impl Store {
    /// The store a setting names.
    pub fn from_setting(setting: &StoreSetting) -> Self {
        match setting {
            StoreSetting::File { path } => Store::File(path.clone()),
        }
    }

    /// The setting that names this store, for a profile's file (a relative
    /// path is made absolute, so that it means the same from any directory).
    pub fn to_setting(&self) -> StoreSetting {
        match self {
            Store::File(path) => StoreSetting::File {
                path: std::path::absolute(path).unwrap_or_else(|_| path.clone()),
            },
        }
    }

    /// The kind of store, for `status --json` and `profiles --json`: `"file"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::File(_) => "file",
        }
    }

    /// The file holding the login, for a file store.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Store::File(path) => Some(path),
        }
    }

    /// Where the login is, for people: `file /home/me/.config/…/token.json`.
    pub fn describe(&self) -> String {
        match self {
            Store::File(path) => format!("file {}", path.display()),
        }
    }

    /// The token cache to give the library's `AuthorizationCode`.
    pub fn token_cache(&self) -> Box<dyn TokenCache> {
        match self {
            Store::File(path) => Box::new(FileTokenCache::new(path)),
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
        !matches!(self.token_cache().read(), Ok(None | Some(Entry::Ended(_))))
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
        let StoreSetting::File { path } = &setting;
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
}
