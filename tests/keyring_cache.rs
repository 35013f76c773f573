//! `KeyringTokenCache` against a real Secret Service: GNOME Keyring in a
//! private D-Bus session that each test starts for itself (see
//! `keyring_support`). Not a mock: every item goes through D-Bus to the
//! daemon and back.
#![cfg(all(
    feature = "keyring",
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]

mod keyring_support;

use std::sync::Arc;
use std::time::Duration;

use keyring_core::CredentialStore;
use spotify_auth::{CacheLock, Entry, KeyringTokenCache, LoginEnded, TokenCache, TokenInfo};

const SERVICE: &str = "spotify-auth-test";
const USER: &str = "alice";

/// A test that runs in its own Secret Service (see `keyring_support`).
macro_rules! secret_service_test {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            if !keyring_support::in_secret_service(stringify!($name)) {
                return;
            }
            $body
        }
    };
}

/// The cache of the test item in the session's Secret Service, with its
/// lock file in the (private, temporary) home.
fn cache() -> KeyringTokenCache {
    KeyringTokenCache::new(SERVICE, USER)
}

/// The session's Secret Service, opened directly, to look at the items.
fn secret_service() -> Arc<CredentialStore> {
    zbus_secret_service_keyring_store::Store::new().expect("the private Secret Service")
}

/// The raw secret of the item of `user`, `None` when there is none.
fn raw(user: &str) -> Option<Vec<u8>> {
    let item = keyring_core::Entry::new_in_store(&secret_service(), SERVICE, user).unwrap();
    match item.get_secret() {
        Ok(secret) => Some(secret),
        Err(keyring_core::Error::NoEntry) => None,
        Err(e) => panic!("{e}"),
    }
}

fn put(user: &str, secret: &[u8]) {
    keyring_core::Entry::new_in_store(&secret_service(), SERVICE, user)
        .unwrap()
        .set_secret(secret)
        .unwrap();
}

fn token(access: &str, scope_len: usize) -> TokenInfo {
    TokenInfo::new(access, 1_900_000_000)
        .with_refresh_token(format!("{access}-refresh-token"))
        .with_scope(
            "user-read-email "
                .repeat(scope_len / 16 + 1)
                .trim()
                .to_owned(),
        )
        .with_authorized_at(1_800_000_000)
}

secret_service_test! {
    /// A token and a record go in and come back, through another handle
    /// (another connection) too; `get`, `set` and `clear` on top of them.
    fn round_trip_of_tokens_and_records() {
        let cache = cache();
        cache.check().expect("the Secret Service answers");
        assert_eq!(cache.read().unwrap(), None, "nothing stored yet");
        let first = token("first-access-token-value", 40);
        cache.set(&first).unwrap();
        assert_eq!(cache.get().unwrap(), Some(first.clone()));
        let other = KeyringTokenCache::new(SERVICE, USER);
        assert_eq!(other.get().unwrap(), Some(first.clone()));
        assert_eq!(raw(USER).unwrap(), Entry::Token(first.clone()).to_json().into_bytes());

        let record = Entry::Ended(LoginEnded::logout([first.refresh_token.as_ref().unwrap()]));
        cache.write(&record, &CacheLock::none()).unwrap();
        assert_eq!(other.read().unwrap(), Some(record));
    }
}

secret_service_test! {
    /// A later write replaces the item; it is never duplicated.
    fn overwrite_replaces_the_item() {
        let cache = cache();
        for n in 0..3 {
            let token = token(&format!("access-token-{n}"), 40);
            cache.set(&token).unwrap();
            assert_eq!(KeyringTokenCache::new(SERVICE, USER).get().unwrap(), Some(token));
        }
    }
}

secret_service_test! {
    /// A logout is a record in the keychain, never an empty one: it reads
    /// back as the record (and `get` as no token), and names the ended
    /// refresh token.
    fn a_logout_record_is_not_lost() {
        let cache = cache();
        let login = token("logged-out-access-token", 40);
        cache.set(&login).unwrap();
        cache.clear().unwrap();
        let read = KeyringTokenCache::new(SERVICE, USER).read().unwrap();
        match read {
            Some(Entry::Ended(record)) => {
                assert!(record.ends(login.refresh_token.as_ref().unwrap()));
            }
            other => panic!("expected the logout record, got {other:?}"),
        }
        assert_eq!(cache.get().unwrap(), None);
        assert!(raw(USER).is_some(), "the item is still there");
        let stored = String::from_utf8(raw(USER).unwrap()).unwrap();
        assert!(!stored.contains("logged-out-access-token"), "{stored}");
    }
}

secret_service_test! {
    /// An item that holds no token is an error naming the item, never its
    /// value, and never `None`; a logout writes over it.
    fn a_corrupt_value_is_an_error_naming_the_item() {
        let cache = cache();
        for bad in [&b"corrupt-secret-value: not json"[..], b"{\"access_token\": \"corrupt-secret-value\"", b""] {
            put(USER, bad);
            let err = cache.read().unwrap_err();
            let text = format!("{err} | {err:?}");
            assert!(text.contains("keychain item \"spotify-auth-test\" / \"alice\""), "{text}");
            assert!(!text.contains("corrupt-secret-value"), "{text}");
            assert!(cache.get().is_err());
        }
        cache.clear().unwrap();
        assert!(matches!(cache.read().unwrap(), Some(Entry::Ended(_))));
    }
}

