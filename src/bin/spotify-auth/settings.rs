//! The settings the commands share, resolved from flags, the environment, the
//! profile saved by `login`, and defaults (in that order): the profile, the
//! store of its login, the client id, the redirect URI, the accounts service;
//! and the `AuthorizationCode` made from them.

use std::path::PathBuf;

use spotify_auth::blocking::AuthorizationCode;
use spotify_auth::{ENV_CLIENT_SECRET, RefreshToken, Scopes, TokenCache};
use url::Url;

use crate::args::GlobalArgs;
use crate::exit::Failure;
use crate::paths;
use crate::profile::{self, ClientType, Profile};
use crate::profile_name::ProfileName;
use crate::store::Store;

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
    })
}

impl Setup {
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
    /// given; never the secret), `scopes`, and the store when `--cache`
    /// chose it (else the one already recorded, if any). Returns the file
    /// written, `None` when there is no config directory to write it in.
    pub fn save(
        &self,
        global: &GlobalArgs,
        client_id: &str,
        scopes: Vec<String>,
    ) -> Result<Option<&PathBuf>, Failure> {
        let Some(path) = &self.profile_path else {
            return Ok(None);
        };
        let store = if self.store_given {
            Some(self.store.to_setting())
        } else {
            self.saved.as_ref().and_then(|p| p.store.clone())
        };
        let profile = Profile {
            version: profile::VERSION,
            client_id: client_id.to_owned(),
            redirect_uri: self.configured_redirect_uri(global),
            client_type: if secret_given() {
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
