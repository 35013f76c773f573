//! Properties of the callback's parsing and of the server itself, fed
//! generated callbacks and their near misses (`tests/generators/callback.rs`):
//! only a GET on the redirect URI's path carrying exactly the right state
//! may end the wait; nothing on a page or in an error shows a code or a
//! state; every request over a real socket gets a status.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use proptest::prelude::*;

use super::redirect::{loopback_target, with_port};
use super::*;
use crate::authorize::parse_callback;
use crate::properties::generators::callback::{self as gen_callback, carries_state};
use crate::properties::generators::{Gen, MARKER, has_marker, text};
use crate::properties::{assert_error_has_no_secret, peak_during};

const PATH: &str = "/callback";
/// Long enough never to fire in a passing case; only bounds a broken one.
const LONG: Duration = Duration::from_secs(60);
/// The read timeout of the test's raw client: only bounds a broken case.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// This attempt's state: a secret (no page or error may show it).
fn state() -> String {
    format!("{MARKER}-state_0123456789")
}

fn scope() -> Scopes {
    Scopes::from("user-read-email playlist-read-private")
}

proptest! {
    #![proptest_config(crate::properties::config())]

    /// `parse_callback` on any callback URL or query: no panic, memory
    /// linear in its length, a code only with exactly the right state, and
    /// no code or state in an error.
    #[test]
    fn a_callback_parses_or_fails_without_showing_its_secrets(input in crate::properties::input()) {
        let mut g = Gen::new(&input);
        let state = state();
        let url = match g.range(0, 3) {
            0 => gen_callback::query(&mut g, &state),
            1 => format!("http://127.0.0.1:8888{}", gen_callback::target(&mut g, PATH, &state)),
            _ => gen_callback::target(&mut g, PATH, &state),
        };
        let (parsed, peak) = peak_during(|| parse_callback(&url, Some(&state)));
        prop_assert!(peak <= crate::properties::allocation_bound(url.len()));
        match parsed {
            Ok(callback) => {
                prop_assert_eq!(callback.state.as_deref(), Some(state.as_str()));
                prop_assert!(!callback.code.secret().is_empty());
                prop_assert_eq!(format!("{:?}", callback.code), "AuthCode([redacted])");
            }
            Err(e) => assert_error_has_no_secret(&e)?,
        }
    }

    /// What the server answers to any request: only a GET on the exact
    /// path with exactly the right state ends the wait, and no page shows
    /// the code or the state.
    #[test]
    fn only_the_right_state_ends_the_wait(input in crate::properties::input()) {
        let mut g = Gen::new(&input);
        let state = state();
        let method = g.pick(&[Method::Get, Method::Get, Method::Head, Method::Post, Method::Put]);
        let target = if g.chance(1, 8) { g.text(60) } else { gen_callback::target(&mut g, PATH, &state) };
        let (reply, outcome) = classify(&method, &target, PATH, &state, &scope());
        let request_path = target.split(['#', '?']).next().unwrap_or("");
        let may_end = method == Method::Get && request_path == PATH && carries_state(&target, &state);
        prop_assert_eq!(outcome.is_some(), may_end, "{} {:?}", method, target);
        let page = String::from_utf8_lossy(&reply.to_http(true)).into_owned();
        prop_assert!(!has_marker(&page), "the page shows a secret: {target:?}");
        if let Some(Err(e)) = &outcome {
            assert_error_has_no_secret(e)?;
        }
    }

    /// Any redirect URI: no panic, an accepted one is a loopback address
    /// with its port as written (or none), and no password in an error.
    #[test]
    fn a_redirect_uri_is_checked_without_quoting_its_password(input in crate::properties::input()) {
        let mut g = Gen::new(&input);
        let secret_password = g.chance(1, 2);
        let uri = text::redirect_uri(&mut g, secret_password);
        match loopback_target(&uri) {
            Err(e) => assert_error_has_no_secret(&e)?,
            Ok(target) => {
                prop_assert!(target.addr.ip().is_loopback());
                prop_assert_eq!(target.url.scheme(), "http");
                prop_assert!(!has_marker(&uri), "accepted a password: {uri:?}");
                if !target.fixed_port {
                    // The URI with the bound port added is served as is.
                    let port = g.range(1, 65535) as u16;
                    let with = with_port(&uri, port);
                    let again = loopback_target(&with);
                    prop_assert!(again.is_ok(), "{uri:?} -> {with:?}: {again:?}");
                    let again = again.unwrap();
                    prop_assert!(again.fixed_port);
                    prop_assert_eq!(again.addr.port(), port);
                    prop_assert_eq!(again.url.path(), target.url.path());
                    prop_assert_eq!(again.url.query(), target.url.query());
                }
            }
        }
    }
}

