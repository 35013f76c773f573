//! The settings the commands share, resolved from flags, the environment and
//! defaults: the token cache file, the client id, the redirect URI, the
//! accounts service; and the `AuthorizationCode` made from them.

use std::path::PathBuf;

use spotify_auth::blocking::AuthorizationCode;
use spotify_auth::{FileTokenCache, Scopes};
use url::Url;

use crate::args::GlobalArgs;
use crate::exit::Failure;

/// The redirect URI used when neither `--redirect-uri` nor
/// `SPOTIFY_SDK_REDIRECT_URI` gives one.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8888/callback";

/// For tests only: the base URL of the accounts service (`/authorize` and
/// `/api/token` under it) instead of `https://accounts.spotify.com`.
pub const ENV_ACCOUNTS_URL: &str = "SPOTIFY_AUTH_ACCOUNTS_URL";

/// The cache file's name inside the config directory.
const CACHE_FILE_NAME: &str = "token.json";

/// A flag or environment value, with blank values counted as missing.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The token cache file: `--cache`, `SPOTIFY_SDK_TOKEN_CACHE`, or
/// `token.json` in the platform's config directory.
pub fn cache_path(global: &GlobalArgs) -> Result<PathBuf, Failure> {
    if let Some(path) = global.cache.as_ref().filter(|p| !p.as_os_str().is_empty()) {
        return Ok(path.clone());
    }
    directories::ProjectDirs::from("", "", "spotify-auth")
        .map(|dirs| dirs.config_dir().join(CACHE_FILE_NAME))
        .ok_or_else(|| {
            Failure::config(
                "cannot find a config directory for the token cache (no home directory?): \
                 pass --cache PATH or set SPOTIFY_SDK_TOKEN_CACHE",
            )
        })
}

/// The token cache at [`cache_path`].
pub fn cache(global: &GlobalArgs) -> Result<FileTokenCache, Failure> {
    cache_path(global).map(FileTokenCache::new)
}

/// The redirect URI (`--redirect-uri`, `SPOTIFY_SDK_REDIRECT_URI`, or the
/// default), with its port replaced by `port` when given.
pub fn redirect_uri(global: &GlobalArgs, port: Option<u16>) -> Result<String, Failure> {
    let given = given(&global.redirect_uri).unwrap_or(DEFAULT_REDIRECT_URI);
    let mut url = Url::parse(given).map_err(|e| {
        Failure::config(format!(
            "invalid redirect URI {given:?} ({e}); e.g. {DEFAULT_REDIRECT_URI}"
        ))
    })?;
    if let Some(port) = port {
        url.set_port(Some(port)).map_err(|()| {
            Failure::config(format!(
                "--port: the redirect URI {given:?} cannot have a port"
            ))
        })?;
        return Ok(url.into());
    }
    Ok(given.to_owned())
}

/// The client for `login` and `token`: the client id from the flag or
/// `SPOTIFY_SDK_CLIENT_ID`, the secret only from `SPOTIFY_SDK_CLIENT_SECRET`
/// (read by the library; none means PKCE), the accounts service from
/// `SPOTIFY_AUTH_ACCOUNTS_URL` when set.
pub fn client(
    global: &GlobalArgs,
    cache: FileTokenCache,
    redirect_uri: &str,
    scope: Option<Scopes>,
) -> Result<AuthorizationCode, Failure> {
    let client_id = given(&global.client_id).ok_or_else(|| {
        Failure::config(
            "no client id: pass --client-id or set SPOTIFY_SDK_CLIENT_ID \
             (the app's id in Spotify's developer dashboard)",
        )
    })?;
    let mut builder = AuthorizationCode::builder()
        .client_id(client_id)
        .redirect_uri(redirect_uri)
        .token_cache(cache);
    if let Some(scope) = scope {
        builder = builder.scope(scope);
    }
    if let Some(base) = std::env::var(ENV_ACCOUNTS_URL)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        builder = builder.accounts_base_url(base.trim());
    }
    builder.build().map_err(|e| Failure::from_error(&e))
}

/// A client for `logout`, which sends nothing to Spotify: the configured
/// client id and redirect URI when there are any, else placeholders, so that
/// logging out never asks for settings it does not use.
pub fn client_for_logout(
    global: &GlobalArgs,
    cache: FileTokenCache,
) -> Result<AuthorizationCode, Failure> {
    let client_id = given(&global.client_id).unwrap_or("spotify-auth-logout");
    AuthorizationCode::builder()
        .client_id(client_id)
        .redirect_uri(DEFAULT_REDIRECT_URI)
        .read_environment(false)
        .token_cache(cache)
        .build()
        .map_err(|e| Failure::from_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(redirect: Option<&str>) -> GlobalArgs {
        GlobalArgs {
            cache: None,
            client_id: None,
            redirect_uri: redirect.map(str::to_owned),
        }
    }

    #[test]
    fn port_replaces_the_port_of_whichever_uri_is_used() {
        assert_eq!(
            redirect_uri(&global(None), None).unwrap(),
            DEFAULT_REDIRECT_URI
        );
        assert_eq!(
            redirect_uri(&global(None), Some(9000)).unwrap(),
            "http://127.0.0.1:9000/callback"
        );
        assert_eq!(
            redirect_uri(&global(Some("http://[::1]:1/cb?x=1")), Some(4242)).unwrap(),
            "http://[::1]:4242/cb?x=1"
        );
        assert_eq!(
            redirect_uri(&global(Some("  ")), None).unwrap(),
            DEFAULT_REDIRECT_URI
        );
        assert!(redirect_uri(&global(Some("not a url")), None).is_err());
    }

    #[test]
    fn missing_client_id_is_a_config_failure() {
        let failure = client(
            &global(None),
            FileTokenCache::new("x"),
            DEFAULT_REDIRECT_URI,
            None,
        )
        .unwrap_err();
        assert_eq!(failure.exit, crate::exit::Exit::Config);
        assert!(failure.message.contains("SPOTIFY_SDK_CLIENT_ID"));
    }
}
