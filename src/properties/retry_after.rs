//! `Retry-After` as any server may send it, through the retry decision:
//! a wait is never longer than the call's budget, and a value that is not
//! seconds is treated as absent.

use std::time::Duration;

use proptest::prelude::*;

use super::generators::{Gen, text};
use crate::retry::{RawResponse, Resend, RetryPolicy, Step, decide};

proptest! {
    #![proptest_config(super::config())]

    #[test]
    fn a_wait_fits_the_budget_and_a_value_is_seconds_or_absent(
        input in super::input(),
        retry in 0u32..5,
        slept_ms in 0u64..40_000,
    ) {
        let mut g = Gen::new(&input);
        let value = text::retry_after(&mut g);
        let policy = RetryPolicy::default();
        let slept = Duration::from_millis(slept_ms);
        let answer = RawResponse { status: 429, retry_after: Some(value.clone()), body: Vec::new() };
        let seconds = value.trim().parse::<u64>().ok().map(Duration::from_secs);
        match decide(&policy, Ok(answer), retry, slept, 1.0, Resend::Allowed) {
            Step::Retry(wait) => {
                prop_assert!(slept + wait <= policy.max_total_delay, "{value:?}: {wait:?}");
                if let Some(seconds) = seconds {
                    prop_assert_eq!(wait, seconds);
                }
            }
            Step::Done(Err(crate::Error::RateLimited { retry_after })) => {
                prop_assert_eq!(Some(retry_after), seconds);
            }
            Step::Done(Err(crate::Error::TokenEndpoint { status: 429, .. })) => {
                prop_assert!(seconds.is_none(), "{value:?}");
            }
            other => prop_assert!(false, "{value:?}: {other:?}"),
        }
    }
}
