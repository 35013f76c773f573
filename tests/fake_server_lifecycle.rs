//! The fake server's token lifecycle faults (`Fault::LoseResponse`,
//! `Fault::DelayResponse`, and `Fault::Delay` for contrast) and its
//! bookkeeping of issued refresh tokens, over real HTTP and through the
//! library's blocking flow (those with feature `blocking`).

mod fake_support;

use std::time::{Duration, Instant};

use fake_support::*;
use spotify_auth::testing::{Delivery, FakeSpotify, Fault, RefreshTokenStatus};
#[cfg(feature = "blocking")]
use spotify_auth::{Error, HttpErrorKind};

/// Polls `condition` every few milliseconds for up to five seconds.
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn lose_response_on_a_rotating_refresh_spends_the_token_and_hides_the_new_one() {
    let server = start(true, 3600);
    let old = server.issue_refresh_token(ID, "streaming");
    server.inject(Fault::LoseResponse, 1);

    let started = Instant::now();
    let error = try_refresh(&agent(), &server, &old).expect_err("no response");
    assert!(started.elapsed() < Duration::from_secs(2), "{error}");
    assert!(
        matches!(error, ureq::Error::Io(_) | ureq::Error::Protocol(_)),
        "{error:?}"
    );

    // The grant happened: the old token is spent, a new one is live.
    assert!(!server.refresh_token_is_live(&old));
    let issued = server.issued_refresh_tokens();
    assert_eq!(issued.len(), 2, "{issued:?}");
    assert_eq!(issued[0].token(), old);
    assert_eq!(issued[0].status(), RefreshTokenStatus::Rotated);
    assert_eq!(issued[0].refresh_requests(), 1);
    assert_eq!(issued[0].delivery(), Delivery::Minted);
    let unseen = issued[1].token().to_owned();
    assert!(issued[1].is_live());
    assert_eq!(issued[1].status(), RefreshTokenStatus::Live);
    assert_eq!(issued[1].delivery(), Delivery::Lost);
    assert_eq!(issued[1].refresh_requests(), 0);
    assert_eq!(issued[1].scope(), "streaming");
    assert_eq!(issued[1].client_id(), ID);
    assert!(server.refresh_token_is_live(&unseen));

    // Retrying with the old token is refused, and counted.
    let retried = refresh(&server, &old);
    assert_eq!(retried.0, 400, "{}", retried.1);
    assert_eq!(retried.1["error"], "invalid_grant");
    assert_eq!(server.issued_refresh_tokens()[0].refresh_requests(), 2);

    // The token nobody received works, once.
    let next = field(&refresh(&server, &unseen), "refresh_token");
    let issued = server.issued_refresh_tokens();
    assert_eq!(issued[1].status(), RefreshTokenStatus::Rotated);
    assert_eq!(issued[2].token(), next);
    assert_eq!(issued[2].delivery(), Delivery::Delivered);
    assert_eq!(server.token_request_count(), 3);
}

#[test]
fn lose_response_without_rotation_leaves_the_refresh_token_live() {
    let server = start(false, 3600);
    let token = server.issue_refresh_token(ID, "");
    server.inject(Fault::LoseResponse, 1);
    try_refresh(&agent(), &server, &token).expect_err("no response");
    let issued = server.issued_refresh_tokens();
    assert_eq!(issued.len(), 1, "nothing new is issued: {issued:?}");
    assert_eq!(issued[0].refresh_requests(), 1);
    assert!(server.refresh_token_is_live(&token));
    assert_eq!(refresh(&server, &token).0, 200);
}

#[test]
fn lose_response_on_a_code_exchange_uses_up_the_code() {
    let server = start(false, 3600);
    server.sign_in_as("alice");
    let code = code_for(&server, "user-read-email");
    server.inject(Fault::LoseResponse, 1);
    try_exchange(&agent(), &server, &code).expect_err("no response");

    let again = exchange(&server, &code);
    assert_eq!(again.0, 400, "{}", again.1);
    assert_eq!(again.1["error"], "invalid_grant");
    let issued = server.issued_refresh_tokens();
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert!(issued[0].is_live());
    assert_eq!(issued[0].delivery(), Delivery::Lost);
    assert_eq!(issued[0].user_id(), "alice");
    assert_eq!(issued[0].scope(), "user-read-email");
}

