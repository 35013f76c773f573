//! The settings the commands share, resolved from flags, the environment, the
//! profile saved by `login`, and defaults (in that order): the profile, the
//! store of its login, the client id, the redirect URI, the accounts service;
//! and the `AuthorizationCode` made from them.

use std::cell::OnceCell;
use std::path::PathBuf;

use spotify_auth::blocking::AuthorizationCode;
use spotify_auth::{ClientSecret, ENV_CLIENT_SECRET, RefreshToken, Scopes, TokenCache};
use url::Url;

use crate::args::GlobalArgs;
use crate::exit::Failure;
use crate::paths;
use crate::profile::{self, ClientType, Profile};
use crate::profile_name::ProfileName;
use crate::store::{self, Store};

/// The redirect URI used when no flag, variable or profile gives one.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8888/callback";

/// For tests only: the base URL of the accounts service (`/authorize` and
/// `/api/token` under it) instead of `https://accounts.spotify.com`.
pub const ENV_ACCOUNTS_URL: &str = "SPOTIFY_AUTH_ACCOUNTS_URL";

/// A flag or environment value, with blank values counted as missing.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Whether `SPOTIFY_SDK_CLIENT_SECRET` is set (to anything but blanks): the
/// app is then confidential. Only its presence is looked at here; the library
/// reads the value itself.
pub fn secret_given() -> bool {
    std::env::var_os(ENV_CLIENT_SECRET).is_some_and(|v| !v.to_string_lossy().trim().is_empty())
}

/// Whether a command may start a profile that has no settings file yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// `token`, `status`, `logout`: a named profile must have been saved
    /// (`default` may be unsaved: its settings then come from the
    /// environment, as before profiles existed).
    Saved,
    /// `login`: any profile, saved by this command.
    AnyProfile,
}

/// A command's profile and the store of its login.
#[derive(Debug)]
pub struct Setup {
    /// The profile's name.
    pub name: ProfileName,
    /// Its settings file (`None` without a config directory).
    pub profile_path: Option<PathBuf>,
    /// What its settings file holds, when it exists.
    pub saved: Option<Profile>,
    /// Where its login is kept.
    pub store: Store,
    /// Whether `--cache` or `SPOTIFY_SDK_TOKEN_CACHE` chose the store.
    pub store_given: bool,
    /// The client secret kept in the keychain, once looked up.
    keychain_secret: OnceCell<Option<ClientSecret>>,
}

/// The profile named by `--profile` / `SPOTIFY_AUTH_PROFILE`, read, and its
/// store: `--cache` / `SPOTIFY_SDK_TOKEN_CACHE`, else the one the profile
/// recorded, else its default place. Fails (exit 2) on a bad name, a
/// malformed settings file, or, for [`Need::Saved`], a named profile that
/// was never saved.
pub fn setup(global: &GlobalArgs, need: Need) -> Result<Setup, Failure> {
    let name = ProfileName::parse(global.profile.trim())?;
    let cache = global.cache.clone().filter(|p| !p.as_os_str().is_empty());
    let config_dir = match (paths::config_dir(), &cache) {
        (Some(dir), _) => Some(dir),
        // Without a config directory only the default profile with a given
        // token file works (as before profiles), and saves nothing.
        (None, Some(_)) if name.is_default() => None,
        (None, _) => Some(paths::require_config_dir()?),
    };
    let profile_path = config_dir
        .as_deref()
        .map(|dir| paths::profile_file(dir, &name));
    let saved = match &profile_path {
        Some(path) => profile::load(path, &name)?,
        None => None,
    };
    if saved.is_none() && !name.is_default() && need == Need::Saved {
        return Err(Failure::config(format!(
            "profile {:?} does not exist: log in with `{} login` \
             (`spotify-auth profiles` lists the profiles)",
            name.as_str(),
            name.command()
        )));
    }
    let store_given = cache.is_some();
    let store = match (cache, saved.as_ref().and_then(|p| p.store.as_ref())) {
        (Some(path), _) => Store::File(path),
        (None, Some(setting)) => Store::from_setting(setting),
        (None, None) => {
            let dir = match &config_dir {
                Some(dir) => dir.clone(),
                None => paths::require_config_dir()?,
            };
            Store::File(paths::default_token_file(&dir, &name))
        }
    };
    Ok(Setup {
        name,
        profile_path,
        saved,
        store,
        store_given,
        keychain_secret: OnceCell::new(),
    })
}

