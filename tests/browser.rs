//! The browser flow in a real browser (wasm32, headless Chromium), against
//! FakeSpotify running natively on loopback: run by `tests/browser/run.sh`
//! (see tests/browser/README.md), which starts `examples/browser_fake.rs`
//! and builds this file with its URL in `SPOTIFY_AUTH_BROWSER_HARNESS`.
//!
//! A second tab is a same-origin iframe running this same module
//! ([`other_tab`]): it shares `localStorage`, the Web Locks and the
//! `storage` events with the page, as another tab of the origin does.
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use js_sys::{Function, Promise, Reflect};
use serde_json::Value;
use spotify_auth::asynchronous::AuthorizationCode;
use spotify_auth::browser::{self, LocalStorageTokenCache, SessionStorageAttemptStore};
use spotify_auth::{AttemptStore, CacheLock, Entry, Error, TokenCache};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The harness (`examples/browser_fake.rs`) this build was made for.
fn harness() -> &'static str {
    match option_env!("SPOTIFY_AUTH_BROWSER_HARNESS") {
        Some(url) => url,
        None => panic!("SPOTIFY_AUTH_BROWSER_HARNESS is not set: run tests/browser/run.sh"),
    }
}

/// A FakeSpotify of the test's own, started by the harness.
struct Fake {
    id: String,
    url: String,
    web_api_url: String,
    client_id: String,
}

async fn new_fake() -> Fake {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/fakes", harness()))
        .send()
        .await
        .expect("the harness answers")
        .text()
        .await
        .map(|body| serde_json::from_str(&body).expect("JSON"))
        .expect("a body");
    let field = |name: &str| answer[name].as_str().expect(name).to_owned();
    Fake {
        id: field("id"),
        url: field("url"),
        web_api_url: field("web_api_url"),
        client_id: field("client_id"),
    }
}

/// What the fake saw (token requests by grant, refresh tokens).
async fn seen(fake: &Fake) -> Value {
    reqwest::get(format!("{}/fakes/{}", harness(), fake.id))
        .await
        .expect("the harness answers")
        .text()
        .await
        .map(|body| serde_json::from_str(&body).expect("JSON"))
        .expect("a body")
}

/// The app's flow over `localStorage[key]`.
fn auth(fake_url: &str, client_id: &str, key: &str) -> AuthorizationCode {
    AuthorizationCode::builder()
        .read_environment(false)
        .client_id(client_id)
        .redirect_uri(format!("{fake_url}/callback"))
        .accounts_base_url(fake_url)
        .scope("user-read-email")
        .token_cache(LocalStorageTokenCache::with_key(key).expect("localStorage and Web Locks"))
        .build()
        .expect("a flow")
}

fn flow(fake: &Fake, key: &str) -> AuthorizationCode {
    auth(&fake.url, &fake.client_id, key)
}

/// The user says yes at the fake's authorization page: the page's fetch
/// follows its redirect, and the URL it lands on is the callback.
async fn consent(authorize_url: &str) -> String {
    let landed = reqwest::get(authorize_url).await.expect("the fake answers");
    landed.url().to_string()
}

/// A login as an app makes it: an attempt kept in sessionStorage, the
/// redirect to Spotify and back, the attempt taken and the code exchanged.
async fn log_in(auth: &AuthorizationCode) -> String {
    let attempts = SessionStorageAttemptStore::new().expect("sessionStorage");
    let attempt = auth.authorization_attempt(None, false).expect("an attempt");
    attempts
        .save(SessionStorageAttemptStore::TAB, &attempt)
        .expect("saved");
    let callback = consent(&attempt.url).await;
    assert!(browser::is_callback(&callback), "{callback}");
    let token = browser::finish_login(auth, &attempts, SessionStorageAttemptStore::TAB, &callback)
        .await
        .expect("logged in");
    // Redeemed once: a reload of the callback page finds no attempt.
    let again =
        browser::finish_login(auth, &attempts, SessionStorageAttemptStore::TAB, &callback).await;
    assert!(matches!(again, Err(Error::AttemptNotFound)), "{again:?}");
    token.access_token.secret().to_owned()
}

