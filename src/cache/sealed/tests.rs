//! The sealing layer over an in-memory store and a counting stand-in: what
//! reaches the inner cache, errors, tampering, rotation, migration. The
//! integration tests (`tests/sealed_cache.rs`, `tests/redis_sealed.rs`) run
//! it over files, Redis and both flows.

use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

use super::format::{bytes_of, text_of};
use super::*;
use crate::{AccessToken, InMemoryTokenCache, LoginEnded, RefreshToken, TokenInfo};

const ACCESS: &str = "access-SECRET-aaaa";
const REFRESH: &str = "refresh-SECRET-rrrr";

fn token() -> TokenInfo {
    TokenInfo {
        access_token: AccessToken::new(ACCESS),
        expires_at: 1_900_000_000,
        refresh_token: Some(RefreshToken::new(REFRESH)),
        scope: Some("user-read-email".into()),
        authorized_at: Some(1_800_000_000),
    }
}

fn key(byte: u8) -> SealingKey {
    SealingKey::new([byte; 32])
}

fn sealed(place: &str) -> SealedCache<InMemoryTokenCache> {
    SealedCache::new(InMemoryTokenCache::new(), key(1), place)
}

/// The JSON the inner cache holds.
fn stored_json<C: TokenCache>(cache: &SealedCache<C>) -> String {
    cache.inner().read().unwrap().unwrap().to_json()
}

/// The text of the sealed value the inner cache holds.
fn stored_text<C: TokenCache>(cache: &SealedCache<C>) -> String {
    match cache.inner().read().unwrap() {
        Some(Entry::Sealed(s)) => s.as_str().to_owned(),
        other => panic!("no sealed entry: {other:?}"),
    }
}

/// A new in-memory cache holding what `inner` holds.
fn stored_as_is(inner: &InMemoryTokenCache) -> InMemoryTokenCache {
    let copy = InMemoryTokenCache::new();
    let entry = inner.read().unwrap().expect("something stored");
    copy.write(&entry, &CacheLock::none()).unwrap();
    copy
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains("SECRET"), "{text}");
}

/// The message of an `Error::Cache`, checked to show no secret; panics on
/// anything else (`Ok(None)` above all).
fn cache_error(result: Result<Option<Entry>>) -> String {
    match result {
        Err(e @ Error::Cache { .. }) => {
            let text = format!("{e} {e:?}");
            assert_no_secret(&text);
            assert!(!text.contains(super::format::PREFIX), "{text}");
            text
        }
        other => panic!("expected a cache error, got {other:?}"),
    }
}

