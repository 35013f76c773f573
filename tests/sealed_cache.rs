//! `SealedCache` (feature `encryption`) over files and in both flows against
//! the fake accounts server: no token in the clear on disk, tampering and
//! moved files are errors (never "logged out"), tokens in the clear are
//! re-sealed, flows refresh through it. The unit tests
//! (`src/cache/sealed/tests.rs`) cover the format, rotation and migration
//! over memory; `tests/redis_sealed.rs` covers Redis.
#![cfg(all(feature = "encryption", any(feature = "blocking", feature = "async")))]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Client, Flow, Mode};
use spotify_auth::testing::FakeSpotify;
use spotify_auth::{
    CacheLock, Entry, Error, FileTokenCache, InMemoryTokenCache, RefreshToken, SealedCache,
    SealingKey, SealingKeys, TokenCache, TokenInfo,
};

const ID: &str = "sealed-client";
const SECRET: &str = "sealed-client-secret";
const REDIRECT: &str = "http://127.0.0.1:8888/callback";

fn client(accounts: &str) -> Client<'_> {
    Client {
        id: ID,
        secret: SECRET,
        redirect: REDIRECT,
        accounts,
    }
}

fn fake() -> FakeSpotify {
    FakeSpotify::builder()
        .client(ID, Some(SECRET))
        .redirect_uri(REDIRECT)
        .rotate_refresh_tokens(true)
        .start()
        .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(access: &str, expires_at: u64, refresh: &str) -> TokenInfo {
    TokenInfo::new(access, expires_at)
        .with_refresh_token(refresh)
        .with_scope("user-read-email")
}

fn keys() -> SealingKeys {
    SealingKeys::new(SealingKey::new([0x5a; 32]))
}

fn sealed_file(path: &Path, place: &str) -> SealedCache<FileTokenCache> {
    SealedCache::new(FileTokenCache::new(path), keys(), place)
}

/// The file as bytes, checked to hold none of `secrets`.
fn assert_file_hides(path: &Path, secrets: &[&str]) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} in the clear: {text}");
    }
    bytes
}

/// The message of an `Error::Cache`; panics on anything else, `Ok(None)`
/// above all. Checks that it shows none of `secrets`.
fn cache_error<T: std::fmt::Debug>(result: spotify_auth::Result<T>, secrets: &[&str]) -> String {
    match result {
        Err(e @ Error::Cache { .. }) => {
            let text = format!("{e} {e:?}");
            for secret in secrets {
                assert!(!text.contains(secret), "{text}");
            }
            assert!(!text.contains("spotify-auth-sealed:"), "{text}");
            text
        }
        other => panic!("expected a cache error, got {other:?}"),
    }
}

#[test]
fn a_file_holds_no_token_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.json");
    let cache = sealed_file(&path, "alice");
    let t = token("file-access-SECRET", now() + 3600, "file-refresh-SECRET");
    cache.set(&t).unwrap();
    assert_file_hides(&path, &["SECRET"]);
    assert_eq!(cache.get().unwrap(), Some(t.clone()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "still the file cache's file");
    }
    // Read without the key: no token (a sealed entry), holding no secret.
    let plain = FileTokenCache::new(&path);
    assert_eq!(plain.get().unwrap(), None);
    assert!(matches!(
        plain.read().unwrap(),
        Some(spotify_auth::Entry::Sealed(_))
    ));

    // A logout is a record, stored as it is: readable without the key.
    cache.clear().unwrap();
    assert_file_hides(&path, &["SECRET"]);
    let record = FileTokenCache::new(&path).read().unwrap().unwrap();
    assert!(
        record
            .ended()
            .unwrap()
            .ends(&RefreshToken::new("file-refresh-SECRET"))
    );
    assert_eq!(cache.read().unwrap(), Some(record));
}

#[test]
fn a_file_written_in_the_clear_is_resealed_at_the_first_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.json");
    let t = token("old-access-SECRET", now() + 3600, "old-refresh-SECRET");
    FileTokenCache::new(&path).set(&t).unwrap();
    let cache = sealed_file(&path, "alice");
    assert_eq!(cache.get().unwrap(), Some(t.clone()));
    let guard = cache.lock().unwrap();
    assert_file_hides(&path, &["SECRET"]);
    // The guard is the file cache's: its lock file is held.
    assert!(FileTokenCache::new(&path).try_lock().unwrap().is_none());
    drop(guard);
    assert_eq!(cache.get().unwrap(), Some(t));
}

#[test]
fn a_file_copied_to_another_login_or_opened_with_another_key_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let alice = dir.path().join("alice.json");
    let bob = dir.path().join("bob.json");
    let alice_cache = sealed_file(&alice, "alice");
    alice_cache
        .set(&token(
            "alice-access-SECRET",
            now() + 3600,
            "alice-refresh-SECRET",
        ))
        .unwrap();
    std::fs::copy(&alice, &bob).unwrap();
    let message = cache_error(sealed_file(&bob, "bob").read(), &["SECRET"]);
    assert!(message.contains("another place"), "{message}");
    // Nor is it a logout: get() is an error, not None.
    cache_error(sealed_file(&bob, "bob").get(), &["SECRET"]);

    let other_key = SealedCache::new(
        FileTokenCache::new(&alice),
        SealingKey::new([0x11; 32]),
        "alice",
    );
    let message = cache_error(other_key.read(), &["SECRET"]);
    assert!(
        message.contains(&keys().current().id().to_string()),
        "names the key's id: {message}"
    );
}