#[test]
fn delay_response_processes_at_once_and_answers_late() {
    let server = start(true, 3600);
    let old = server.issue_refresh_token(ID, "");
    let delay = Duration::from_millis(1500);
    server.inject(Fault::DelayResponse(delay), 1);
    std::thread::scope(|scope| {
        let started = Instant::now();
        let pending = scope.spawn(|| refresh(&server, &old));
        // The grant happens while the answer is still held back.
        wait_until("the old token is spent", || {
            !server.refresh_token_is_live(&old)
        });
        assert!(started.elapsed() < delay, "{:?}", started.elapsed());
        assert!(!pending.is_finished());
        let issued = server.issued_refresh_tokens();
        assert_eq!(issued[0].refresh_requests(), 1);
        assert!(issued[1].is_live());
        assert_eq!(issued[1].delivery(), Delivery::Delayed(delay));

        // The answer, when it comes, is the normal one with that token.
        let reply = pending.join().unwrap();
        assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
        assert_eq!(field(&reply, "refresh_token"), issued[1].token());
    });
}

#[test]
fn delay_waits_before_processing() {
    let server = start(true, 3600);
    let old = server.issue_refresh_token(ID, "");
    let delay = Duration::from_millis(1000);
    server.inject(Fault::Delay(delay), 1);
    std::thread::scope(|scope| {
        let started = Instant::now();
        let pending = scope.spawn(|| refresh(&server, &old));
        wait_until("the request arrives", || server.token_request_count() == 1);
        // Nothing happened to the token yet.
        std::thread::sleep(Duration::from_millis(50));
        assert!(started.elapsed() < delay);
        assert!(server.refresh_token_is_live(&old));
        assert_eq!(server.issued_refresh_tokens()[0].refresh_requests(), 0);
        assert_eq!(server.issued_refresh_tokens().len(), 1);

        let reply = pending.join().unwrap();
        assert!(started.elapsed() >= delay);
        let issued = server.issued_refresh_tokens();
        assert_eq!(field(&reply, "refresh_token"), issued[1].token());
        assert_eq!(issued[0].status(), RefreshTokenStatus::Rotated);
        assert_eq!(issued[1].delivery(), Delivery::Delivered);
    });
}

#[cfg(feature = "blocking")]
/// A blocking client of `server` starting from `refresh_token`, without
/// retries, with this request timeout.
fn client(
    server: &FakeSpotify,
    refresh_token: &str,
    timeout: Duration,
) -> spotify_auth::blocking::AuthorizationCode {
    spotify_auth::blocking::AuthorizationCode::builder()
        .read_environment(false)
        .client_id(ID)
        .client_secret(SECRET)
        .redirect_uri(REDIRECT)
        .accounts_base_url(server.url())
        .backoff_hook(|_| Duration::ZERO)
        .max_retries(0)
        .timeout(timeout)
        .refresh_token(refresh_token)
        .build()
        .expect("a client")
}

#[cfg(feature = "blocking")]
#[test]
fn a_client_timing_out_on_a_delayed_response_never_learns_the_rotated_token() {
    let server = start(true, 3600);
    let old = server.issue_refresh_token(ID, "");
    server.inject(Fault::DelayResponse(Duration::from_secs(30)), 1);
    let auth = client(&server, &old, Duration::from_millis(300));

    let started = Instant::now();
    let error = auth
        .get_access_token()
        .expect_err("the answer comes too late");
    assert!(started.elapsed() < Duration::from_secs(3), "{error}");
    assert!(
        matches!(
            error,
            Error::Http {
                kind: HttpErrorKind::Timeout,
                ..
            }
        ),
        "{error:?}"
    );
    let issued = server.issued_refresh_tokens();
    assert_eq!(issued[0].status(), RefreshTokenStatus::Rotated);
    assert!(issued[1].is_live());
    assert_eq!(
        issued[1].delivery(),
        Delivery::Delayed(Duration::from_secs(30))
    );
    // Dropping the server cuts the 30 s wait short (see the drop test).
}

