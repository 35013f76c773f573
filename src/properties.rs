//! Property tests of the library's parsers, fed generated input (the
//! generators in `tests/generators/`, shared with the fuzz targets in
//! `fuzz/`): whatever the input, no panic, bounded memory, no secret in an
//! error's text, and the round trips hold. The callback server's own
//! properties are in `callback/properties.rs`; those of the public types
//! (caches, `Scopes`) in `tests/properties.rs`; the CLI's beside its
//! parsers.
//!
//! `PROPTEST_CASES` sets the number of cases of each property (default
//! [`DEFAULT_CASES`]); failures are kept in `proptest-regressions/` and
//! replayed first on every run. See `docs/property-tests.md`.

#[path = "../tests/generators/mod.rs"]
pub(crate) mod generators;

mod alloc_meter;
mod authorization_url;
mod entry;
mod retry_after;
mod token_response;

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

pub(crate) use alloc_meter::peak_during;

/// Cases per property when `PROPTEST_CASES` is not set: enough to catch
/// the easy ones in every `cargo test`, few enough to cost a second or so.
pub(crate) const DEFAULT_CASES: u32 = 256;

/// The configuration of every property: [`DEFAULT_CASES`] cases unless
/// `PROPTEST_CASES` says otherwise, failures persisted.
pub(crate) fn config() -> ProptestConfig {
    cases(DEFAULT_CASES)
}

/// [`config`] with `default` cases unless `PROPTEST_CASES` is set (the
/// socket property takes fewer by default: each case costs connections).
pub(crate) fn cases(default: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    config
}

/// The bytes that drive a generator.
pub(crate) fn input() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..1024)
}

/// The most a parser may allocate for an input of `len` bytes: linear in
/// it, whatever the input says (a declared length, a nesting depth).
pub(crate) fn allocation_bound(len: usize) -> usize {
    64 * len + (256 << 10)
}

/// Fails when `text` (an error's `Display` or `Debug`) holds a secret a
/// generator wrote.
pub(crate) fn assert_no_secret(text: &str) -> Result<(), TestCaseError> {
    prop_assert!(!generators::has_marker(text), "a secret in {text:?}");
    Ok(())
}

/// [`assert_no_secret`] on an error's `Display`, `Debug` and its causes.
pub(crate) fn assert_error_has_no_secret(
    error: &(dyn std::error::Error + 'static),
) -> Result<(), TestCaseError> {
    assert_no_secret(&format!("{error:?}"))?;
    let mut link = Some(error);
    while let Some(e) = link {
        assert_no_secret(&e.to_string())?;
        link = e.source();
    }
    Ok(())
}
