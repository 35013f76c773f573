//! `SealingKeys::from_env` (feature `encryption`). This binary changes its
//! environment: its tests take `ENV`, and use variable names of their own.
#![cfg(feature = "encryption")]

use std::sync::Mutex;

use spotify_auth::{Error, InMemoryTokenCache, SealedCache, SealingKey, SealingKeys, TokenCache};

static ENV: Mutex<()> = Mutex::new(());

const HEX_NEW: &str = "1111111111111111111111111111111111111111111111111111111111111111";
/// `[0x22; 32]` in base64.
const B64_OLD: &str = "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=";

/// `from_env(var)` with `var` set to `value` (or unset) meanwhile.
fn from_env(var: &str, value: Option<&str>) -> spotify_auth::Result<SealingKeys> {
    let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: every test of this binary holds ENV while it touches the
    // environment, and nothing else here reads it concurrently.
    unsafe {
        match value {
            Some(v) => std::env::set_var(var, v),
            None => std::env::remove_var(var),
        }
    }
    let keys = SealingKeys::from_env(var);
    unsafe { std::env::remove_var(var) };
    keys
}

fn config_message(result: spotify_auth::Result<SealingKeys>, value: &str) -> String {
    match result {
        Err(
            e @ Error::Config {
                setting: "sealing_key",
                ..
            },
        ) => {
            let text = format!("{e} {e:?}");
            if !value.trim().is_empty() {
                assert!(!text.contains(value.trim()), "{text}");
            }
            text
        }
        other => panic!("expected a sealing_key config error, got {other:?}"),
    }
}

#[test]
fn keys_come_from_the_variable_the_app_names_current_first() {
    let keys = from_env(
        "SPOTIFY_AUTH_TEST_SEALING_LIST",
        Some(&format!("{HEX_NEW}, {B64_OLD}")),
    )
    .unwrap();
    let new = SealingKey::new([0x11; 32]).id();
    let old = SealingKey::new([0x22; 32]).id();
    assert_eq!(keys.ids().collect::<Vec<_>>(), [new, old]);
    let debug = format!("{keys:?}");
    assert!(
        !debug.contains("1111") && !debug.contains("IiIi"),
        "{debug}"
    );

    // What the old key sealed opens with the list, which seals with the new.
    let old_cache = SealedCache::new(InMemoryTokenCache::new(), SealingKey::new([0x22; 32]), "u");
    let t = spotify_auth::TokenInfo::new("a", 1 << 40).with_refresh_token("r");
    old_cache.set(&t).unwrap();
    let rotated = SealedCache::new(old_cache.into_inner(), keys, "u");
    assert_eq!(rotated.get().unwrap(), Some(t));

    let one = from_env("SPOTIFY_AUTH_TEST_SEALING_ONE", Some(B64_OLD)).unwrap();
    assert_eq!(one.ids().collect::<Vec<_>>(), [old]);
}

#[test]
fn a_missing_or_malformed_variable_names_it_never_its_value() {
    let var = "SPOTIFY_AUTH_TEST_SEALING_BAD";
    let message = config_message(from_env(var, None), "");
    assert!(
        message.contains(var) && message.contains("not set"),
        "{message}"
    );
    let message = config_message(from_env(var, Some("  ")), "");
    assert!(
        message.contains(var) && message.contains("empty"),
        "{message}"
    );
    for bad in [
        "hunter2-hunter2-hunter2",
        &HEX_NEW[..62],
        &format!("{HEX_NEW},hunter2"),
        &format!("{HEX_NEW},"),
        "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIi", // 30 bytes
    ] {
        let message = config_message(from_env(var, Some(bad)), bad);
        assert!(message.contains(var), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!message.contains("IiIiIiIi"), "{message}");
    }
    let message = config_message(from_env(var, Some(&format!("{HEX_NEW},x"))), HEX_NEW);
    assert!(message.contains("key 2 of 2"), "{message}");
}
