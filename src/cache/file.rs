//! [`FileTokenCache`]: a JSON file, written atomically with mode 0600.

use std::path::{Path, PathBuf};

use super::{CacheLock, TokenCache};
use crate::{Error, Result, TokenInfo};

/// The default file name, in the current directory.
pub const DEFAULT_PATH: &str = ".spotify_sdk_token.json";

/// A token persisted in a JSON file (the Python library's format).
#[derive(Debug, Clone)]
pub struct FileTokenCache {
    path: PathBuf,
}

impl FileTokenCache {
    /// A cache at `path` (created on the first store, with its parent
    /// directories).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Default for FileTokenCache {
    /// A cache at `.spotify_sdk_token.json` in the current directory.
    fn default() -> Self {
        Self::new(DEFAULT_PATH)
    }
}

impl TokenCache for FileTokenCache {
    fn get(&self) -> Result<Option<TokenInfo>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => TokenInfo::from_json(&bytes).map(Some).map_err(|m| Error::Cache {
                path: Some(self.path.clone()),
                message: m,
                source: None,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::cache_io(&self.path, "cannot read", e)),
        }
    }

    fn set(&self, token: &TokenInfo) -> Result<()> {
        // Placeholder: replaced by the atomic, 0600-from-the-first-byte writer.
        std::fs::write(&self.path, token.to_json())
            .map_err(|e| Error::cache_io(&self.path, "cannot write", e))
    }

    fn clear(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::cache_io(&self.path, "cannot remove", e)),
        }
    }

    fn lock(&self) -> Result<CacheLock> {
        Ok(CacheLock::none())
    }
}
