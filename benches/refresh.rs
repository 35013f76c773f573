//! The cost of one refresh against the loopback fake accounts server
//! (`spotify_auth::testing::FakeSpotify`), beside a bare HTTP POST of the same
//! form to the same server with the same HTTP library, so that the library's
//! own share shows.
//!
//! `cargo bench --bench refresh` (blocking) or
//! `cargo bench --features async --bench refresh` (both modes):
//!
//! - `refresh/{blocking,async}/library`: `force_refresh`, a refresh now (as
//!   after a Web API `401`): the cache read under its lock, the POST, the
//!   answer parsed, stored and adopted; one token request per call, checked
//!   and printed before measuring. (A refresh margin longer than the token's
//!   lifetime, which made every `get_access_token` refresh, is refused by
//!   the builder since the lifecycle changes.)
//! - `refresh/{blocking,async}/bare_post`: the same `refresh_token` form with
//!   HTTP Basic, POSTed with a `ureq::Agent` / `reqwest::Client` made the way
//!   the library makes its own, the response body read, nothing parsed;
//! - `refresh/blocking/bare_post_like_library`: the same with the per-request
//!   settings of the library's ureq transport (`timeout_global` among them),
//!   and `bare_post_timeout_{global,recv_response}`: an agent with only a
//!   global timeout, or only a response timeout (which setting costs);
//!   `refresh/async/bare_post_like_library`: with the library's per-request
//!   timeout;
//! - `refresh/async/spawn_blocking_x2`: two round trips to tokio's blocking
//!   pool, which the async mode makes per refresh for its cache I/O.
//!
//! Nothing here asserts a timing; the figures are in docs/performance.md.

use std::time::Duration;

use criterion::Criterion;

/// A fake server, the refresh token it issued, and an expired token holding it.
#[allow(dead_code)]
fn server() -> (spotify_auth::testing::FakeSpotify, spotify_auth::TokenInfo) {
    let server = spotify_auth::testing::FakeSpotify::builder()
        .client("id", Some("s"))
        .start()
        .expect("fake server");
    let refresh_token = server.issue_refresh_token("id", "user-read-email");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let expired = spotify_auth::TokenInfo::new("BQ-expired", now - 60)
        .with_refresh_token(refresh_token)
        .with_scope("user-read-email");
    (server, expired)
}

/// The form and `Authorization` header of a refresh, as the library sends them.
#[allow(dead_code)]
fn refresh_form(token: &spotify_auth::TokenInfo) -> (String, String) {
    use base64::Engine;
    let refresh_token = token
        .refresh_token
        .as_ref()
        .expect("refresh token")
        .secret();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token)
        .finish();
    let basic = base64::engine::general_purpose::STANDARD.encode("id:s");
    (body, format!("Basic {basic}"))
}

/// Prints how many token requests `calls` calls made (expected: one each).
#[allow(dead_code)]
fn report_requests(
    mode: &str,
    server: &spotify_auth::testing::FakeSpotify,
    before: usize,
    calls: usize,
) {
    let requests = server.token_request_count() - before;
    println!(
        "refresh/{mode}: {calls} calls made {requests} token requests ({:.2} per call)",
        requests as f64 / calls as f64
    );
}

