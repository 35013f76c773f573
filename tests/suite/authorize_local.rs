//! authorize_local against the fake accounts server, with a raw-HTTP
//! stand-in for the browser.

use super::*;
use spotify_auth::AuthorizeLocalOptions;
use spotify_auth::testing::FakeSpotify;
use std::io::{Read, Write};
use std::net::TcpStream;

/// A fake server knowing the confidential and the public test clients, with a
/// redirect URI on a free loopback port.
pub fn fake_with_redirect() -> (FakeSpotify, String) {
    let redirect = format!("http://127.0.0.1:{}/callback", free_port());
    let server = FakeSpotify::builder()
        .client(CLIENT_ID, Some(CLIENT_SECRET))
        .client("public-client", None)
        .redirect_uri(&redirect)
        .start()
        .unwrap();
    (server, redirect)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One GET over a fresh connection: the status and the `Location` header.
pub fn http_get(url: &str) -> std::io::Result<(u16, Option<String>)> {
    let url = url::Url::parse(url).unwrap();
    let host = url.host_str().unwrap().trim_matches(['[', ']']);
    let mut stream = TcpStream::connect((host, url.port().unwrap()))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        url.authority()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = response
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("location:"))
        .map(|l| l[9..].trim().to_owned());
    Ok((status, location))
}

/// A browser: follows the authorization URL to the callback, on its own thread.
pub fn browser(url: &str) {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let (status, location) = http_get(&url).unwrap();
        assert_eq!(status, 302, "the fake server redirects");
        http_get(&location.unwrap()).unwrap();
    });
}

fn local_auth(server: &FakeSpotify, redirect: &str) -> AuthorizationCodeBuilder<mode::HttpClient> {
    builder(server.url()).redirect_uri(redirect)
}

fn quick() -> AuthorizeLocalOptions {
    AuthorizeLocalOptions::new()
        .open_browser(false)
        .timeout(Duration::from_secs(20))
}

flow_test! {
    async fn round_trip_through_a_browser() {
        let (server, redirect) = fake_with_redirect();
        let cache = Arc::new(InMemoryTokenCache::new());
        let auth = local_auth(&server, &redirect).scope("user-read-email").token_cache(cache.clone()).build().unwrap();
        let token = auth.authorize_local(quick().on_url(browser)).await.unwrap();
        assert!(token.refresh_token.is_some());
        assert_eq!(token.scope.as_deref(), Some("user-read-email"));
        assert_eq!(cache.get().unwrap(), Some(token.clone()));
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), token.access_token.secret());
        assert_eq!(server.token_request_count(), 1);
        let authorize = server.requests().into_iter().find(|r| r.path == "/authorize").unwrap();
        assert_eq!(authorize.query_param("state").map(str::len), Some(43), "a generated 256-bit state");
    }
}

flow_test! {
    async fn public_client_round_trip_uses_pkce() {
        let (server, redirect) = fake_with_redirect();
        let auth = local_auth(&server, &redirect).client_id("public-client").client_secret("").build().unwrap();
        let token = auth.authorize_local(quick().on_url(browser)).await.unwrap();
        assert!(token.refresh_token.is_some());
        let exchange = server.requests().into_iter().find(|r| r.path == "/api/token").unwrap();
        assert!(exchange.form_param("code_verifier").is_some());
        assert_eq!(exchange.header("authorization"), None);
    }
}

flow_test! {
    async fn other_paths_get_404_and_the_wait_goes_on() {
        let (server, redirect) = fake_with_redirect();
        let auth = local_auth(&server, &redirect).build().unwrap();
        let base = redirect.trim_end_matches("/callback").to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        let token = auth
            .authorize_local(quick().on_url(move |url| {
                let (base, url, tx) = (base.clone(), url.to_owned(), tx.clone());
                std::thread::spawn(move || {
                    let favicon = http_get(&format!("{base}/favicon.ico")).unwrap();
                    tx.send(favicon.0).unwrap();
                    browser(&url);
                });
            }))
            .await;
        assert_eq!(rx.recv().unwrap(), 404);
        assert!(token.is_ok(), "{token:?}");
    }
}