#[test]
fn tokens_are_sealed_and_records_are_not() {
    let cache = sealed("spotify:token:alice");
    assert_eq!(cache.read().unwrap(), None);
    cache.set(&token()).unwrap();
    assert_eq!(cache.get().unwrap(), Some(token()));
    let json = stored_json(&cache);
    assert_no_secret(&json);
    assert!(
        json.starts_with(r#"{"sealed":"spotify-auth-sealed:"#),
        "{json}"
    );
    assert!(
        !json.contains("access_token"),
        "no token to a reader without the key"
    );
    // Each write seals afresh.
    cache.set(&token()).unwrap();
    assert_ne!(stored_json(&cache), json);

    cache.clear().unwrap();
    let record = cache.read().unwrap().unwrap();
    let ended = record.ended().expect("a logout record");
    assert!(ended.ends(&RefreshToken::new(REFRESH)));
    assert_eq!(stored_json(&cache), record.to_json(), "stored as it is");
    assert_no_secret(&stored_json(&cache));
}

#[test]
fn a_wrong_key_is_an_error_never_none() {
    let writer = sealed("p");
    writer.set(&token()).unwrap();
    let reader = SealedCache::new(stored_as_is(writer.inner()), key(2), "p");
    let message = cache_error(reader.read());
    assert!(message.contains(&key(1).id().to_string()), "{message}");
    assert!(message.contains("not among this cache's keys"), "{message}");
    assert!(reader.get().is_err());
    // The same id with other bytes cannot happen by chance; a refusal by the
    // named key says the value was altered or moved.
    let moved = SealedCache::new(InMemoryTokenCache::new(), key(1), "q");
    moved
        .inner()
        .write(&writer.inner().read().unwrap().unwrap(), &CacheLock::none())
        .unwrap();
    let message = cache_error(moved.read());
    assert!(
        message.contains("moved here from another place"),
        "{message}"
    );
}

#[test]
fn every_flipped_byte_is_an_error_or_the_same_entry() {
    let cache = sealed("p");
    cache.set(&token()).unwrap();
    let text = stored_text(&cache);

    // The sealed bytes: every flip is an error.
    let bytes = bytes_of(&text);
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut flipped = bytes.clone();
            flipped[i] ^= mask;
            let planted = carrier::carry(text_of(&flipped));
            cache.inner().write(&planted, &CacheLock::none()).unwrap();
            cache_error(cache.read());
        }
    }

    // The stored JSON, as a store holds it: parsed back the way the inner
    // caches parse it, every flip is an error (of the store or the
    // sealing), or changes nothing that was sealed.
    let json = carrier::carry(text).to_json().into_bytes();
    let mut same = 0;
    for i in 0..json.len() {
        for mask in [0x01u8, 0x02, 0x20, 0x80] {
            let mut flipped = json.clone();
            flipped[i] ^= mask;
            let Ok(entry) = Entry::from_json(&flipped) else {
                continue; // the inner cache's own error
            };
            cache.inner().write(&entry, &CacheLock::none()).unwrap();
            match cache.read() {
                Ok(Some(e)) if e == Entry::Token(token()) => same += 1,
                other => {
                    cache_error(other);
                }
            }
        }
    }
    // Only flips inside the names of the fields a carrier leaves empty
    // ("refresh_token", "scope") read the same: serde ignores the unknown
    // name and the field stays empty.
    assert!(
        same <= 4 * ("refresh_token".len() + "scope".len()),
        "{same}"
    );
}

#[test]
fn a_sealed_entry_read_without_the_key_stops_a_flow() {
    // The store, read directly (a flow given it without the wrapper): the
    // sealed form is no token, and `get` says so.
    let cache = sealed("p");
    cache.set(&token()).unwrap();
    assert!(matches!(
        cache.inner().read().unwrap(),
        Some(Entry::Sealed(_))
    ));
    assert_eq!(cache.inner().get().unwrap(), None);
}

#[test]
fn rotation_opens_with_old_keys_and_reseals_with_the_current_one() {
    let old = sealed("p");
    old.set(&token()).unwrap();
    let rotated = SealedCache::new(
        stored_as_is(old.inner()),
        SealingKeys::new(key(2)).with_previous(key(1)),
        "p",
    );
    assert_eq!(rotated.get().unwrap(), Some(token()));
    let before = stored_text(&rotated);
    assert_eq!(&bytes_of(&before)[1..5], &key(1).id().0);
    // The next lock re-seals with the current key, under the lock.
    let guard = rotated.lock().unwrap();
    assert!(guard.is_held());
    let after = stored_text(&rotated);
    assert_eq!(&bytes_of(&after)[1..5], &key(2).id().0);
    drop(guard);
    // Now the current key alone opens it.
    let only_new = SealedCache::new(rotated.into_inner(), key(2), "p");
    assert_eq!(only_new.get().unwrap(), Some(token()));
}

#[test]
fn a_token_in_the_clear_is_read_then_resealed_under_the_lock() {
    let cache = SealedCache::new(InMemoryTokenCache::with_token(token()), key(1), "p");
    assert_eq!(cache.get().unwrap(), Some(token()));
    assert!(
        stored_json(&cache).contains("SECRET"),
        "not written by a read"
    );
    {
        let guard = cache.try_lock().unwrap().expect("free");
        assert_no_secret(&stored_json(&cache));
        // The guard is the inner cache's, and holds its lock.
        assert!(cache.inner().try_lock().unwrap().is_none());
        drop(guard);
    }
    assert!(cache.inner().try_lock().unwrap().is_some());
    assert_eq!(cache.get().unwrap(), Some(token()));

    // Refused once migration is over.
    let strict =
        SealedCache::new(InMemoryTokenCache::with_token(token()), key(1), "p").refuse_plaintext();
    let message = cache_error(strict.read());
    assert!(message.contains("in the clear"), "{message}");
    drop(strict.lock().unwrap());
    assert!(stored_json(&strict).contains("SECRET"), "left as it was");
    // Records are never refused.
    strict
        .inner()
        .write(
            &Entry::Ended(LoginEnded::logout([&RefreshToken::new(REFRESH)])),
            &CacheLock::none(),
        )
        .unwrap();
    assert!(strict.read().unwrap().unwrap().ended().is_some());
}

