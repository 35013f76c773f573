//! [`UserRegistry`]: a ready `AuthorizationCode` per user, made from one
//! template on first use and kept, at most a configurable number of them
//! (in a [`quick_cache`](https://docs.rs/quick_cache) cache).

use std::fmt;
use std::sync::Arc;

use crate::{AuthorizationCodeBuilder, InMemoryTokenCache, Result, TokenCache};

/// How many instances a registry keeps by default: 10,000.
const DEFAULT_CAPACITY: usize = 10_000;

/// The flows a [`UserRegistry`] can hold: `blocking::AuthorizationCode` and
/// `asynchronous::AuthorizationCode` (sealed).
pub trait PerUserFlow: sealed::Sealed + Send + Sync + Sized + 'static {
    /// The mode's HTTP client.
    type HttpClient: Clone + Send + Sync + 'static;

    /// Builds one instance.
    #[doc(hidden)]
    fn build_from(builder: AuthorizationCodeBuilder<Self::HttpClient>) -> Result<Self>;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! per_user_flow {
    ($feature:literal, $mode:ident) => {
        #[cfg(feature = $feature)]
        impl sealed::Sealed for crate::$mode::AuthorizationCode {}

        #[cfg(feature = $feature)]
        impl PerUserFlow for crate::$mode::AuthorizationCode {
            type HttpClient = crate::$mode::HttpClient;

            fn build_from(builder: AuthorizationCodeBuilder<Self::HttpClient>) -> Result<Self> {
                builder.build()
            }
        }
    };
}
// (No blocking API on wasm32, where asking for it is a compile error of its own.)
#[cfg(not(target_arch = "wasm32"))]
per_user_flow!("blocking", blocking);
per_user_flow!("async", asynchronous);

/// What makes a user's token cache from their key.
type Caches = dyn Fn(&str) -> Arc<dyn TokenCache> + Send + Sync;

/// A ready `AuthorizationCode` per user, each built from one template on
/// first use and kept, up to a capacity (`blocking::UserRegistry`,
/// `asynchronous::UserRegistry`).
///
/// ```no_run
/// # #[cfg(feature = "async")]
/// # async fn run() -> spotify_auth::Result<()> {
/// use spotify_auth::asynchronous::{AuthorizationCode, UserRegistry};
/// use spotify_auth::InMemoryStore;
///
/// // At start-up: the app's settings (no token cache, no refresh token),
/// // and where each user's token lives.
/// let template = AuthorizationCode::builder()
///     .client_id("your-client-id")
///     .redirect_uri("https://app.example.com/callback");
/// let store = InMemoryStore::new(); // or a RedisStore, shared by the replicas
/// let users = UserRegistry::new(template, move |user| store.cache(user))?
///     .with_capacity(10_000);
///
/// // Per request: that user's instance, built on first use.
/// let token = users.get("user-42")?.get_access_token().await;
/// # let _ = token;
/// # Ok(())
/// # }
/// ```
///
/// A user is a key
/// you choose (an account id, a hash of a session id: it names the user's
/// token cache, so never a secret); [`get`](Self::get) returns that
/// user's instance, building it the first time: the template's settings,
/// the cache your function makes for the key, and the process's shared
/// HTTP client unless the template gives one. Building one costs
/// microseconds and a few KB, and reads nothing: the instance reads its
/// cache at its first call.
///
/// # The template
///
/// A builder with the app's settings and no token cache or refresh token
/// of its own (refused with an [`Error::Config`](crate::Error::Config):
/// they belong to one user). The `SPOTIFY_SDK_*` environment variables are
/// read once, by [`new`](Self::new), for the settings the template does
/// not give (none with `read_environment(false)`), and never when a user's
/// instance is built: every user gets exactly the registry's settings.
/// `new` builds one instance to check them, so a bad setting is an error
/// there, not at the first user.
///
/// # Eviction, and why it is harmless
///
/// Past the capacity (default 10,000; [`with_capacity`](Self::with_capacity))
/// instances are dropped from the registry, the least used first
/// (quick_cache's S3-FIFO policy: close to least-recently-used, and a burst
/// of one-time users, such as requests with made-up sessions, does not push
/// out the active ones). A dropped instance loses nothing, because the
/// token lives in the user's cache, not in the instance, and the next
/// [`get`](Self::get) builds a new one that reads it:
///
/// - an instance is an `Arc`: callers holding it keep using it after its
///   eviction;
/// - a refresh under way when its instance is evicted runs to its end (in
///   the async API it runs in a task that holds the instance's engine; in
///   the blocking API its caller holds the instance) and stores its token;
/// - the new instance of that user takes the cache's lock before it
///   refreshes, so it waits for that refresh and adopts its token: no
///   second request (tested in `tests/registry.rs`).
///
/// This needs caches that are handles on one shared store: give a function
/// returning `RedisStore::cache(...)`, a `FileTokenCache` of a path named
/// after the user, or [`InMemoryStore::cache`](crate::InMemoryStore::cache)
/// (not a new `InMemoryTokenCache` per call: an evicted user's login would
/// be lost with it).
///
/// Instances dropped without `close()` are not waited for: a service that
/// shuts down should stop taking requests, then call
/// [`remove`](Self::remove) and `close()` on the instances it still uses.
pub struct UserRegistry<A: PerUserFlow> {
    template: AuthorizationCodeBuilder<A::HttpClient>,
    caches: Arc<Caches>,
    instances: quick_cache::sync::Cache<String, Arc<A>>,
    capacity: usize,
}