/// What `login` was asked about where to keep the login.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoragePolicy {
    /// `--insecure-storage`: the profile's token file, on purpose.
    pub insecure: bool,
    /// `--require-keychain`: the keychain, or fail.
    pub require_keychain: bool,
}

impl Setup {
    /// Whether the store is the profile's default token file, chosen by
    /// nobody (no `--cache`, none recorded in the profile): a login from
    /// before the keychain, or one kept there because there was no
    /// keychain.
    pub fn store_is_default_file(&self) -> bool {
        !self.store_given
            && matches!(self.store, Store::File(_))
            && self.saved.as_ref().and_then(|p| p.store.as_ref()).is_none()
    }

    /// Chooses where `login` keeps the login, before anything is written:
    ///
    /// 1. `--cache` / `SPOTIFY_SDK_TOKEN_CACHE`: that file;
    /// 2. `--insecure-storage`: the profile's default token file;
    /// 3. a file an earlier `--cache` recorded in the profile: that file
    ///    (unless `--require-keychain`);
    /// 4. otherwise the keychain, when there is one; with none, the
    ///    default token file and `Some(why)` (the caller warns), or, with
    ///    `--require-keychain`, a configuration failure (exit 2).
    pub fn choose_login_store(&mut self, policy: StoragePolicy) -> Result<Option<String>, Failure> {
        if self.store_given {
            if policy.require_keychain {
                return Err(Failure::config(
                    "--require-keychain: --cache / SPOTIFY_SDK_TOKEN_CACHE name a token file;                      drop one or the other (nothing was written)",
                ));
            }
            return Ok(None);
        }
        if policy.insecure {
            self.store = Store::File(self.default_token_file()?);
            return Ok(None);
        }
        if !policy.require_keychain
            && matches!(self.store, Store::File(_))
            && !self.store_is_default_file()
        {
            return Ok(None);
        }
        let keychain = Store::keychain_for(&self.name);
        match store::probe_keychain(&keychain) {
            Ok(()) => {
                self.store = keychain;
                Ok(None)
            }
            Err(why) if policy.require_keychain => Err(Failure::config(format!(
                "--require-keychain: no keychain available ({why}); nothing was written"
            ))),
            Err(why) => {
                self.store = Store::File(self.default_token_file()?);
                Ok(Some(why))
            }
        }
    }

    /// The profile's default token file.
    fn default_token_file(&self) -> Result<PathBuf, Failure> {
        let dir = paths::require_config_dir()?;
        Ok(paths::default_token_file(&dir, &self.name))
    }

    /// The client secret `token` and `login` use when
    /// `SPOTIFY_SDK_CLIENT_SECRET` is not set: the one kept in the keychain
    /// for the client id, when the profile is a confidential app's and its
    /// login is in the keychain. Looked up once.
    pub fn keychain_secret(&self, global: &GlobalArgs) -> Option<&ClientSecret> {
        self.keychain_secret
            .get_or_init(|| {
                if secret_given() || !self.store.is_keychain() || !self.saved_as_confidential() {
                    return None;
                }
                store::stored_client_secret(&self.client_id_or_none(global)?)
            })
            .as_ref()
    }

    /// The client id: `--client-id`, `SPOTIFY_SDK_CLIENT_ID`, else the
    /// profile's; `None` when none gives one.
    pub fn client_id_or_none(&self, global: &GlobalArgs) -> Option<String> {
        given(&global.client_id)
            .map(str::to_owned)
            .or_else(|| self.saved.as_ref().map(|p| p.client_id.clone()))
    }

    /// [`client_id_or_none`](Self::client_id_or_none), or a failure saying
    /// how to give one (exit 2).
    pub fn client_id(&self, global: &GlobalArgs) -> Result<String, Failure> {
        self.client_id_or_none(global).ok_or_else(|| {
            Failure::config(format!(
                "no client id for profile {:?}: pass --client-id or set SPOTIFY_SDK_CLIENT_ID \
                 (the app's id in Spotify's developer dashboard); `{} login` saves it",
                self.name.as_str(),
                self.name.command()
            ))
        })
    }