#[test]
fn every_flipped_byte_of_the_file_is_an_error_or_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.json");
    let cache = sealed_file(&path, "alice");
    let t = token("flip-access-SECRET", now() + 3600, "flip-refresh-SECRET");
    cache.set(&t).unwrap();
    let original = std::fs::read(&path).unwrap();
    let (mut errors, mut same) = (0, 0);
    for i in 0..original.len() {
        for mask in [0x01u8, 0x04, 0x80] {
            let mut flipped = original.clone();
            flipped[i] ^= mask;
            std::fs::write(&path, &flipped).unwrap();
            match cache.read() {
                Ok(Some(Entry::Token(read))) if read == t => same += 1,
                other => {
                    cache_error(other, &["SECRET"]);
                    errors += 1;
                }
            }
        }
    }
    assert!(
        errors > 3 * original.len() - 60,
        "{errors} errors, {same} same"
    );
}

#[test]
fn flows_of_both_modes_refresh_through_a_sealed_file() {
    let server = fake();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.json");
    let first = server.issue_refresh_token(ID, "user-read-email");
    let cache = Arc::new(sealed_file(&path, "alice"));
    cache
        .set(&token("expired-access", now() - 1, &first))
        .unwrap();

    let mut refresh = first;
    for mode in Mode::all() {
        // A new instance each time: it finds the login only in the file.
        let flow = Flow::new(mode, &client(server.url()), sealed_file(&path, "alice"));
        let before = server.token_request_count();
        let access = flow.force_refresh().unwrap();
        assert_eq!(server.token_request_count(), before + 1, "{mode:?}");
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), access, "{mode:?}");
        let rotated = stored.refresh_token.unwrap().into_secret();
        assert_ne!(rotated, refresh, "{mode:?}: the fake rotates");
        assert_file_hides(&path, &[&access, &rotated, &refresh]);
        refresh = rotated;

        // Another instance reads the sealed token: no request.
        let other = Flow::new(mode, &client(server.url()), cache.clone());
        assert_eq!(other.get_access_token().unwrap(), access, "{mode:?}");
        assert_eq!(server.token_request_count(), before + 1, "{mode:?}");
    }
}

#[test]
fn flows_of_both_modes_refresh_through_a_sealed_memory_cache() {
    let server = fake();
    for mode in Mode::all() {
        let refresh = server.issue_refresh_token(ID, "user-read-email");
        let cache = Arc::new(SealedCache::new(InMemoryTokenCache::new(), keys(), "mem"));
        cache
            .set(&token("expired-access", now() - 1, &refresh))
            .unwrap();
        let flow = Flow::new(mode, &client(server.url()), cache.clone());
        let access = flow.get_access_token().unwrap();
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), access, "{mode:?}");
        let new_refresh = stored.refresh_token.unwrap().into_secret();
        let json = cache.inner().read().unwrap().unwrap().to_json();
        for secret in [&access, &new_refresh, &refresh] {
            assert!(!json.contains(secret.as_str()), "{mode:?}: {json}");
        }
        // Expired again: the next refresh starts from the sealed, rotated
        // refresh token.
        cache
            .write(
                &Entry::Token(token("expired-access", now() - 1, &new_refresh)),
                &CacheLock::none(),
            )
            .unwrap();
        let again = Flow::new(mode, &client(server.url()), cache.clone());
        let newer = again.get_access_token().unwrap();
        assert_ne!(newer, access, "{mode:?}");
        assert_eq!(cache.get().unwrap().unwrap().access_token.secret(), newer);
        flow.close().unwrap();
        again.close().unwrap();
    }
}

#[test]
fn a_flow_with_the_wrong_key_sends_nothing_and_says_why() {
    let server = fake();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.json");
    let refresh = server.issue_refresh_token(ID, "user-read-email");
    sealed_file(&path, "alice")
        .set(&token("expired-access", now() - 1, &refresh))
        .unwrap();
    for mode in Mode::all() {
        let wrong = SealedCache::new(
            FileTokenCache::new(&path),
            SealingKey::new([1; 32]),
            "alice",
        );
        let flow = Flow::new(mode, &client(server.url()), wrong);
        let message = cache_error(flow.get_access_token(), &[&refresh]);
        assert!(
            message.contains("not among this cache's keys"),
            "{mode:?}: {message}"
        );
    }
    assert_eq!(server.token_request_count(), 0, "nothing sent");
    // The sealed login is still there for the right key.
    assert!(sealed_file(&path, "alice").get().unwrap().is_some());
}

#[test]
fn a_flow_given_a_sealed_store_without_its_key_sends_nothing() {
    let server = fake();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.json");
    let refresh = server.issue_refresh_token(ID, "user-read-email");
    sealed_file(&path, "alice")
        .set(&token("expired-access", now() - 1, &refresh))
        .unwrap();
    for mode in Mode::all() {
        let flow = Flow::new(mode, &client(server.url()), FileTokenCache::new(&path));
        let message = cache_error(flow.get_access_token(), &[&refresh]);
        assert!(message.contains("sealed"), "{mode:?}: {message}");
        assert_eq!(server.token_request_count(), 0, "{mode:?}");
    }
    // The sealed login is untouched.
    assert!(sealed_file(&path, "alice").get().unwrap().is_some());
}