flow_test! {
    async fn denied_authorization_is_an_error() {
        let (server, redirect) = fake_with_redirect();
        server.set_deny(true);
        let auth = local_auth(&server, &redirect).build().unwrap();
        let result = auth.authorize_local(quick().on_url(browser)).await;
        assert!(matches!(result, Err(Error::AuthorizationDenied { ref error, .. }) if error == "access_denied"), "{result:?}");
        assert_eq!(server.token_request_count(), 0);
    }
}

flow_test! {
    async fn state_mismatch_never_exchanges_the_code() {
        let (server, redirect) = fake_with_redirect();
        let auth = local_auth(&server, &redirect).build().unwrap();
        let forged = format!("{redirect}?code=stolen&state=forged");
        let result = auth
            .authorize_local(quick().on_url(move |_| {
                let forged = forged.clone();
                std::thread::spawn(move || http_get(&forged).unwrap());
            }))
            .await;
        assert!(matches!(result, Err(Error::StateMismatch)), "{result:?}");
        assert_eq!(server.token_request_count(), 0);
    }
}

flow_test! {
    async fn no_callback_times_out() {
        let (server, redirect) = fake_with_redirect();
        let auth = local_auth(&server, &redirect).build().unwrap();
        let result = auth.authorize_local(quick().timeout(Duration::from_millis(300)).on_url(|_| {})).await;
        assert!(matches!(result, Err(Error::CallbackTimeout(d)) if d == Duration::from_millis(300)), "{result:?}");
    }
}

flow_test! {
    async fn port_in_use_is_a_clear_error() {
        let (server, redirect) = fake_with_redirect();
        let port = url::Url::parse(&redirect).unwrap().port().unwrap();
        let _holder = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let auth = local_auth(&server, &redirect).build().unwrap();
        let result = auth.authorize_local(quick().on_url(|_| panic!("must not get this far"))).await;
        match result {
            Err(Error::CallbackServer { address, message }) => {
                assert_eq!(address, format!("127.0.0.1:{port}"));
                assert!(message.contains("in use"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}

flow_test! {
    async fn redirect_uris_are_checked_before_anything_starts() {
        let (server, _) = fake_with_redirect();
        for bad in [
            "https://127.0.0.1:8888/callback",
            "http://example.com:8888/callback",
            "http://192.168.1.2:8888/callback",
            "http://127.0.0.1/callback",
        ] {
            let auth = local_auth(&server, bad).build().unwrap();
            let result = auth.authorize_local(quick().on_url(|_| panic!("must not start"))).await;
            match result {
                Err(Error::Config { setting: "redirect_uri", message }) => {
                    assert!(message.contains("127.0.0.1"), "{bad}: {message}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(server.authorize_request_count(), 0);
    }
}

flow_test! {
    async fn neither_browser_nor_handler_is_an_error() {
        let (server, redirect) = fake_with_redirect();
        let auth = local_auth(&server, &redirect).build().unwrap();
        let result = auth.authorize_local(AuthorizeLocalOptions::new().open_browser(false)).await;
        assert!(matches!(result, Err(Error::Config { setting: "authorize_local", .. })), "{result:?}");
    }
}

flow_test! {
    async fn pasted_redirect_url_completes_the_login() {
        let (server, redirect) = fake_with_redirect();
        let auth = local_auth(&server, &redirect).build().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let options = quick()
            .on_url(move |url| {
                // The browser is elsewhere: it shows the redirected URL, which
                // the user pastes (after a blank line and some garbage).
                let (_, location) = http_get(url).unwrap();
                tx.send(String::new()).unwrap();
                tx.send("not a callback".into()).unwrap();
                tx.send(location.unwrap()).unwrap();
            })
            .pasted_urls(move || rx.recv().ok());
        let token = auth.authorize_local(options).await;
        assert!(token.is_ok(), "{token:?}");
        assert_eq!(server.token_request_count(), 1);
    }
}