/// One server for every case of the socket property (waited on again for
/// each).
fn shared_server() -> &'static CallbackServer {
    static SERVER: OnceLock<CallbackServer> = OnceLock::new();
    SERVER.get_or_init(|| CallbackServer::bind("http://127.0.0.1/callback").expect("a free port"))
}

/// Sends `raw` on a connection of its own and returns the final status
/// (after any `100 Continue`), or None when the server closed without one.
fn status_of(addr: SocketAddr, raw: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream.write_all(raw).ok()?;
    let _ = stream.shutdown(Shutdown::Write);
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    text.split("\r\n")
        .filter(|line| line.starts_with("HTTP/1."))
        .filter_map(|line| line.split(' ').nth(1)?.parse::<u16>().ok())
        .filter(|status| *status != 100)
        .last()
}

proptest! {
    #![proptest_config(crate::properties::cases(32))]

    /// Over real sockets: every generated request gets a status, and none
    /// without the right state ends the wait, which the real callback sent
    /// after them then ends.
    #[test]
    fn the_server_answers_every_request_and_waits_for_the_right_state(input in crate::properties::input()) {
        let server = shared_server();
        let addr = server.local_addr();
        let state = state();
        let mut g = Gen::new(&input);
        let mut requests: Vec<gen_callback::Request> =
            (0..g.range(1, 6)).map(|_| gen_callback::request(&mut g, PATH, &state)).collect();
        // The first request that may end the wait ends the case.
        if let Some(last) = requests.iter().position(|r| r.may_end_the_wait(PATH, &state)) {
            requests.truncate(last + 1);
        }
        let ends = requests.last().is_some_and(|r| r.may_end_the_wait(PATH, &state));
        let real = format!("GET {PATH}?code=the-real-code&state={state} HTTP/1.1\r\n\r\n");
        let (outcome, statuses) = thread::scope(|s| {
            let waiter = s.spawn(|| server.wait(&state, &scope(), LONG));
            let mut statuses: Vec<Option<u16>> =
                requests.iter().map(|r| status_of(addr, &r.to_bytes())).collect();
            if !ends && !waiter.is_finished() {
                statuses.push(status_of(addr, real.as_bytes()));
            }
            (waiter.join().expect("the waiter"), statuses)
        });
        for (i, status) in statuses.iter().enumerate() {
            let shown = requests.get(i).map_or(real.clone(), |r| String::from_utf8_lossy(&r.to_bytes()).into_owned());
            prop_assert!(
                matches!(status, Some(200 | 400 | 404 | 405)),
                "no status for {shown:?}: {status:?}"
            );
        }
        match (ends, outcome) {
            (false, Ok(callback)) => prop_assert_eq!(callback.code.secret(), "the-real-code"),
            (false, other) => prop_assert!(false, "a request without the right state ended the wait: {other:?}"),
            (true, outcome) => {
                let expected = parse_callback(&requests.last().unwrap().target, Some(&state));
                prop_assert_eq!(format!("{outcome:?}"), format!("{expected:?}"));
            }
        }
    }
}