secret_service_test! {
    /// A value over the Windows limit (2,560 bytes) is split across items,
    /// read back whole, replaced by a split in the other part names, and
    /// by one item again, with no part left behind; a torn split is an
    /// error, never a token.
    fn a_value_over_the_size_limit_is_split_and_read_whole() {
        let cache = cache();
        let large = token("large-access-token", 6000);
        let len = Entry::Token(large.clone()).to_json().len();
        assert!(len > 2 * KeyringTokenCache::DEFAULT_MAX_ITEM_LEN, "{len}");
        cache.set(&large).unwrap();
        assert_eq!(KeyringTokenCache::new(SERVICE, USER).get().unwrap(), Some(large.clone()));
        let parts = len.div_ceil(KeyringTokenCache::DEFAULT_MAX_ITEM_LEN);
        for i in 0..parts {
            let part = raw(&format!("{USER}#part-a{i}")).expect("part written");
            assert!(part.len() <= KeyringTokenCache::DEFAULT_MAX_ITEM_LEN);
        }
        assert!(raw(&format!("{USER}#part-a{parts}")).is_none());
        let manifest = String::from_utf8(raw(USER).unwrap()).unwrap();
        assert!(manifest.contains("spotify_auth_split"), "{manifest}");
        assert!(!manifest.contains("large-access-token"), "{manifest}");

        let larger = token("larger-access-token", 7000);
        cache.set(&larger).unwrap();
        assert_eq!(cache.get().unwrap(), Some(larger));
        assert!(raw(&format!("{USER}#part-a0")).is_none(), "the old parts are removed");
        assert!(raw(&format!("{USER}#part-b0")).is_some());

        // Torn: a part of the split replaced.
        put(&format!("{USER}#part-b1"), b"x");
        let err = cache.read().unwrap_err().to_string();
        assert!(err.contains("keychain item"), "{err}");
        assert!(!err.contains("larger-access-token"), "{err}");

        let small = token("small-access-token", 10);
        cache.set(&small).unwrap();
        assert_eq!(cache.get().unwrap(), Some(small));
        assert!(raw(&format!("{USER}#part-b0")).is_none());
    }
}

secret_service_test! {
    /// The lock file serialises writers that each have their own handle
    /// (and connection): every read-modify-write under it lands; while one
    /// holds it, `try_lock` of another says `None` at once and `lock`
    /// waits, then fails after its wait.
    fn the_lock_serialises_separate_handles() {
        let init = cache();
        init.set(&token("count-0", 0)).unwrap();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(|| {
                    let cache = KeyringTokenCache::new(SERVICE, USER);
                    for _ in 0..5 {
                        let guard = cache.lock().unwrap();
                        let current = cache.get().unwrap().unwrap();
                        let n: u32 = current.access_token.secret()["count-".len()..].parse().unwrap();
                        cache
                            .write(&Entry::Token(token(&format!("count-{}", n + 1), 0)), &guard)
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(init.get().unwrap().unwrap().access_token.secret(), "count-10");

        let held = init.lock().unwrap();
        let other = KeyringTokenCache::new(SERVICE, USER).with_lock_wait(Duration::from_millis(100));
        assert_eq!(other.lock_path(), init.lock_path(), "the same item, the same lock");
        assert!(other.try_lock().unwrap().is_none());
        let err = other.lock().unwrap_err().to_string();
        assert!(err.contains("still held"), "{err}");
        drop(held);
        assert!(other.try_lock().unwrap().is_some());
        let lock_file = init.lock_path().unwrap();
        assert!(lock_file.starts_with(std::env::var("XDG_CACHE_HOME").unwrap()), "{lock_file:?}");
        assert_eq!(std::fs::read(lock_file).unwrap(), b"", "the lock file holds nothing");
    }
}

#[cfg(feature = "blocking")]
secret_service_test! {
    /// The blocking flow refreshes an expired token kept in the keychain
    /// and stores the new one there, under the keychain's lock file.
    fn a_flow_refreshes_into_the_keychain() {
        use spotify_auth::blocking::AuthorizationCode;
        use spotify_auth::testing::FakeSpotify;

        let server = FakeSpotify::builder().client("keychain-client", None).start().unwrap();
        let refresh = server.issue_refresh_token("keychain-client", "user-read-email");
        cache()
            .set(&TokenInfo::new("expired-access-token", 1).with_refresh_token(refresh).with_scope("user-read-email"))
            .unwrap();
        let auth = AuthorizationCode::builder()
            .client_id("keychain-client")
            .redirect_uri("http://127.0.0.1:8888/callback")
            .accounts_base_url(server.url())
            .read_environment(false)
            .token_cache(cache())
            .build()
            .unwrap();
        let access = auth.get_access_token().unwrap();
        assert_ne!(access, "expired-access-token");
        assert_eq!(server.token_request_count(), 1);
        let stored = KeyringTokenCache::new(SERVICE, USER).get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), access);
        let debug = format!("{:?} {:?}", cache(), auth);
        assert!(!debug.contains(&access), "{debug}");
    }
}