#[cfg(feature = "blocking")]
fn blocking(c: &mut Criterion) {
    use std::io::Read;

    use spotify_auth::InMemoryTokenCache;
    use spotify_auth::blocking::AuthorizationCode;

    let mut group = c.benchmark_group("refresh");
    {
        let (server, expired) = server();
        let auth = AuthorizationCode::builder()
            .read_environment(false)
            .client_id("id")
            .client_secret("s")
            .redirect_uri("http://127.0.0.1:8888/callback")
            .accounts_base_url(server.url())
            .token_cache(InMemoryTokenCache::with_token(expired))
            .build()
            .expect("valid settings");
        let before = server.token_request_count();
        for _ in 0..20 {
            auth.force_refresh().expect("refreshed");
        }
        report_requests("blocking", &server, before, 20);
        group.bench_function("blocking/library", |b| {
            b.iter(|| auth.force_refresh().expect("refreshed"))
        });
    }
    {
        let (server, expired) = server();
        let (body, authorization) = refresh_form(&expired);
        let url = server.token_url();
        let agent = |timeouts: fn(
            ureq::config::ConfigBuilder<ureq::typestate::AgentScope>,
        )
            -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope>| {
            timeouts(ureq::Agent::config_builder().user_agent("spotify-auth-bench"))
                .build()
                .new_agent()
        };
        // `like_library`: the request settings the library's transport sets
        // on each request (no redirects, statuses as responses, a 30 s
        // `timeout_global`).
        let post = |agent: &ureq::Agent, like_library: bool| {
            let request = agent
                .post(&url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Accept", "application/json")
                .header("Authorization", &authorization);
            let response = if like_library {
                request
                    .config()
                    .http_status_as_error(false)
                    .max_redirects(0)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .send(body.as_bytes())
            } else {
                request.send(body.as_bytes())
            };
            let mut answer = Vec::new();
            response
                .expect("token response")
                .into_body()
                .into_reader()
                .read_to_end(&mut answer)
                .expect("body");
            answer
        };
        let plain = agent(|c| c);
        assert!(
            post(&plain, false).starts_with(b"{"),
            "a JSON token response"
        );
        group.bench_function("blocking/bare_post", |b| b.iter(|| post(&plain, false)));
        group.bench_function("blocking/bare_post_like_library", |b| {
            b.iter(|| post(&plain, true))
        });
        // Which setting costs: a global timeout on the agent, against a
        // timeout on the response alone.
        let global = agent(|c| c.timeout_global(Some(Duration::from_secs(30))));
        group.bench_function("blocking/bare_post_timeout_global", |b| {
            b.iter(|| post(&global, false))
        });
        let recv = agent(|c| c.timeout_recv_response(Some(Duration::from_secs(30))));
        group.bench_function("blocking/bare_post_timeout_recv_response", |b| {
            b.iter(|| post(&recv, false))
        });
    }
    group.finish();
}

#[cfg(feature = "async")]
fn asynchronous(c: &mut Criterion) {
    use spotify_auth::InMemoryTokenCache;
    use spotify_auth::asynchronous::AuthorizationCode;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("refresh");
    {
        let (server, expired) = server();
        let auth = AuthorizationCode::builder()
            .read_environment(false)
            .client_id("id")
            .client_secret("s")
            .redirect_uri("http://127.0.0.1:8888/callback")
            .accounts_base_url(server.url())
            .token_cache(InMemoryTokenCache::with_token(expired))
            .build()
            .expect("valid settings");
        let before = server.token_request_count();
        rt.block_on(async {
            for _ in 0..20 {
                auth.force_refresh().await.expect("refreshed");
            }
        });
        report_requests("async", &server, before, 20);
        group.bench_function("async/library", |b| {
            b.to_async(&rt)
                .iter(|| async { auth.force_refresh().await.expect("refreshed") })
        });
    }
    {
        let (server, expired) = server();
        let (body, authorization) = refresh_form(&expired);
        // The library's crypto provider (ring), in case no client installed it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = rt.block_on(async {
            reqwest::Client::builder()
                .user_agent("spotify-auth-bench")
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("reqwest client")
        });
        let url = server.token_url();
        // `like_library`: with the per-request timeout the library sets.
        let post = |like_library: bool| {
            let mut request = client
                .post(&url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Accept", "application/json")
                .header("Authorization", &authorization)
                .body(body.clone());
            if like_library {
                request = request.timeout(Duration::from_secs(30));
            }
            async move {
                request
                    .send()
                    .await
                    .expect("token response")
                    .bytes()
                    .await
                    .expect("body")
            }
        };
        let first = rt.block_on(post(false));
        assert!(first.starts_with(b"{"), "a JSON token response");
        group.bench_function("async/bare_post", |b| b.to_async(&rt).iter(|| post(false)));
        group.bench_function("async/bare_post_like_library", |b| {
            b.to_async(&rt).iter(|| post(true))
        });
    }
    // What the async mode adds around the POST: its cache I/O runs on tokio's
    // blocking pool, twice per refresh (lock + read, then write).
    group.bench_function("async/spawn_blocking_x2", |b| {
        b.to_async(&rt).iter(|| async {
            for _ in 0..2 {
                tokio::task::spawn_blocking(|| std::hint::black_box(1))
                    .await
                    .expect("blocking task");
            }
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    #[cfg(feature = "blocking")]
    blocking(&mut c);
    #[cfg(feature = "async")]
    asynchronous(&mut c);
    #[cfg(not(any(feature = "blocking", feature = "async")))]
    {
        let _ = &mut c;
        eprintln!("refresh: enable `blocking` and/or `async` to measure something");
    }
    c.final_summary();
}
