//! An `AuthorizationCode` of either mode, configured for the chaos run, with
//! the calls the actors and the coordinator make.

use std::sync::Arc;
use std::time::Duration;

use spotify_auth::{AuthCode, Error, TokenCache, TokenInfo};

use super::plan::Settings;
use super::{ID, REDIRECT, SECRET};
use crate::common::Mode;

/// An `AuthorizationCode`; the async one with the runtime it runs on.
pub enum Auth {
    #[cfg(feature = "blocking")]
    Blocking(spotify_auth::blocking::AuthorizationCode),
    #[cfg(feature = "async")]
    Async(
        spotify_auth::asynchronous::AuthorizationCode,
        Arc<tokio::runtime::Runtime>,
    ),
}

/// What an actor calls.
#[derive(Clone, Copy, Debug)]
pub enum Call {
    Get,
    Force,
}

/// How a call ended.
pub enum Outcome {
    Done(spotify_auth::Result<String>),
    /// The caller gave up (async: `tokio::time::timeout`).
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    Cancelled,
}

/// How long `close()` waits for the work still running (the library's
/// default is 30 s): a refresh here takes a few seconds at most.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(15);

/// The HTTP clients of one process's instances (one per mode, shared as the
/// library's default one would be), whose `User-Agent` names the process
/// (`chaos-p{n}`): the fake's records then tell which process sent a request.
///
/// A rebuilding actor drops its runtime with each generation, so it gets
/// clients of its own ([`Clients::for_own_runtime`]): a `reqwest::Client`'s
/// connections run on the runtime that opened them, and one shared with a
/// runtime that ends cut other actors' refreshes mid-way (F15).
#[derive(Clone)]
pub struct Clients {
    process: usize,
    #[cfg(feature = "blocking")]
    blocking: spotify_auth::blocking::HttpClient,
    #[cfg(feature = "async")]
    asynchronous: spotify_auth::asynchronous::HttpClient,
}

impl Clients {
    pub fn for_process(process: usize) -> Clients {
        let agent = format!("{}{process}", super::AGENT_PREFIX);
        Clients {
            process,
            #[cfg(feature = "blocking")]
            blocking: ureq::Agent::config_builder()
                .user_agent(&agent)
                .max_redirects(0)
                .http_status_as_error(false)
                .build()
                .new_agent(),
            #[cfg(feature = "async")]
            asynchronous: {
                // Plain HTTP only; a TLS config of its own all the same, so
                // that nothing looks for a process-wide crypto provider.
                let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
                spotify_auth::asynchronous::HttpClient::builder()
                    .user_agent(agent)
                    .tls_backend_preconfigured(tls)
                    .build()
                    .unwrap()
            },
        }
    }

    /// New clients for the same process, for a runtime of their own.
    pub fn for_own_runtime(&self) -> Clients {
        Clients::for_process(self.process)
    }
}

/// The same builder calls for either mode's builder.
macro_rules! build {
    ($builder:expr, $accounts:expr, $settings:expr, $cache:expr, $client:expr) => {{
        let backoff = $settings.backoff_ms;
        let builder = match $client {
            Some(client) => $builder.http_client(client),
            None => $builder,
        };
        builder
            .read_environment(false)
            .client_id(ID)
            .client_secret(SECRET)
            .redirect_uri(REDIRECT)
            .accounts_base_url($accounts)
            .token_cache($cache)
            .close_timeout(CLOSE_TIMEOUT)
            .timeout($settings.timeout())
            .max_retries($settings.max_retries)
            .refresh_margin(Duration::from_secs($settings.margin_secs))
            // Retries never sleep for real: 0 to `backoff` ms.
            .backoff_hook(move |_| Duration::from_millis(fastrand::u64(0..=backoff)))
            .build()
            .unwrap()
    }};
}

impl Auth {
    /// An instance of `mode` on `cache` with the library's default HTTP
    /// client; async ones run on `runtime`.
    pub fn new(
        mode: Mode,
        accounts: &str,
        settings: &Settings,
        cache: impl TokenCache + 'static,
        runtime: Option<Arc<tokio::runtime::Runtime>>,
    ) -> Auth {
        Self::build(mode, accounts, settings, cache, runtime, None)
    }

    /// An instance of `mode` on `cache` with the process's `clients`.
    pub fn with_clients(
        mode: Mode,
        accounts: &str,
        settings: &Settings,
        cache: impl TokenCache + 'static,
        runtime: Option<Arc<tokio::runtime::Runtime>>,
        clients: &Clients,
    ) -> Auth {
        Self::build(mode, accounts, settings, cache, runtime, Some(clients))
    }

    fn build(
        mode: Mode,
        accounts: &str,
        settings: &Settings,
        cache: impl TokenCache + 'static,
        runtime: Option<Arc<tokio::runtime::Runtime>>,
        clients: Option<&Clients>,
    ) -> Auth {
        let _ = (&runtime, clients);
        match mode {
            #[cfg(feature = "blocking")]
            Mode::Blocking => Auth::Blocking(build!(
                spotify_auth::blocking::AuthorizationCode::builder(),
                accounts,
                settings,
                cache,
                clients.map(|c| c.blocking.clone())
            )),
            #[cfg(feature = "async")]
            Mode::Async => Auth::Async(
                build!(
                    spotify_auth::asynchronous::AuthorizationCode::builder(),
                    accounts,
                    settings,
                    cache,
                    clients.map(|c| c.asynchronous.clone())
                ),
                runtime.expect("an async actor needs a runtime"),
            ),
        }
    }

