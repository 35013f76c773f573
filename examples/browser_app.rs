//! The example page's Rust (`examples/browser/`): a Spotify login in the
//! browser with `spotify_auth::browser`, and `/v1/me` through the Web API
//! middleware. Built for wasm32 by `examples/browser/run.sh`, which also
//! serves the page (see the README's "Browser (wasm32)"); on other targets
//! this is an empty library.
//!
//! The page's script (`examples/browser/index.html`) does the DOM; this is
//! everything that touches Spotify:
//!
//! - [`App::finish_login`]: back from Spotify, the attempt kept in
//!   `sessionStorage` is taken once and the code exchanged;
//! - [`App::login_url`]: a new attempt, kept for the return, and the URL
//!   to send the browser to;
//! - [`App::me`]: `GET /v1/me` with the token (refreshed when due, once
//!   across tabs; the login is in `localStorage`);
//! - [`App::logout`]: a logout record, which the page's other tabs see at
//!   once.
#![cfg(target_arch = "wasm32")]

use std::sync::Arc;

use js_sys::Promise;
use spotify_auth::AttemptStore;
use spotify_auth::asynchronous::{
    AuthorizationCode, WebApiMiddleware, WebApiPolicy, default_http_client,
};
use spotify_auth::browser::{self, LocalStorageTokenCache, SessionStorageAttemptStore};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// The page's login, from its `config.json` (where to log in).
#[wasm_bindgen]
pub struct App(Arc<Inner>);

struct Inner {
    auth: Arc<AuthorizationCode>,
    attempts: SessionStorageAttemptStore,
    api: reqwest_middleware::ClientWithMiddleware,
    api_url: String,
}

/// A library error as a JS exception (its text names no secret).
fn js(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

#[wasm_bindgen]
impl App {
    /// A public client (no secret: PKCE) logging in at `authorize_url`,
    /// redeeming codes at `token_url`, and calling the Web API at
    /// `api_url` (Spotify's, or a fake's).
    #[wasm_bindgen(constructor)]
    pub fn new(
        client_id: String,
        redirect_uri: String,
        authorize_url: String,
        token_url: String,
        api_url: String,
    ) -> Result<App, JsValue> {
        let auth = Arc::new(
            AuthorizationCode::builder()
                .client_id(client_id)
                .redirect_uri(redirect_uri)
                .authorize_url(authorize_url)
                .token_url(token_url)
                .scope("user-read-email user-read-private")
                .token_cache(LocalStorageTokenCache::new().map_err(js)?)
                .build()
                .map_err(js)?,
        );
        // The token on requests to the API's origin only; one refresh and
        // one retry on a 401.
        let origin = url::Url::parse(&api_url)
            .map_err(js)?
            .origin()
            .ascii_serialization();
        let middleware =
            WebApiMiddleware::with_policy(auth.clone(), &WebApiPolicy::new().api_origin(origin))
                .map_err(js)?;
        let api = reqwest_middleware::ClientBuilder::new(default_http_client().map_err(js)?)
            .with(middleware)
            .build();
        Ok(App(Arc::new(Inner {
            auth,
            attempts: SessionStorageAttemptStore::new().map_err(js)?,
            api,
            api_url,
        })))
    }

    /// Back from Spotify (`url` is `location.href`): finishes the login it
    /// brings and resolves to `true`; `false` when `url` is no callback.
    pub fn finish_login(&self, url: String) -> Promise {
        let app = self.0.clone();
        future_to_promise(async move {
            if !browser::is_callback(&url) {
                return Ok(false.into());
            }
            browser::finish_login(
                &app.auth,
                &app.attempts,
                SessionStorageAttemptStore::TAB,
                &url,
            )
            .await
            .map_err(js)?;
            Ok(true.into())
        })
    }

    /// A new login: the attempt kept in this tab's `sessionStorage`, and
    /// the URL to send the browser to.
    pub fn login_url(&self) -> Result<String, JsValue> {
        let attempt = self.0.auth.authorization_attempt(None, false).map_err(js)?;
        self.0
            .attempts
            .save(SessionStorageAttemptStore::TAB, &attempt)
            .map_err(js)?;
        Ok(attempt.url)
    }

    /// `GET /v1/me`: the user's profile as JSON text, or `null` when no
    /// one is logged in (or the login ended).
    pub fn me(&self) -> Promise {
        let app = self.0.clone();
        future_to_promise(async move {
            match app.auth.get_access_token().await {
                Ok(_) => {}
                Err(spotify_auth::Error::NotAuthorized) => return Ok(JsValue::NULL),
                Err(spotify_auth::Error::ReauthorizationRequired { .. }) => {
                    return Ok(JsValue::NULL);
                }
                Err(e) => return Err(js(e)),
            }
            let response = app
                .api
                .get(format!("{}/me", app.api_url))
                .send()
                .await
                .map_err(js)?;
            let status = response.status();
            let body = response.text().await.map_err(js)?;
            if !status.is_success() {
                return Err(js(format!("/v1/me answered {status}: {body}")));
            }
            Ok(body.into())
        })
    }

    /// Logs out here and, through the record in `localStorage`, in every
    /// other tab of the page.
    pub fn logout(&self) -> Promise {
        let app = self.0.clone();
        future_to_promise(async move {
            app.auth.logout().await.map_err(js)?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
