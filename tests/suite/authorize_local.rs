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
    (fake_registering(&redirect), redirect)
}

/// A fake server knowing the confidential and the public test clients, with
/// `redirect` registered.
pub fn fake_registering(redirect: &str) -> FakeSpotify {
    FakeSpotify::builder()
        .client(CLIENT_ID, Some(CLIENT_SECRET))
        .client("public-client", None)
        .redirect_uri(redirect)
        .start()
        .unwrap()
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
    http_get_page(url).map(|(status, location, _)| (status, location))
}

/// One GET over a fresh connection: the status, the `Location` header and
/// the body.
pub fn http_get_page(url: &str) -> std::io::Result<(u16, Option<String>, String)> {
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
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, location, body))
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
        let (tx, rx) = std::sync::mpsc::channel();
        let result = auth
            .authorize_local(quick().timeout(Duration::from_millis(800)).on_url(move |_| {
                let (forged, tx) = (forged.clone(), tx.clone());
                std::thread::spawn(move || tx.send(http_get(&forged).unwrap().0).unwrap());
            }))
            .await;
        assert_eq!(rx.recv().unwrap(), 400, "answered, and the wait goes on");
        assert!(matches!(result, Err(Error::CallbackTimeout(_))), "{result:?}");
        assert_eq!(server.token_request_count(), 0);
    }
}

flow_test! {
    /// Any web page can make the browser request the callback URL: a forged
    /// `error` (without a state, or with a wrong one) gets 400 and cannot end
    /// the login; the real callback then completes it.
    async fn forged_callbacks_cannot_abort_the_login() {
        let (server, redirect) = fake_with_redirect();
        let auth = local_auth(&server, &redirect).build().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let callback = redirect.clone();
        let token = auth
            .authorize_local(quick().on_url(move |url| {
                let (callback, url, tx) = (callback.clone(), url.to_owned(), tx.clone());
                std::thread::spawn(move || {
                    for forged in [
                        format!("{callback}?error=access_denied"),
                        format!("{callback}?error=access_denied&error_description=forged&state=wrong"),
                        format!("{callback}?code=stolen&state=wrong"),
                    ] {
                        let (status, _, page) = http_get_page(&forged).unwrap();
                        tx.send((status, page)).unwrap();
                    }
                    browser(&url);
                });
            }))
            .await;
        for _ in 0..3 {
            let (status, page) = rx.recv().unwrap();
            assert_eq!(status, 400);
            assert!(page.contains("Response ignored"), "{page}");
        }
        let token = token.expect("the real callback completes the login");
        assert!(token.refresh_token.is_some());
        assert_eq!(server.token_request_count(), 1);
        let exchange = server.requests().into_iter().find(|r| r.path == "/api/token").unwrap();
        assert_ne!(exchange.form_param("code"), Some("stolen"));
    }
}