    /// Makes `call`; an async one is abandoned after `cancel_after`.
    pub fn call(&self, call: Call, cancel_after: Option<Duration>) -> Outcome {
        let _ = cancel_after;
        match self {
            #[cfg(feature = "blocking")]
            Auth::Blocking(auth) => Outcome::Done(match call {
                Call::Get => auth.get_access_token(),
                Call::Force => auth.force_refresh(),
            }),
            #[cfg(feature = "async")]
            Auth::Async(auth, runtime) => runtime.block_on(async {
                let future = async {
                    match call {
                        Call::Get => auth.get_access_token().await,
                        Call::Force => auth.force_refresh().await,
                    }
                };
                match cancel_after {
                    Some(after) => match tokio::time::timeout(after, future).await {
                        Ok(result) => Outcome::Done(result),
                        Err(_) => Outcome::Cancelled,
                    },
                    None => Outcome::Done(future.await),
                }
            }),
        }
    }

    /// `close()`, then the instance (and, async, its runtime, when no one
    /// else holds it) is dropped.
    pub fn close(self) -> spotify_auth::Result<()> {
        match self {
            #[cfg(feature = "blocking")]
            Auth::Blocking(auth) => auth.close(),
            #[cfg(feature = "async")]
            Auth::Async(auth, runtime) => {
                let closed = runtime.block_on(auth.close());
                drop(runtime);
                closed
            }
        }
    }

    pub fn logout(&self) -> spotify_auth::Result<()> {
        match self {
            #[cfg(feature = "blocking")]
            Auth::Blocking(auth) => auth.logout(),
            #[cfg(feature = "async")]
            Auth::Async(auth, runtime) => runtime.block_on(auth.logout()),
        }
    }

    pub fn cache_write_error(&self) -> Option<Error> {
        match self {
            #[cfg(feature = "blocking")]
            Auth::Blocking(auth) => auth.cache_write_error(),
            #[cfg(feature = "async")]
            Auth::Async(auth, _) => auth.cache_write_error(),
        }
    }

    /// The first half of a login as a web service does it: an
    /// authorization attempt, the fake's `/authorize` (which redirects at
    /// once), the callback checked: its code.
    pub fn authorize(&self) -> spotify_auth::Result<AuthCode> {
        let attempt = match self {
            #[cfg(feature = "blocking")]
            Auth::Blocking(auth) => auth.authorization_attempt(None, false)?,
            #[cfg(feature = "async")]
            Auth::Async(auth, _) => auth.authorization_attempt(None, false)?,
        };
        let callback = follow_redirect(&attempt.url);
        match self {
            #[cfg(feature = "blocking")]
            Auth::Blocking(auth) => auth.parse_response_url(&callback, Some(&attempt.state)),
            #[cfg(feature = "async")]
            Auth::Async(auth, _) => auth.parse_response_url(&callback, Some(&attempt.state)),
        }
    }

    /// The second half: the code exchanged (and stored) by the library.
    pub fn exchange(&self, code: AuthCode) -> spotify_auth::Result<TokenInfo> {
        match self {
            #[cfg(feature = "blocking")]
            Auth::Blocking(auth) => auth.exchange_code_with_verifier(code, None),
            #[cfg(feature = "async")]
            Auth::Async(auth, runtime) => {
                runtime.block_on(auth.exchange_code_with_verifier(code, None))
            }
        }
    }

    /// The code exchanged twice at once on this instance (two threads, or
    /// two futures joined), as a callback delivered twice would be.
    pub fn exchange_twice_at_once(&self, code: AuthCode) -> [spotify_auth::Result<TokenInfo>; 2] {
        match self {
            #[cfg(feature = "blocking")]
            Auth::Blocking(auth) => std::thread::scope(|scope| {
                let other = {
                    let code = code.clone();
                    scope.spawn(move || auth.exchange_code_with_verifier(code, None))
                };
                let here = auth.exchange_code_with_verifier(code, None);
                [other.join().unwrap(), here]
            }),
            #[cfg(feature = "async")]
            Auth::Async(auth, runtime) => runtime.block_on(async {
                let (a, b) = tokio::join!(
                    auth.exchange_code_with_verifier(code.clone(), None),
                    auth.exchange_code_with_verifier(code, None)
                );
                [a, b]
            }),
        }
    }
}

/// The `Location` the fake's `/authorize` redirects to.
fn follow_redirect(url: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .build()
        .into();
    let response = agent.get(url).call().unwrap();
    response
        .headers()
        .get("location")
        .expect("the fake's /authorize redirects")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Whether an error is one the chaos may cause (see the module docs);
/// `faulty`: the actor's cache fails on purpose.
pub fn expected(e: &Error, faulty: bool) -> Expected {
    match e {
        Error::ReauthorizationRequired { .. } => Expected::LoginEnded,
        Error::NotAuthorized => Expected::LoginEnded,
        Error::Http { .. } | Error::RateLimited { .. } => Expected::Transient,
        // The store lost its data and the copies written back so far were
        // stale: the live one is on its way.
        Error::StoreRecovering { .. } => Expected::Transient,
        Error::TokenEndpoint { status, .. } if *status >= 500 || *status == 429 => {
            Expected::Transient
        }
        Error::Cache { message, .. } if faulty && message.contains("injected failure") => {
            Expected::Cache
        }
        // A Redis lease that lapsed under a refresh (a store fault).
        Error::Cache { message, .. }
            if message.contains("lock lapsed") || message.contains("was lost") =>
        {
            Expected::Lapse
        }
        _ => Expected::No,
    }
}

/// The kinds of errors [`expected`] sorts.
#[derive(Debug, PartialEq, Eq)]
pub enum Expected {
    LoginEnded,
    Transient,
    Cache,
    /// The store's lock lapsed: allowed once per lapse (see `allowance`).
    Lapse,
    No,
}