impl<A: PerUserFlow> UserRegistry<A> {
    /// A registry building each user's instance from `template`, with the
    /// token cache `caches` makes from the user's key. Nothing is built
    /// but one instance with an in-memory cache, to check the settings.
    ///
    /// Errors: [`Error::Config`](crate::Error::Config) for a setting the
    /// template gets wrong (a missing client id names the environment
    /// variable that was read), a token cache or a refresh token in the
    /// template.
    pub fn new<C, F>(template: AuthorizationCodeBuilder<A::HttpClient>, caches: F) -> Result<Self>
    where
        C: TokenCache + 'static,
        F: Fn(&str) -> C + Send + Sync + 'static,
    {
        let template = template.into_template()?;
        A::build_from(template.clone().token_cache(InMemoryTokenCache::new()))?;
        let caches: Arc<Caches> = Arc::new(move |user: &str| {
            let cache: Arc<dyn TokenCache> = Arc::new(caches(user));
            cache
        });
        Ok(UserRegistry {
            template,
            caches,
            instances: quick_cache::sync::Cache::new(DEFAULT_CAPACITY),
            capacity: DEFAULT_CAPACITY,
        })
    }

    /// At most `capacity` instances are kept (default 10,000; at least 1).
    /// Call it before the registry is used: the instances built so far are
    /// dropped.
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self.instances = quick_cache::sync::Cache::new(self.capacity);
        self
    }

    /// The instance of `user`, built now if the registry holds none.
    /// Concurrent first calls for one user build it once.
    ///
    /// Errors: [`Error::Config`](crate::Error::Config) if building fails,
    /// which the check in [`new`](Self::new) makes unlikely.
    pub fn get(&self, user: &str) -> Result<Arc<A>> {
        self.instances.get_or_insert_with(user, || {
            let builder = self.template.clone().token_cache((self.caches)(user));
            A::build_from(builder).map(Arc::new)
        })
    }

    /// The instance of `user` if the registry holds one; builds nothing.
    pub fn existing(&self, user: &str) -> Option<Arc<A>> {
        self.instances.get(user)
    }

    /// Drops `user`'s instance from the registry (callers holding it keep
    /// it), and returns it: to `close()` it, say. The next
    /// [`get`](Self::get) builds a new one, which reads the user's cache.
    pub fn remove(&self, user: &str) -> Option<Arc<A>> {
        self.instances.remove(user).map(|(_, instance)| instance)
    }

    /// A token cache of `user`'s, made as their instance's is: to read or
    /// change what is stored without building an instance.
    pub fn cache_of(&self, user: &str) -> Arc<dyn TokenCache> {
        (self.caches)(user)
    }

    /// How many instances are held now.
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// Whether no instance is held.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// The capacity set with [`with_capacity`](Self::with_capacity).
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<A: PerUserFlow> fmt::Debug for UserRegistry<A> {
    /// The number of instances and the capacity; never a setting.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRegistry")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}