fn stored(key: &str) -> Option<Entry> {
    LocalStorageTokenCache::with_key(key)
        .expect("cache")
        .read()
        .expect("readable")
}

/// Makes the stored token expired, as after an hour away from the page.
fn expire_stored_token(key: &str) {
    let cache = LocalStorageTokenCache::with_key(key).expect("cache");
    let Some(Entry::Token(mut token)) = cache.read().expect("readable") else {
        panic!("no token stored under {key}");
    };
    token.expires_at = (js_sys::Date::now() / 1000.0) as u64 - 60;
    cache
        .write(&Entry::Token(token), &CacheLock::none())
        .expect("written");
}

/// A fresh key per test run (tests share the origin's localStorage).
fn key(name: &str) -> String {
    format!("test:{name}:{}", js_sys::Math::random())
}

async fn sleep(duration: Duration) {
    gloo_timers::future::sleep(duration).await;
}

// ---- the other tab: exported, called in a same-origin iframe ----

/// In the other tab: the flow over `localStorage[key]`, its access token.
#[wasm_bindgen]
pub async fn tab_get_access_token(
    fake_url: String,
    client_id: String,
    key: String,
) -> Result<String, JsValue> {
    auth(&fake_url, &client_id, &key)
        .get_access_token()
        .await
        .map_err(|e| JsValue::from_str(&e.to_string()))
}

/// In the other tab: a logout.
#[wasm_bindgen]
pub async fn tab_logout(fake_url: String, client_id: String, key: String) -> Result<(), JsValue> {
    auth(&fake_url, &client_id, &key)
        .logout()
        .await
        .map_err(|e| JsValue::from_str(&e.to_string()))
}

/// A same-origin iframe running this test module (found among the page's
/// loaded resources): its exports, for calls made in that tab.
async fn other_tab() -> JsValue {
    let open = Function::new_no_args(
        r#"
        return new Promise((resolve, reject) => {
          const wasm = performance.getEntriesByType("resource").map(e => e.name)
            .find(n => n.endsWith("_bg.wasm"));
          if (!wasm) { reject(new Error("the test module's URL is unknown")); return; }
          const glue = wasm.replace(/_bg\.wasm$/, ".js");
          const id = "tab_" + Math.random().toString(36).slice(2);
          window[id] = { resolve, reject };
          const frame = document.createElement("iframe");
          frame.srcdoc = `<!DOCTYPE html><script type="module">
            try {
              const m = await import(${JSON.stringify(glue)});
              await m.default({ module_or_path: ${JSON.stringify(wasm)} });
              parent[${JSON.stringify(id)}].resolve({ m });
            } catch (e) { parent[${JSON.stringify(id)}].reject(e); }
          <\/script>`;
          document.body.appendChild(frame);
        });
        "#,
    );
    let promise: Promise = open
        .call0(&JsValue::UNDEFINED)
        .expect("called")
        .unchecked_into();
    let opened = JsFuture::from(promise).await.expect("the other tab loads");
    Reflect::get(&opened, &"m".into()).expect("its exports")
}

/// Calls `name(args...)` in the other tab; its promise.
fn call_in(tab: &JsValue, name: &str, args: &[&str]) -> JsFuture {
    let f: Function = Reflect::get(tab, &name.into())
        .expect("exported")
        .unchecked_into();
    let args: js_sys::Array = args.iter().map(|a| JsValue::from_str(a)).collect();
    let promise: Promise = f
        .apply(&JsValue::UNDEFINED, &args)
        .expect("called")
        .unchecked_into();
    JsFuture::from(promise)
}

// ---- the tests ----

