//! The users: their session ids, their token caches (a file or a Redis key
//! each), and their `AuthorizationCode`s, built on first use and kept.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use spotify_auth::asynchronous::AuthorizationCode;
use spotify_auth::{ClientSecret, FileTokenCache, Scopes, TokenCache};

/// The Spotify app the service logs users in to.
#[derive(Clone)]
pub struct Client {
    /// The app's client id.
    pub id: String,
    /// The app's secret; `None` for a public client (PKCE).
    pub secret: Option<ClientSecret>,
    /// This service's `/callback`, as registered for the app.
    pub redirect_uri: String,
    /// The scopes every user is asked for.
    pub scope: Scopes,
}

/// A session id: 256 random bits, base64url, in the `sid` cookie. Whoever
/// holds it acts as that user, so it is never printed (no `Debug`) and
/// never stored: files, keys and log lines use its [`user_key`](Self::user_key).
pub struct SessionId(String);

impl SessionId {
    /// A new random session id.
    pub fn new() -> io::Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(io::Error::other)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A session id from a cookie: exactly what [`new`](Self::new) makes
    /// (43 base64url characters), anything else is refused.
    pub fn parse(value: &str) -> Option<Self> {
        let well_formed = value.len() == 43
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(value.to_owned()))
    }

    /// The cookie value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The user's key: base64url(SHA-256(session id)). Names the user's
    /// token file or Redis key, and the user in log lines.
    pub fn user_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// Where the users' tokens are kept.
#[derive(Clone)]
pub enum TokenStore {
    /// `{dir}/{user}.json`, one `FileTokenCache` each.
    Files(PathBuf),
    /// `spotify:token:{user}`, one `RedisTokenCache` each, all from one
    /// store: one connection pool for every user.
    #[cfg(feature = "redis")]
    Redis(spotify_auth::RedisStore),
}

impl TokenStore {
    /// The token cache of `user` (a [`SessionId::user_key`]). Opens nothing:
    /// a file or a connection is used only when the token is read or written.
    pub fn cache(&self, user: &str) -> Box<dyn TokenCache> {
        match self {
            TokenStore::Files(dir) => {
                Box::new(FileTokenCache::new(dir.join(format!("{user}.json"))))
            }
            #[cfg(feature = "redis")]
            TokenStore::Redis(store) => Box::new(store.cache(format!("spotify:token:{user}"))),
        }
    }
}

/// At most this many users' instances are kept; past it one is dropped (it
/// is rebuilt when needed: the token is in its cache, not in the instance).
const MAX_INSTANCES: usize = 10_000;

/// Every user's `AuthorizationCode`, built on first use.
pub struct Users {
    client: Client,
    accounts_base_url: String,
    tokens: TokenStore,
    instances: Mutex<HashMap<String, Arc<AuthorizationCode>>>,
}

impl Users {
    /// Checks the settings by building one instance.
    pub fn new(
        client: Client,
        accounts_base_url: &str,
        tokens: TokenStore,
    ) -> spotify_auth::Result<Self> {
        let users = Self {
            client,
            accounts_base_url: accounts_base_url.to_owned(),
            tokens,
            instances: Mutex::new(HashMap::new()),
        };
        users.build("settings-check")?;
        Ok(users)
    }

    /// The instance of `user`, built now if there is none.
    pub fn get(&self, user: &str) -> spotify_auth::Result<Arc<AuthorizationCode>> {
        let mut instances = self.lock();
        if let Some(auth) = instances.get(user) {
            return Ok(Arc::clone(auth));
        }
        if instances.len() >= MAX_INSTANCES
            && let Some(any) = instances.keys().next().cloned()
        {
            instances.remove(&any);
        }
        let auth = Arc::new(self.build(user)?);
        instances.insert(user.to_owned(), Arc::clone(&auth));
        Ok(auth)
    }

    /// The instance of `user` if they are logged in (or were until their
    /// token was refused): the one in the map, or a new one when their cache
    /// holds a token. `None` otherwise, without building anything or taking
    /// any lock: a request with a made-up session id costs one read.
    pub async fn logged_in(
        &self,
        user: &str,
    ) -> spotify_auth::Result<Option<Arc<AuthorizationCode>>> {
        if let Some(auth) = self.lock().get(user) {
            return Ok(Some(Arc::clone(auth)));
        }
        let cache = self.tokens.cache(user);
        let stored = tokio::task::spawn_blocking(move || cache.get())
            .await
            .map_err(|e| spotify_auth::Error::Cache {
                path: None,
                message: e.to_string(),
                source: None,
            })??;
        match stored {
            Some(_) => self.get(user).map(Some),
            None => Ok(None),
        }
    }

    /// Drops the instance of `user` (after a logout).
    pub fn forget(&self, user: &str) {
        self.lock().remove(user);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AuthorizationCode>>> {
        self.instances.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A user's instance: default settings (so the one default HTTP client
    /// of the process), the app's client, the user's own cache.
    fn build(&self, user: &str) -> spotify_auth::Result<AuthorizationCode> {
        let mut builder = AuthorizationCode::builder()
            .read_environment(false)
            .client_id(&self.client.id)
            .redirect_uri(&self.client.redirect_uri)
            .scope(self.client.scope.clone())
            .accounts_base_url(&self.accounts_base_url)
            .token_cache(self.tokens.cache(user));
        if let Some(secret) = &self.client.secret {
            builder = builder.client_secret(secret.clone());
        }
        builder.build()
    }
}
