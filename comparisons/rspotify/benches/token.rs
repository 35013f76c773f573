//! A valid token, per call, in spotify-auth and in rspotify 0.16 (one mode per
//! build: `cargo bench --features blocking` or `cargo bench --features async`).
//!
//! - `spotify-auth/get_access_token`: our hot path (returns the token);
//! - `spotify-auth/get_authorization_header`: the header value an API call
//!   needs (`Bearer {token}`), kept pre-formatted by the library;
//! - `spotify-auth/bearer_header`: `get_access_token` plus
//!   `format!("Bearer {token}")`, the header made by the caller;
//! - `rspotify/check_and_clone`: what rspotify does to hand out a valid token:
//!   `auto_reauth` (lock, check expiry, unlock) then lock and clone the access
//!   token;
//! - `rspotify/auth_headers`: its whole per-request header path
//!   (`BaseClient::auth_headers`, called by every `api_get`/`api_post`...):
//!   `auto_reauth` then lock and build a `HashMap` with the header.
//!
//! Nothing is asserted; the figures are in docs/performance.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use rspotify::prelude::*;
use rspotify_comparison::{MODE, our_token, ours, their_token, theirs};

#[cfg(feature = "blocking")]
fn bench(c: &mut Criterion) {
    let ours = ours(our_token(3600, "AQ-refresh"), None);
    ours.get_access_token().expect("a valid token");
    let theirs = theirs(their_token(3600, "AQ-refresh"), None);
    let mut group = c.benchmark_group(format!("token/{MODE}"));
    group.bench_function("spotify-auth/get_access_token", |b| {
        b.iter(|| ours.get_access_token().expect("a valid token"))
    });
    group.bench_function("spotify-auth/get_authorization_header", |b| {
        b.iter(|| ours.get_authorization_header().expect("a valid token"))
    });
    group.bench_function("spotify-auth/bearer_header", |b| {
        b.iter(|| format!("Bearer {}", ours.get_access_token().expect("a valid token")))
    });
    group.bench_function("rspotify/check_and_clone", |b| {
        b.iter(|| {
            theirs.auto_reauth().expect("no refresh needed");
            let token = theirs.get_token();
            let guard = token.lock().expect("token lock");
            black_box(guard.as_ref().map(|t| t.access_token.clone()))
        })
    });
    group.bench_function("rspotify/auth_headers", |b| {
        b.iter(|| theirs.auth_headers().expect("headers"))
    });
    group.finish();
}

#[cfg(feature = "async")]
fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ours = ours(our_token(3600, "AQ-refresh"), None);
    rt.block_on(ours.get_access_token()).expect("a valid token");
    let theirs = theirs(their_token(3600, "AQ-refresh"), None);
    let mut group = c.benchmark_group(format!("token/{MODE}"));
    group.bench_function("spotify-auth/get_access_token", |b| {
        b.to_async(&rt)
            .iter(|| async { ours.get_access_token().await.expect("a valid token") })
    });
    group.bench_function("spotify-auth/get_authorization_header", |b| {
        b.to_async(&rt).iter(|| async {
            ours.get_authorization_header()
                .await
                .expect("a valid token")
        })
    });
    group.bench_function("spotify-auth/bearer_header", |b| {
        b.to_async(&rt).iter(|| async {
            format!(
                "Bearer {}",
                ours.get_access_token().await.expect("a valid token")
            )
        })
    });
    group.bench_function("rspotify/check_and_clone", |b| {
        b.to_async(&rt).iter(|| async {
            theirs.auto_reauth().await.expect("no refresh needed");
            let token = theirs.get_token();
            let guard = token.lock().await.expect("token lock");
            black_box(guard.as_ref().map(|t| t.access_token.clone()))
        })
    });
    group.bench_function("rspotify/auth_headers", |b| {
        b.to_async(&rt)
            .iter(|| async { theirs.auth_headers().await.expect("headers") })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
}