/// Login (attempt in sessionStorage, redeemed once), the token from the
/// store, `/v1/me` with it, then a refresh that rotates the refresh token
/// and stores the new one.
#[wasm_bindgen_test]
async fn login_then_refresh_with_rotation() {
    let fake = new_fake().await;
    let key = key("login");
    let auth = flow(&fake, &key);
    let access = log_in(&auth).await;
    assert_eq!(auth.get_access_token().await.expect("a token"), access);
    let Some(Entry::Token(first)) = stored(&key) else {
        panic!("the login is in localStorage");
    };
    let first_refresh = first.refresh_token.clone().expect("a refresh token");

    let me: Value = reqwest::Client::new()
        .get(format!("{}/me", fake.web_api_url))
        .bearer_auth(&access)
        .send()
        .await
        .expect("the Web API answers")
        .text()
        .await
        .map(|body| serde_json::from_str(&body).expect("JSON"))
        .expect("a body");
    assert_eq!(me["id"], "fake-user");

    let refreshed = auth.force_refresh().await.expect("refreshed");
    assert_ne!(refreshed, access);
    let Some(Entry::Token(second)) = stored(&key) else {
        panic!("the refreshed login is in localStorage");
    };
    assert_eq!(second.access_token.secret(), refreshed);
    assert_ne!(second.refresh_token, Some(first_refresh), "rotated");

    let seen = seen(&fake).await;
    assert_eq!(seen["exchanges"], 1);
    assert_eq!(seen["refreshes"], 1);
    assert_eq!(seen["refresh_tokens"][0]["status"], "Rotated");
    assert_eq!(seen["refresh_tokens"][1]["status"], "Live");
}

/// Two flows of one page over the same key, both with an expired token:
/// one refresh request (the Web Lock serialises them; the second reads
/// what the first stored).
#[wasm_bindgen_test]
async fn two_flows_of_a_page_refresh_once() {
    let fake = new_fake().await;
    let key = key("flows");
    log_in(&flow(&fake, &key)).await;
    expire_stored_token(&key);

    let (a, b) = (flow(&fake, &key), flow(&fake, &key));
    let (ta, tb) = futures_join(a.get_access_token(), b.get_access_token()).await;
    let (ta, tb) = (ta.expect("a token"), tb.expect("a token"));
    assert_eq!(ta, tb);
    assert_eq!(seen(&fake).await["refreshes"], 1);
}

/// Two tabs (this page and an iframe of the origin) whose token expired:
/// one refresh request between them.
#[wasm_bindgen_test]
async fn two_tabs_refresh_once() {
    let fake = new_fake().await;
    let key = key("tabs");
    log_in(&flow(&fake, &key)).await;
    expire_stored_token(&key);

    let tab = other_tab().await;
    let here = flow(&fake, &key);
    let there = call_in(
        &tab,
        "tab_get_access_token",
        &[&fake.url, &fake.client_id, &key],
    );
    let mine = here.get_access_token().await.expect("a token here");
    let theirs = there
        .await
        .expect("a token there")
        .as_string()
        .expect("a string");
    assert_eq!(mine, theirs);
    let seen = seen(&fake).await;
    assert_eq!(seen["refreshes"], 1, "{seen}");
}

/// A logout in the other tab reaches this one at once (the `storage`
/// event): no token is handed out after it, though the one in memory was
/// still valid, and nothing is sent.
#[wasm_bindgen_test]
async fn logout_in_another_tab_is_seen_here() {
    let fake = new_fake().await;
    let key = key("logout");
    let here = flow(&fake, &key);
    let access = log_in(&here).await;
    assert_eq!(here.get_access_token().await.expect("valid"), access);

    let tab = other_tab().await;
    call_in(&tab, "tab_logout", &[&fake.url, &fake.client_id, &key])
        .await
        .expect("logged out there");
    assert!(matches!(stored(&key), Some(Entry::Ended(_))));

    let mut ended = None;
    for _ in 0..100 {
        match here.get_access_token().await {
            Ok(_) => sleep(Duration::from_millis(20)).await,
            Err(e) => {
                ended = Some(e);
                break;
            }
        }
    }
    let ended = ended.expect("the logout is seen here within 2 s");
    assert!(
        matches!(
            ended,
            Error::NotAuthorized | Error::ReauthorizationRequired { .. }
        ),
        "{ended:?}"
    );
    let seen = seen(&fake).await;
    assert_eq!(
        seen["token_requests"], 1,
        "only the login's exchange: {seen}"
    );
}