/// A store that counts its reads and writes, and remembers the guards it
/// was given.
#[derive(Default)]
struct Counting {
    inner: InMemoryTokenCache,
    reads: AtomicUsize,
    writes: AtomicUsize,
    guards_held: Mutex<Vec<bool>>,
}

impl TokenCache for Counting {
    fn read(&self) -> Result<Option<Entry>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read()
    }
    fn write(&self, entry: &Entry, lock: &CacheLock) -> Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.guards_held.lock().unwrap().push(lock.is_held());
        self.inner.write(entry, lock)
    }
    fn lock(&self) -> Result<CacheLock> {
        self.inner.lock()
    }
    fn try_lock(&self) -> Result<Option<CacheLock>> {
        self.inner.try_lock()
    }
}

#[test]
fn the_store_is_looked_at_once_per_instance_unless_a_read_finds_work() {
    let cache = SealedCache::new(Counting::default(), key(1), "p");
    cache.set(&token()).unwrap(); // lock (a look at an empty store), write
    let reads = |c: &SealedCache<Counting>| c.inner().reads.load(Ordering::SeqCst);
    let writes = |c: &SealedCache<Counting>| c.inner().writes.load(Ordering::SeqCst);
    assert_eq!((reads(&cache), writes(&cache)), (1, 1));
    drop(cache.lock().unwrap());
    drop(cache.lock().unwrap());
    assert_eq!((reads(&cache), writes(&cache)), (1, 1), "no more looks");

    // Someone without the key writes a token in the clear: the read that
    // finds it makes the next lock re-seal it, with that lock's guard.
    cache
        .inner()
        .inner
        .write(&Entry::Token(token()), &CacheLock::none())
        .unwrap();
    assert_eq!(cache.get().unwrap(), Some(token()));
    let guard = cache.lock().unwrap();
    assert_eq!((reads(&cache), writes(&cache)), (3, 2));
    assert_eq!(*cache.inner().guards_held.lock().unwrap(), [true, true]);
    drop(guard);
    assert_no_secret(&cache.inner().inner.read().unwrap().unwrap().to_json());
    drop(cache.lock().unwrap());
    assert_eq!((reads(&cache), writes(&cache)), (3, 2));
}

#[test]
fn nothing_secret_in_debug_or_errors() {
    let cache = SealedCache::new(
        InMemoryTokenCache::with_token(token()),
        SealingKeys::new(key(0xab)).with_previous(key(0xcd)),
        "spotify:token:alice",
    );
    cache.lock().map(drop).unwrap();
    let debug = format!("{cache:?}");
    assert_no_secret(&debug);
    assert!(
        !debug.contains("171, 171") && !debug.contains("abab"),
        "{debug}"
    );
    assert!(debug.contains(&key(0xab).id().to_string()), "{debug}");
    assert!(debug.contains("spotify:token:alice"), "{debug}");
    assert!(!debug.contains(super::format::PREFIX), "{debug}");
}

#[test]
fn guards_and_the_rest_pass_through() {
    let cache = sealed("p");
    assert!(cache.never_blocks());
    let guard = cache.lock().unwrap();
    assert!(cache.confirm_lock(&guard).unwrap());
    assert!(
        cache.try_lock().unwrap().is_none(),
        "held through the wrapper"
    );
    drop(guard);
    let called = std::sync::Arc::new(AtomicBool::new(false));
    let seen = called.clone();
    cache.watch_ended(EndedListener::new(move || {
        seen.store(true, Ordering::SeqCst)
    }));
    assert!(
        !called.load(Ordering::SeqCst),
        "the in-memory cache never calls it"
    );
}