    /// The redirect URI as configured: `--redirect-uri`,
    /// `SPOTIFY_SDK_REDIRECT_URI`, the profile's, or the default.
    pub fn configured_redirect_uri(&self, global: &GlobalArgs) -> String {
        given(&global.redirect_uri)
            .map(str::to_owned)
            .or_else(|| self.saved.as_ref().map(|p| p.redirect_uri.clone()))
            .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_owned())
    }

    /// The redirect URI to use, with its port replaced by `port` when given.
    pub fn redirect_uri(&self, global: &GlobalArgs, port: Option<u16>) -> Result<String, Failure> {
        with_port(&self.configured_redirect_uri(global), port)
    }

    /// Whether the profile was saved for a confidential app (whose refresh
    /// needs the secret).
    pub fn saved_as_confidential(&self) -> bool {
        self.saved
            .as_ref()
            .is_some_and(|p| p.client_type == ClientType::Confidential)
    }

    /// The client on the profile's store, for `login` and `token`: the
    /// secret only from `SPOTIFY_SDK_CLIENT_SECRET` (read by the library;
    /// none means PKCE), the accounts service from
    /// `SPOTIFY_AUTH_ACCOUNTS_URL` when set.
    pub fn client(
        &self,
        global: &GlobalArgs,
        redirect_uri: &str,
        scope: Option<Scopes>,
    ) -> Result<AuthorizationCode, Failure> {
        self.client_on(global, redirect_uri, scope, self.store.token_cache(), None)
    }

    /// The same client on another store, with `refresh_token` to start from
    /// (`login --with-refresh-token`).
    pub fn client_on(
        &self,
        global: &GlobalArgs,
        redirect_uri: &str,
        scope: Option<Scopes>,
        cache: Box<dyn TokenCache>,
        refresh_token: Option<RefreshToken>,
    ) -> Result<AuthorizationCode, Failure> {
        let client_id = self.client_id(global)?;
        let mut builder = AuthorizationCode::builder()
            .client_id(client_id)
            .redirect_uri(redirect_uri)
            .token_cache(cache);
        if let Some(scope) = scope {
            builder = builder.scope(scope);
        }
        if let Some(refresh_token) = refresh_token {
            builder = builder.refresh_token(refresh_token);
        }
        if let Some(secret) = self.keychain_secret(global) {
            builder = builder.client_secret(secret.clone());
        }
        if let Some(base) = std::env::var(ENV_ACCOUNTS_URL)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            builder = builder.accounts_base_url(base.trim());
        }
        builder.build().map_err(|e| Failure::from_error(&e))
    }

    /// A client for `logout`, which sends nothing to Spotify: the client id
    /// when there is one, else a placeholder, so that logging out never asks
    /// for settings it does not use.
    pub fn client_for_logout(&self, global: &GlobalArgs) -> Result<AuthorizationCode, Failure> {
        let client_id = self
            .client_id_or_none(global)
            .unwrap_or_else(|| "spotify-auth-logout".to_owned());
        AuthorizationCode::builder()
            .client_id(client_id)
            .redirect_uri(DEFAULT_REDIRECT_URI)
            .read_environment(false)
            .token_cache(self.store.token_cache())
            .build()
            .map_err(|e| Failure::from_error(&e))
    }

    /// Another profile whose login is kept in the same store as this one's
    /// (a `--cache` or `SPOTIFY_SDK_TOKEN_CACHE` that names another
    /// profile's token file): a login here replaces that profile's.
    pub fn store_shared_with(&self) -> Option<ProfileName> {
        let config = paths::config_dir()?;
        let mut names = profile::saved_names(&paths::profiles_dir(&config)).ok()?;
        names.push(ProfileName::default_profile());
        let ours = self.store.to_setting();
        names.into_iter().find(|other| {
            if *other == self.name {
                return false;
            }
            let path = paths::profile_file(&config, other);
            let recorded = profile::load(&path, other)
                .ok()
                .flatten()
                .and_then(|p| p.store);
            let theirs = match recorded {
                Some(setting) => Store::from_setting(&setting),
                None => Store::File(paths::default_token_file(&config, other)),
            };
            theirs.to_setting() == ours
        })
    }

    /// Saves the profile after a successful login: the client id and
    /// redirect URI used, public or confidential (whether a secret was
    /// used, from the environment or the keychain; never the secret),
    /// `scopes`, and the store unless it is the default token file (the
    /// keychain, a file `--cache` chose or the profile recorded). Returns
    /// the file written, `None` when there is no config directory to write
    /// it in.
    pub fn save(
        &self,
        global: &GlobalArgs,
        client_id: &str,
        scopes: Vec<String>,
    ) -> Result<Option<&PathBuf>, Failure> {
        let Some(path) = &self.profile_path else {
            return Ok(None);
        };
        let recorded = self.saved.as_ref().and_then(|p| p.store.clone());
        let store = match &self.store {
            Store::Keychain { .. } => Some(self.store.to_setting()),
            Store::File(_) if self.store_given => Some(self.store.to_setting()),
            Store::File(_) => recorded.filter(|r| *r == self.store.to_setting()),
        };
        let profile = Profile {
            version: profile::VERSION,
            client_id: client_id.to_owned(),
            redirect_uri: self.configured_redirect_uri(global),
            client_type: if secret_given() || self.keychain_secret(global).is_some() {
                ClientType::Confidential
            } else {
                ClientType::Public
            },
            scopes,
            store,
        };
        profile::save(path, &profile)?;
        Ok(Some(path))
    }
}

