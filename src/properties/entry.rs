//! What a token store holds, read by `Entry::from_json` (and
//! `TokenInfo::from_json`): token files (ours, the Python library's,
//! hand-edited ones), logout and refusal records, sealed entries, and the
//! same JSON from Redis.

use proptest::prelude::*;

use super::generators::{Gen, json};
use super::{allocation_bound, assert_no_secret, peak_during};
use crate::entry::Entry;
use crate::{AccessToken, LoginEnded, RefreshToken, SealedEntry, TokenInfo};

/// Stored bytes: an entry, a near miss of one, or raw bytes.
fn stored(g: &mut Gen) -> Vec<u8> {
    match g.range(0, 7) {
        0 => g.bytes(200),
        _ => json::entry(g, true).into_bytes(),
    }
}

/// A token with any text in its fields.
fn token(g: &mut Gen) -> TokenInfo {
    TokenInfo {
        access_token: AccessToken::new(g.text(40)),
        expires_at: g.u64(),
        refresh_token: g.chance(3, 4).then(|| RefreshToken::new(g.text(40))),
        scope: g.chance(1, 2).then(|| g.text(30)),
        authorized_at: g.chance(1, 2).then(|| g.u64()),
    }
}

/// Any entry this crate may write.
fn entry(g: &mut Gen) -> Entry {
    match g.range(0, 4) {
        0 => {
            let tokens: Vec<RefreshToken> = (0..g.range(0, 20))
                .map(|_| RefreshToken::new(g.text(20)))
                .collect();
            Entry::Ended(LoginEnded::logout(&tokens))
        }
        1 => Entry::Ended(LoginEnded::refusal(&RefreshToken::new(g.text(20)))),
        2 => Entry::Sealed(SealedEntry::new(g.text(60))),
        _ => Entry::Token(token(g)),
    }
}

/// The `ended` names of a record as written, when `bytes` is a JSON
/// object with a list of strings there.
fn names_written(bytes: &[u8]) -> Vec<String> {
    let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(bytes) else {
        return Vec::new();
    };
    match object.get("ended") {
        Some(serde_json::Value::Array(names)) => names
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

proptest! {
    #![proptest_config(super::config())]

    /// Anything stored: no panic, memory linear in its size, an error that
    /// quotes nothing of it, and what is accepted writes back as itself.
    #[test]
    fn anything_stored_reads_within_bounds_and_round_trips(input in super::input()) {
        let bytes = stored(&mut Gen::new(&input));
        let (read, peak) = peak_during(|| Entry::from_json(&bytes));
        prop_assert!(peak <= allocation_bound(bytes.len()), "{peak} bytes for {}", bytes.len());
        match read {
            Err(e) => assert_no_secret(&e)?,
            Ok(entry) => {
                assert_no_secret(&format!("{entry:?}"))?;
                let again = Entry::from_json(entry.to_json().as_bytes());
                prop_assert_eq!(again.as_ref(), Ok(&entry));
            }
        }
        let (token, peak) = peak_during(|| TokenInfo::from_json(&bytes));
        prop_assert!(peak <= allocation_bound(bytes.len()));
        match token {
            Err(e) => assert_no_secret(&e)?,
            Ok(token) => {
                assert_no_secret(&format!("{token:?}"))?;
                prop_assert_eq!(TokenInfo::from_json(token.to_json().as_bytes()), Ok(token));
            }
        }
    }

    /// Every entry this crate writes reads back equal.
    #[test]
    fn every_entry_written_reads_back_equal(input in super::input()) {
        let entry = entry(&mut Gen::new(&input));
        let json = entry.to_json();
        prop_assert_eq!(Entry::from_json(json.as_bytes()), Ok(entry.clone()));
        if let Entry::Token(token) = &entry {
            prop_assert_eq!(&token.to_json(), &json);
            let back = TokenInfo::from_json(json.as_bytes());
            prop_assert_eq!(back.as_ref(), Ok(token));
        }
    }

    /// A record is accepted only with names of 32 hex digits.
    #[test]
    fn a_record_names_only_hex_fingerprints(input in super::input()) {
        let bytes = json::record(&mut Gen::new(&input)).into_bytes();
        if let Ok(Entry::Ended(_)) = Entry::from_json(&bytes) {
            for name in names_written(&bytes) {
                let hex = name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit());
                prop_assert!(hex, "accepted {name:?}");
            }
        }
    }
}

/// Found by `a_record_names_only_hex_fingerprints`: `Fingerprint::from_hex`
/// parsed each pair of digits with `u8::from_str_radix`, which takes a
/// leading `+`, so `"+f+f…"` (not 32 hex digits) was read as the name of a
/// refresh token (`0f0f…`). Fixed: digits only.
#[test]
fn a_signed_fingerprint_is_refused() {
    let record = format!(
        r#"{{"login_ended":"logout","at_ms":1,"ended":["{}"]}}"#,
        "+f".repeat(16)
    );
    assert!(
        Entry::from_json(record.as_bytes()).is_err(),
        "accepted {record}"
    );
}

/// Noticed while writing these properties: a record whose `login_ended`
/// key is repeated failed `from_json`'s probe (serde refuses a duplicate
/// field), and was then read as a token when it also had token fields, so
/// a logout record edited by hand (or merged badly) read as a live login.
/// Fixed: a probe that fails is an error.
#[test]
fn a_record_with_a_repeated_key_is_never_a_token() {
    let json = br#"{"login_ended":"logout","login_ended":"logout","at_ms":1,"access_token":"a","expires_at":1}"#;
    assert!(
        !matches!(Entry::from_json(json), Ok(Entry::Token(_))),
        "read as a token"
    );
}
