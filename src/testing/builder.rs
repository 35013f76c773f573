//! [`FakeSpotifyBuilder`]: the clients, redirect URIs and token settings of a
//! fake server.

use std::collections::HashMap;
use std::fmt;
use std::io;

use super::server::FakeSpotify;
use super::state::Config;

/// Configures and starts a [`FakeSpotify`]; from [`FakeSpotify::builder`].
///
/// Nothing is registered by default: add at least one
/// [`client`](Self::client) and one [`redirect_uri`](Self::redirect_uri).
#[must_use = "call .start() to run the server"]
#[derive(Clone)]
pub struct FakeSpotifyBuilder {
    clients: Vec<(String, Option<String>)>,
    redirect_uris: Vec<String>,
    expires_in: u64,
    rotate_refresh_tokens: bool,
}

impl Default for FakeSpotifyBuilder {
    fn default() -> Self {
        Self {
            clients: Vec::new(),
            redirect_uris: Vec::new(),
            expires_in: 3600,
            rotate_refresh_tokens: false,
        }
    }
}

impl FakeSpotifyBuilder {
    /// Registers a client (an app). With a secret it is confidential and
    /// authenticates with HTTP Basic; with `None` it is public and must use
    /// PKCE. May be called several times; a repeated id replaces the earlier one.
    pub fn client(mut self, client_id: impl Into<String>, client_secret: Option<&str>) -> Self {
        self.clients
            .push((client_id.into(), client_secret.map(str::to_owned)));
        self
    }

    /// Registers a redirect URI, accepted for every client when it matches
    /// exactly. May be called several times.
    pub fn redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uris.push(redirect_uri.into());
        self
    }

    /// The `expires_in` (seconds) of every access token; default 3600.
    pub fn expires_in(mut self, seconds: u64) -> Self {
        self.expires_in = seconds;
        self
    }

    /// When on, refresh tokens are single-use: every refresh response carries
    /// a new one, and the one used becomes
    /// [`Rotated`](super::RefreshTokenStatus::Rotated), refused from then on
    /// with `invalid_grant` ("Invalid refresh token"), even when the response
    /// that carried its successor was lost
    /// ([`Fault::LoseResponse`](super::Fault::LoseResponse)). There is no
    /// grace period. When off (the default, as Spotify usually does), a
    /// refresh token stays valid and refresh responses omit `refresh_token`.
    pub fn rotate_refresh_tokens(mut self, rotate: bool) -> Self {
        self.rotate_refresh_tokens = rotate;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving in background threads.
    ///
    /// Fails when a redirect URI is not an absolute URL, or the socket cannot
    /// be bound.
    pub fn start(self) -> io::Result<FakeSpotify> {
        for uri in &self.redirect_uris {
            if url::Url::parse(uri).is_err() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("fake Spotify: redirect URI {uri:?} is not an absolute URL"),
                ));
            }
        }
        FakeSpotify::start_with(Config {
            clients: self.clients.into_iter().collect::<HashMap<_, _>>(),
            redirect_uris: self.redirect_uris,
            expires_in: self.expires_in,
            rotate_refresh_tokens: self.rotate_refresh_tokens,
        })
    }
}

impl fmt::Debug for FakeSpotifyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clients: Vec<(&str, &str)> = self
            .clients
            .iter()
            .map(|(id, secret)| {
                let kind = if secret.is_some() {
                    "confidential"
                } else {
                    "public"
                };
                (id.as_str(), kind)
            })
            .collect();
        f.debug_struct("FakeSpotifyBuilder")
            .field("clients", &clients)
            .field("redirect_uris", &self.redirect_uris)
            .field("expires_in", &self.expires_in)
            .field("rotate_refresh_tokens", &self.rotate_refresh_tokens)
            .finish()
    }
}
