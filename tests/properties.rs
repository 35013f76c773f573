//! Property tests of the public types that parse or store what other
//! programs hand the crate: `Scopes` normalise idempotently, and an entry
//! written to any cache (memory, file, sealed) reads back equal, while a
//! sealed value altered at rest reads as an error or as itself, never as
//! something else. The parsers inside the library have theirs in
//! `src/properties/` and `src/callback/properties.rs`; the generators are
//! in `tests/generators/` (shared with `fuzz/`). `PROPTEST_CASES` sets the
//! number of cases (see `docs/property-tests.md`).

#[path = "generators/mod.rs"]
mod generators;

use generators::{Gen, has_marker, text};
use proptest::prelude::*;
use proptest::test_runner::Config;
use spotify_auth::{
    CacheLock, Entry, FileTokenCache, InMemoryTokenCache, LoginEnded, RefreshToken, Scopes,
    SealedEntry, TokenCache, TokenInfo,
};

/// [`generators`]' default case count unless `PROPTEST_CASES` is set.
fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    config
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..512)
}

/// A token or a record, with any text in its fields.
fn entry(g: &mut Gen) -> Entry {
    match g.range(0, 3) {
        0 => {
            let tokens: Vec<RefreshToken> = (0..g.range(0, 20))
                .map(|_| RefreshToken::new(g.text(20)))
                .collect();
            Entry::Ended(LoginEnded::logout(&tokens))
        }
        1 => Entry::Ended(LoginEnded::refusal(&RefreshToken::new(g.text(20)))),
        _ => {
            let mut token = TokenInfo::new(g.text(40), g.u64());
            token.refresh_token = g.chance(3, 4).then(|| RefreshToken::new(g.text(40)));
            token.scope = g.chance(1, 2).then(|| g.text(30));
            token.authorized_at = g.chance(1, 2).then(|| g.u64());
            Entry::Token(token)
        }
    }
}

/// Writes `entry` to `cache` and reads it back.
fn round_trip(cache: &dyn TokenCache, entry: &Entry) -> Option<Entry> {
    cache.write(entry, &CacheLock::none()).expect("written");
    cache.read().expect("read")
}

proptest! {
    #![proptest_config(config())]

    /// Normalising twice changes nothing; no part is empty, repeated or
    /// holds a delimiter; every scope given is kept.
    #[test]
    fn scopes_normalise_idempotently(input in input()) {
        let mut g = Gen::new(&input);
        let raw = text::scopes(&mut g);
        let scopes = Scopes::from(raw.as_str());
        prop_assert_eq!(&Scopes::from(scopes.as_str()), &scopes);
        prop_assert_eq!(&Scopes::from(scopes.iter().collect::<Vec<_>>()), &scopes);
        let parts: Vec<&str> = scopes.iter().collect();
        prop_assert_eq!(parts.join(" "), scopes.as_str());
        for (i, part) in parts.iter().enumerate() {
            prop_assert!(!part.is_empty() && !part.contains(|c: char| c.is_whitespace() || c == ','));
            prop_assert!(!parts[..i].contains(part), "{part:?} twice");
        }
        for given in raw.split(|c: char| c.is_whitespace() || c == ',').filter(|s| !s.is_empty()) {
            prop_assert!(scopes.contains(given), "{given:?} lost");
        }
        prop_assert!(scopes.missing_from(&scopes).is_empty());
    }

    /// An entry written to the memory or the file cache reads back equal.
    #[test]
    fn an_entry_written_to_any_cache_reads_back_equal(input in input()) {
        let mut g = Gen::new(&input);
        let mut entry = entry(&mut g);
        if g.chance(1, 4) {
            entry = Entry::Sealed(SealedEntry::new(g.text(80)));
        }
        let memory = InMemoryTokenCache::new();
        prop_assert_eq!(round_trip(&memory, &entry), Some(entry.clone()));
        let dir = tempfile::tempdir().unwrap();
        let file = FileTokenCache::new(dir.path().join("token.json"));
        prop_assert_eq!(round_trip(&file, &entry), Some(entry.clone()));
    }

    /// Whatever a token file holds (written by another program or by
    /// hand), the file cache reads it or fails with an error that quotes
    /// none of it.
    #[test]
    fn any_token_file_reads_or_fails_without_quoting_it(input in input()) {
        let mut g = Gen::new(&input);
        let bytes = if g.chance(1, 6) { g.bytes(100) } else { generators::json::entry(&mut g, true).into_bytes() };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.json");
        std::fs::write(&path, &bytes).unwrap();
        let file = FileTokenCache::new(&path);
        if let Err(e) = file.read() {
            let shown = format!("{e} {e:?}");
            prop_assert!(!has_marker(&shown), "{shown}");
        }
    }
}

#[cfg(feature = "encryption")]
mod sealed {
    use super::*;
    use generators::mutate;
    use spotify_auth::{SealedCache, SealingKey};

    fn sealed(inner: InMemoryTokenCache) -> SealedCache<InMemoryTokenCache> {
        SealedCache::new(inner, SealingKey::new([7; 32]), "properties")
    }

    proptest! {
        #![proptest_config(config())]

        /// A token or record written through the sealed wrapper reads back
        /// equal; its sealed text altered at rest reads as an error (which
        /// quotes nothing), or as the same entry, never as another one.
        #[test]
        fn sealed_entries_round_trip_and_alterations_never_read_as_another(input in input()) {
            let mut g = Gen::new(&input);
            let entry = entry(&mut g);
            let cache = sealed(InMemoryTokenCache::new());
            prop_assert_eq!(round_trip(&cache, &entry), Some(entry.clone()));
            let Some(Entry::Sealed(text)) = cache.inner().read().unwrap() else {
                return Ok(()); // a record is stored as it is
            };
            let altered = mutate(&mut g, text.as_str());
            let cache = sealed(InMemoryTokenCache::new());
            cache
                .inner()
                .write(&Entry::Sealed(SealedEntry::new(altered)), &CacheLock::none())
                .unwrap();
            match cache.read() {
                Ok(read) => prop_assert_eq!(read, Some(entry)),
                Err(e) => {
                    let shown = format!("{e} {e:?}");
                    prop_assert!(!has_marker(&shown) && !shown.contains(text.as_str()), "{shown}");
                }
            }
        }
    }
}