flow_test! {
    async fn success_page_lists_the_scopes_asked_for() {
        let (server, redirect) = fake_with_redirect();
        let auth = local_auth(&server, &redirect).scope("user-read-email").build().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let options = quick().scope("user-top-read playlist-read-private").on_url(move |url| {
            let (url, tx) = (url.to_owned(), tx.clone());
            std::thread::spawn(move || {
                let (_, location, _) = http_get_page(&url).unwrap();
                tx.send(http_get_page(&location.unwrap()).unwrap()).unwrap();
            });
        });
        let token = auth.authorize_local(options).await;
        assert!(token.is_ok(), "{token:?}");
        let (status, _, page) = rx.recv().unwrap();
        assert_eq!(status, 200);
        assert!(page.contains("Login approved"), "{page}");
        assert!(page.contains("<code>user-top-read</code>"), "{page}");
        assert!(page.contains("<code>playlist-read-private</code>"), "{page}");
        assert!(!page.contains("user-read-email"), "the options' scopes, not the configured ones");
        assert!(page.contains("You can close this tab and return to your terminal."), "{page}");
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
            Err(Error::CallbackServer { address, message, .. }) => {
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
            "http://localhost:8888/callback",
            "http://127.0.0.1:0/callback",
            "http://127.0.0.1:/callback",
        ] {
            let auth = local_auth(&server, bad).build().unwrap();
            let result = auth.authorize_local(quick().on_url(|_| panic!("must not start"))).await;
            match result {
                Err(Error::Config { setting: "redirect_uri", message, .. }) => {
                    assert!(message.contains("127.0.0.1"), "{bad}: {message}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(server.authorize_request_count(), 0);
    }
}

flow_test! {
    /// Spotify refuses `localhost`: the error says which URI to register
    /// instead, and nothing listens on the port.
    async fn localhost_is_refused_with_the_uri_to_register() {
        let port = free_port();
        let localhost = format!("http://localhost:{port}/callback");
        let server = fake_registering(&localhost);
        let auth = local_auth(&server, &localhost).build().unwrap();
        let result = auth.authorize_local(quick().on_url(|_| panic!("must not start"))).await;
        match result {
            Err(Error::Config { setting: "redirect_uri", message, .. }) => {
                assert!(message.contains("refuses `localhost`"), "{message}");
                assert!(message.contains(&format!("`http://127.0.0.1:{port}/callback`")), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(), "nothing bound");
        assert_eq!(server.authorize_request_count(), 0);
    }
}

flow_test! {
    async fn ipv6_loopback_round_trip() {
        let Ok(probe) = std::net::TcpListener::bind("[::1]:0") else {
            eprintln!("note: no IPv6 loopback on this machine; skipping the [::1] round trip");
            return;
        };
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let redirect = format!("http://[::1]:{port}/callback");
        let server = fake_registering(&redirect);
        let auth = local_auth(&server, &redirect).build().unwrap();
        let token = auth.authorize_local(quick().on_url(browser)).await;
        assert!(token.is_ok(), "{token:?}");
        let exchange = server.requests().into_iter().find(|r| r.path == "/api/token").unwrap();
        assert_eq!(exchange.form_param("redirect_uri"), Some(redirect.as_str()));
    }
}

flow_test! {
    /// Registered without a port, a loopback URI works on any port: a free
    /// one is bound, and the URI with that port is sent both in the
    /// authorization request and in the exchange.
    async fn port_less_redirect_uri_binds_a_free_port_used_in_both_requests() {
        for registered in ["http://127.0.0.1/callback", "http://[::1]/callback"] {
            if registered.contains("[::1]") && std::net::TcpListener::bind("[::1]:0").is_err() {
                eprintln!("note: no IPv6 loopback on this machine; skipping {registered}");
                continue;
            }
            let server = fake_registering(registered);
            let auth = local_auth(&server, registered).client_id("public-client").client_secret("").build().unwrap();
            let token = auth.authorize_local(quick().on_url(browser)).await;
            assert!(token.is_ok(), "{registered}: {token:?}");
            let requests = server.requests();
            let authorize = requests.iter().find(|r| r.path == "/authorize").unwrap();
            let exchange = requests.iter().find(|r| r.path == "/api/token").unwrap();
            let used = authorize.query_param("redirect_uri").unwrap().to_owned();
            let port = url::Url::parse(&used).unwrap().port().expect("a port");
            assert_ne!(port, 0);
            assert_eq!(used, registered.replace("/callback", &format!(":{port}/callback")));
            assert_eq!(exchange.form_param("redirect_uri"), Some(used.as_str()), "{registered}");
        }
    }
}

flow_test! {
    async fn an_empty_state_is_refused() {
        let (server, redirect) = fake_with_redirect();
        let auth = local_auth(&server, &redirect).build().unwrap();
        let result = auth.authorize_local(quick().state("").on_url(|_| panic!("must not start"))).await;
        assert!(matches!(result, Err(Error::Config { setting: "state", .. })), "{result:?}");
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