/// Checks `uri` and replaces its port with `port` when given.
fn with_port(uri: &str, port: Option<u16>) -> Result<String, Failure> {
    let mut url = Url::parse(uri).map_err(|e| {
        Failure::config(format!(
            "invalid redirect URI {uri:?} ({e}); e.g. {DEFAULT_REDIRECT_URI}"
        ))
    })?;
    if let Some(port) = port {
        url.set_port(Some(port)).map_err(|()| {
            Failure::config(format!(
                "--port: the redirect URI {uri:?} cannot have a port"
            ))
        })?;
        return Ok(url.into());
    }
    Ok(uri.to_owned())
}

/// Closes the client before the process ends: waits for a refresh still
/// running beside the callers (a token inside its refresh margin is
/// refreshed ahead, on a thread of its own) and makes a write still owed
/// to the store, so that exiting never loses a token Spotify rotated. What
/// cannot be finished is said on stderr (stdout carries results only).
pub fn close(auth: AuthorizationCode) {
    if let Err(e) = auth.close() {
        eprintln!("warning: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_replaces_the_port_of_whichever_uri_is_used() {
        assert_eq!(
            with_port(DEFAULT_REDIRECT_URI, None).unwrap(),
            DEFAULT_REDIRECT_URI
        );
        assert_eq!(
            with_port(DEFAULT_REDIRECT_URI, Some(9000)).unwrap(),
            "http://127.0.0.1:9000/callback"
        );
        assert_eq!(
            with_port("http://[::1]:1/cb?x=1", Some(4242)).unwrap(),
            "http://[::1]:4242/cb?x=1"
        );
        assert!(with_port("not a url", None).is_err());
    }

    #[test]
    fn missing_client_id_is_a_config_failure() {
        let setup = Setup {
            name: ProfileName::default_profile(),
            profile_path: None,
            saved: None,
            store: Store::File("x".into()),
            store_given: true,
            keychain_secret: OnceCell::new(),
        };
        let global = GlobalArgs {
            profile: "default".into(),
            cache: None,
            client_id: Some("  ".into()),
            redirect_uri: None,
        };
        let failure = setup
            .client(&global, DEFAULT_REDIRECT_URI, None)
            .unwrap_err();
        assert_eq!(failure.exit, crate::exit::Exit::Config);
        assert!(failure.message.contains("SPOTIFY_SDK_CLIENT_ID"));
        assert_eq!(setup.configured_redirect_uri(&global), DEFAULT_REDIRECT_URI);
    }
}
