//! An `AuthorizationCode` of either mode, configured for the chaos run, with
//! the calls the actors and the coordinator make.

use std::sync::Arc;
use std::time::Duration;

use spotify_auth::{Error, TokenCache, TokenInfo};

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

/// The same builder calls for either mode's builder.
macro_rules! build {
    ($builder:expr, $accounts:expr, $settings:expr, $cache:expr) => {{
        let backoff = $settings.backoff_ms;
        $builder
            .read_environment(false)
            .client_id(ID)
            .client_secret(SECRET)
            .redirect_uri(REDIRECT)
            .accounts_base_url($accounts)
            .token_cache($cache)
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
    /// An instance of `mode` on `cache`; async ones run on `runtime`.
    pub fn new(
        mode: Mode,
        accounts: &str,
        settings: &Settings,
        cache: impl TokenCache + 'static,
        runtime: Option<Arc<tokio::runtime::Runtime>>,
    ) -> Auth {
        let _ = &runtime;
        match mode {
            #[cfg(feature = "blocking")]
            Mode::Blocking => Auth::Blocking(build!(
                spotify_auth::blocking::AuthorizationCode::builder(),
                accounts,
                settings,
                cache
            )),
            #[cfg(feature = "async")]
            Mode::Async => Auth::Async(
                build!(
                    spotify_auth::asynchronous::AuthorizationCode::builder(),
                    accounts,
                    settings,
                    cache
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

    /// A login as a web service does it: an authorization attempt, the
    /// fake's `/authorize` (which redirects at once), the callback checked
    /// and its code exchanged (and stored) by the library.
    pub fn login_by_exchange(&self) -> spotify_auth::Result<TokenInfo> {
        let attempt = match self {
            #[cfg(feature = "blocking")]
            Auth::Blocking(auth) => auth.authorization_attempt(None, false)?,
            #[cfg(feature = "async")]
            Auth::Async(auth, _) => auth.authorization_attempt(None, false)?,
        };
        let callback = follow_redirect(&attempt.url);
        match self {
            #[cfg(feature = "blocking")]
            Auth::Blocking(auth) => {
                let code = auth.parse_response_url(&callback, Some(&attempt.state))?;
                auth.exchange_code_with_verifier(code, None)
            }
            #[cfg(feature = "async")]
            Auth::Async(auth, runtime) => {
                let code = auth.parse_response_url(&callback, Some(&attempt.state))?;
                runtime.block_on(auth.exchange_code_with_verifier(code, None))
            }
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
        Error::TokenEndpoint { status, .. } if *status >= 500 || *status == 429 => {
            Expected::Transient
        }
        Error::Cache { message, .. } if faulty && message.contains("injected failure") => {
            Expected::Cache
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
    No,
}
