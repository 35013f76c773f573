//! Entry points for the fuzz targets (`fuzz/`) into parsers that are not
//! public. Compiled only with `--cfg fuzzing`, which `cargo fuzz` sets: no
//! part of the API, and absent from every other build. Each returns what
//! its target checks: an error's text (`Display` and `Debug`), or what was
//! parsed.

use std::time::Duration;

use crate::retry::{RawResponse, Resend, RetryPolicy, Step, decide, endpoint_error};
use crate::token::TokenResponse;

/// `Display` and `Debug` of an error, for a target to search.
fn shown(e: &crate::Error) -> String {
    format!("{e} {e:?}")
}

/// Parses a 2xx token answer: `Ok(true)` for a whole answer, `Ok(false)`
/// for one kept only for its refresh token, or the error's text (the kept
/// answer's problem included).
pub fn token_response(body: &[u8]) -> Result<bool, String> {
    match TokenResponse::parse(body) {
        Ok(response) => match response.problem() {
            None => Ok(true),
            Some(problem) => Err(shown(&problem)),
        },
        Err(e) => Err(shown(&e)),
    }
}

/// The text of the error a non-2xx answer makes.
pub fn endpoint_error_text(status: u16, body: &[u8]) -> String {
    shown(&endpoint_error(&RawResponse {
        status,
        retry_after: None,
        body: body.to_vec(),
    }))
}

/// How long a 429 with this `Retry-After` makes the first attempt wait,
/// with the default policy: `None` when it is not retried.
pub fn retry_after_wait(value: &str) -> Option<Duration> {
    let answer = RawResponse {
        status: 429,
        retry_after: Some(value.to_owned()),
        body: Vec::new(),
    };
    match decide(
        &RetryPolicy::default(),
        Ok(answer),
        0,
        Duration::ZERO,
        1.0,
        Resend::Allowed,
    ) {
        Step::Retry(wait) => Some(wait),
        Step::Done(_) => None,
    }
}

/// `parse_callback`: the code, or the error's text.
pub fn parse_callback(url: &str, expected_state: &str) -> Result<String, String> {
    crate::authorize::parse_callback(url, Some(expected_state))
        .map(|callback| callback.code.into_secret())
        .map_err(|e| shown(&e))
}

pub use crate::callback::fuzzing::{classify_callback, redirect_uri};