/// The attempt store: taken once, only for the state it was saved with,
/// not after its lifetime; no state or verifier in `Debug`.
#[wasm_bindgen_test]
async fn attempts_are_taken_once() {
    let fake = new_fake().await;
    let auth = flow(&fake, &key("attempts"));
    let attempts = SessionStorageAttemptStore::new().expect("sessionStorage");
    let attempt = auth.authorization_attempt(None, false).expect("an attempt");
    attempts.save("", &attempt).expect("saved");
    assert!(matches!(
        attempts.take("", "another state"),
        Err(Error::AttemptNotFound)
    ));
    assert!(matches!(
        attempts.take("someone else", &attempt.state),
        Err(Error::AttemptNotFound)
    ));
    let saved = attempts.take("", &attempt.state).expect("taken");
    assert_eq!(
        saved.pkce_verifier.as_ref().map(|v| v.secret()),
        attempt.pkce_verifier.as_ref().map(|v| v.secret())
    );
    assert!(matches!(
        attempts.take("", &attempt.state),
        Err(Error::AttemptNotFound)
    ));

    let short = SessionStorageAttemptStore::new()
        .expect("sessionStorage")
        .with_lifetime(Duration::ZERO);
    short.save("", &attempt).expect("saved");
    assert!(matches!(
        short.take("", &attempt.state),
        Err(Error::AttemptNotFound)
    ));

    let debug = format!("{attempts:?} {attempt:?}");
    assert!(!debug.contains(&attempt.state), "{debug}");
    let verifier = attempt.pkce_verifier.as_ref().expect("PKCE").secret();
    assert!(!debug.contains(verifier), "{debug}");
}

/// The flow's futures are `Send` on wasm32 too (frameworks such as Leptos
/// ask for `Send` futures in the browser): checked at compile time.
#[wasm_bindgen_test]
fn the_flows_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let auth = auth("http://127.0.0.1:9", "id", &key("send"));
    send(&auth.get_access_token());
    send(&auth.force_refresh());
    send(&auth.logout());
    send(&auth.exchange_code_with_verifier("code", None));
}

/// A value that is not an entry is an error that does not repeat it; the
/// synchronous lock (and so `clear`) is refused with a pointer to logout.
#[wasm_bindgen_test]
fn cache_errors_name_no_secret() {
    let key = key("corrupt");
    let storage = web_local_storage();
    storage
        .set_item(&key, "{\"access_token\": \"BQsecret\"")
        .expect("set");
    let cache = LocalStorageTokenCache::with_key(&key).expect("cache");
    let error = cache.read().expect_err("not an entry");
    let text = format!("{error} {error:?} {cache:?}");
    assert!(!text.contains("BQsecret"), "{text}");
    assert!(text.contains(&key), "{text}");
    let refused = cache.clear().expect_err("no synchronous Web Lock");
    assert!(refused.to_string().contains("logout"), "{refused}");
    storage.remove_item(&key).expect("removed");
}

fn web_local_storage() -> web_sys::Storage {
    Reflect::get(&js_sys::global(), &"localStorage".into())
        .expect("localStorage")
        .unchecked_into()
}

/// Both futures, polled together on this task.
async fn futures_join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let std::task::Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let std::task::Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    (ra.expect("done"), rb.expect("done"))
}