#[cfg(feature = "blocking")]
#[test]
fn a_client_sees_a_lost_response_as_a_transport_error() {
    let server = start(true, 3600);
    let old = server.issue_refresh_token(ID, "");
    server.inject(Fault::LoseResponse, 1);
    let auth = client(&server, &old, Duration::from_secs(5));

    let error = auth.get_access_token().expect_err("no response");
    assert!(matches!(error, Error::Http { .. }), "{error:?}");
    assert_eq!(server.token_request_count(), 1);
    let issued = server.issued_refresh_tokens();
    assert_eq!(issued[0].status(), RefreshTokenStatus::Rotated);
    assert_eq!(issued[1].delivery(), Delivery::Lost);
    assert!(issued[1].is_live());
}

#[test]
fn rotated_refresh_tokens_are_single_use() {
    let server = start(true, 3600);
    let first = server.issue_refresh_token(ID, "");
    let second = field(&refresh(&server, &first), "refresh_token");
    for _ in 0..3 {
        let reply = refresh(&server, &first);
        assert_eq!(reply.0, 400, "{}", reply.1);
        assert_eq!(reply.1["error"], "invalid_grant");
        assert_eq!(reply.1["error_description"], "Invalid refresh token");
    }
    let issued = server.issued_refresh_tokens();
    assert_eq!(issued[0].status(), RefreshTokenStatus::Rotated);
    assert_eq!(issued[0].refresh_requests(), 4);
    assert_eq!(issued[1].token(), second);
    assert!(issued[1].is_live());
    assert_eq!(issued[1].refresh_requests(), 0);
}

#[test]
fn only_processed_refresh_requests_are_counted() {
    let server = FakeSpotify::builder()
        .client(ID, Some(SECRET))
        .client("other", Some("other-secret"))
        .start()
        .unwrap();
    let token = server.issue_refresh_token(ID, "");
    let count = |server: &FakeSpotify| server.issued_refresh_tokens()[0].refresh_requests();

    // Faults that replace the answer do not process the request.
    server.inject(Fault::Status(500), 1);
    server.inject(Fault::DropConnection, 1);
    server.inject(Fault::rate_limited(1), 1);
    assert_eq!(refresh(&server, &token).0, 500);
    try_refresh(&agent(), &server, &token).expect_err("dropped");
    assert_eq!(refresh(&server, &token).0, 429);
    assert_eq!(count(&server), 0);

    // Neither does a request refused before the grant (wrong secret).
    let mut response = agent()
        .post(server.token_url())
        .header("Authorization", basic(ID, "wrong"))
        .send_form([("grant_type", "refresh_token"), ("refresh_token", &token)])
        .unwrap();
    assert_eq!(response.status(), 401);
    let _ = response.body_mut().read_to_string();
    assert_eq!(count(&server), 0);

    // Granted, and refused with invalid_grant, both count.
    assert_eq!(refresh(&server, &token).0, 200);
    let mut response = agent()
        .post(server.token_url())
        .header("Authorization", basic("other", "other-secret"))
        .send_form([("grant_type", "refresh_token"), ("refresh_token", &token)])
        .unwrap();
    assert_eq!(response.status(), 400, "another client's token");
    let _ = response.body_mut().read_to_string();
    assert_eq!(count(&server), 2);

    assert!(server.revoke_refresh_token(&token));
    assert!(!server.refresh_token_is_live(&token));
    assert_eq!(refresh(&server, &token).0, 400);
    let issued = server.issued_refresh_tokens();
    assert_eq!(issued[0].status(), RefreshTokenStatus::Revoked);
    assert_eq!(issued[0].refresh_requests(), 3);

    let expired = server.issue_refresh_token(ID, "");
    assert!(server.expire_refresh_token(&expired));
    assert!(!server.refresh_token_is_live(&expired));
    assert_eq!(
        server.issued_refresh_tokens()[1].status(),
        RefreshTokenStatus::Expired
    );
    assert!(!server.refresh_token_is_live("unknown"));
    assert_eq!(server.issued_refresh_tokens().len(), 2);
}

