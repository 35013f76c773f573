//! The token endpoint's answer: `TokenResponse::parse` for a 2xx body,
//! `endpoint_error` for any other status.

use proptest::prelude::*;

use super::generators::{Gen, json, mutate_bytes};
use super::{allocation_bound, assert_error_has_no_secret, assert_no_secret, peak_during};
use crate::retry::{RawResponse, endpoint_error};
use crate::token::TokenResponse;

/// A body: structured (an answer or a near miss of one), mutated, or raw
/// bytes.
fn body(g: &mut Gen, error_field: bool) -> Vec<u8> {
    match g.range(0, 5) {
        0 => g.bytes(300),
        1 | 2 => {
            let valid = json::token_response(g, error_field);
            mutate_bytes(g, &valid)
        }
        _ => json::token_response(g, error_field).into_bytes(),
    }
}

proptest! {
    #![proptest_config(super::config())]

    /// Any body: no panic, memory linear in its size, and an answer kept
    /// only with a non-empty access token or a refresh token.
    #[test]
    fn any_answer_parses_or_fails_within_bounds(input in super::input()) {
        let body = body(&mut Gen::new(&input), true);
        let (parsed, peak) = peak_during(|| TokenResponse::parse(&body));
        prop_assert!(peak <= allocation_bound(body.len()), "{peak} bytes for {}", body.len());
        if let Ok(response) = parsed {
            let token = response.to_token();
            match response.problem() {
                None => prop_assert!(!token.access_token.secret().is_empty()),
                Some(_) => prop_assert!(token.refresh_token.is_some() && token.is_expired()),
            }
        }
    }

    /// Whatever a structured answer holds where, no token is quoted in the
    /// error or the kept answer's problem.
    #[test]
    fn no_token_in_any_error(input in super::input()) {
        let body = json::token_response(&mut Gen::new(&input), true);
        match TokenResponse::parse(body.as_bytes()) {
            Err(e) => assert_error_has_no_secret(&e)?,
            Ok(response) => {
                assert_no_secret(&format!("{response:?}"))?;
                if let Some(problem) = response.problem() {
                    assert_error_has_no_secret(&problem)?;
                }
            }
        }
    }

    /// A refusal (any non-2xx status) reports Spotify's `error` and
    /// `error_description`, never a token the body holds; `Debug` shows
    /// the body's length only.
    #[test]
    fn no_token_in_an_endpoint_error(input in super::input(), status in 300u16..600) {
        let mut g = Gen::new(&input);
        let body = json::token_response(&mut g, true).into_bytes();
        let (e, peak) = peak_during(|| endpoint_error(&RawResponse { status, retry_after: None, body: body.clone() }));
        prop_assert!(peak <= allocation_bound(body.len()));
        assert_error_has_no_secret(&e)?;
    }
}