#[test]
fn issued_refresh_tokens_are_listed_in_issue_order_with_their_user() {
    let server = start(true, 3600);
    server.sign_in_as("alice");
    let mut expected = vec![server.issue_refresh_token(ID, "a")];
    for _ in 0..20 {
        let last = expected.last().unwrap().clone();
        expected.push(field(&refresh(&server, &last), "refresh_token"));
    }
    let issued = server.issued_refresh_tokens();
    let tokens: Vec<&str> = issued.iter().map(|t| t.token()).collect();
    assert_eq!(tokens, expected);
    assert!(
        issued
            .iter()
            .all(|t| t.user_id() == "alice" && t.scope() == "a")
    );
    assert!(
        issued
            .windows(2)
            .all(|w| w[0].issued_at() <= w[1].issued_at())
    );
    assert_eq!(issued.iter().filter(|t| t.is_live()).count(), 1);
}

#[test]
fn issued_refresh_token_debug_hides_the_token() {
    let server = start(false, 3600);
    let token = server.issue_refresh_token(ID, "user-read-email");
    let debug = format!("{:?}", server.issued_refresh_tokens());
    assert!(!debug.contains(&token), "{debug}");
    assert!(!debug.contains(&token[..12]), "{debug}");
    assert!(
        debug.contains("Live") && debug.contains("Minted"),
        "{debug}"
    );
    let faults = format!(
        "{:?}",
        [
            Fault::LoseResponse,
            Fault::DelayResponse(Duration::from_secs(1))
        ]
    );
    assert_eq!(faults, "[LoseResponse, DelayResponse(1s)]");
}

#[test]
fn drop_stops_promptly_while_a_delayed_response_is_pending() {
    let server = start(true, 3600);
    let token = server.issue_refresh_token(ID, "");
    let addr = server.addr();
    server.inject(Fault::DelayResponse(Duration::from_secs(30)), 1);
    let pending = std::thread::spawn({
        let url = server.token_url();
        move || {
            ureq::Agent::new_with_defaults()
                .post(url)
                .header("Authorization", basic(ID, SECRET))
                .send_form([("grant_type", "refresh_token"), ("refresh_token", &token)])
                .map(|_| ())
        }
    });
    // Wait until the grant is processed and the answer is being held.
    wait_until("the grant is processed", || {
        server.issued_refresh_tokens().len() == 2
    });
    let started = Instant::now();
    drop(server);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(pending.join().unwrap().is_err(), "the client is cut off");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        std::net::TcpListener::bind(addr).is_ok(),
        "the port is free"
    );
}

/// tiny_http 0.12's pool can leave a connection of a burst queued with no
/// thread to serve it while its threads are held by idle connections: the
/// request then waits for another connection to close (here: forever, as
/// the idle ones stay open). The server keeps its pool moving.
#[test]
fn a_burst_of_idle_connections_does_not_starve_a_request() {
    for round in 0..6 {
        let server = start(false, 3600);
        let addr = server.addr();
        let idle: Vec<std::net::TcpStream> = (0..8)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let refresh_token = server.issue_refresh_token(ID, "user-read-email");
        // Starved, the request would wait until the idle connections close:
        // its timeout ends the test instead.
        let (status, _) = try_refresh(
            &agent_with_timeout(Duration::from_secs(10)),
            &server,
            &refresh_token,
        )
        .unwrap_or_else(|e| panic!("round {round}: the request was starved: {e}"));
        assert_eq!(status, 200, "round {round}");
        drop(idle);
    }
}
