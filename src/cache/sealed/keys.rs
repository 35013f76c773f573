//! The app's sealing keys: [`SealingKey`] (32 bytes, shown only by its
//! [`KeyId`]) and [`SealingKeys`] (the current key first, then the older
//! ones still accepted), from bytes, text (hex or base64) or an environment
//! variable the app names.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::KeyInit;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// The setting every key error names.
const SETTING: &str = "sealing_key";

/// What a key in text is, for error messages.
const KEY_TEXT: &str = "a sealing key is 32 bytes, written as 64 hex digits or in base64 \
                        (43 or 44 characters, standard or URL-safe alphabet)";

/// The label hashed with a key to name it (its [`KeyId`]).
const KEY_ID_LABEL: &[u8] = b"spotify-auth sealing key id\0";

/// A key's name in sealed values and in messages: the first 32 bits of a
/// SHA-256 of the key (with a label of its own), which tells keys apart
/// without revealing anything usable about them. Shown as 8 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub(super) [u8; 4]);

impl KeyId {
    fn of(key: &[u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(KEY_ID_LABEL)
            .chain_update(key)
            .finalize();
        KeyId([digest[0], digest[1], digest[2], digest[3]])
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A 256-bit key that seals tokens at rest (XChaCha20-Poly1305).
///
/// Make one with `openssl rand -base64 32` (or `-hex 32`) and keep it where
/// your app keeps its other secrets. `Debug` shows only its [`KeyId`]; the
/// key cannot be read back, and is wiped from memory when the last copy is
/// dropped.
///
/// ```
/// use spotify_auth::SealingKey;
///
/// let key = SealingKey::new([7; 32]);
/// let same = SealingKey::parse("0707070707070707070707070707070707070707070707070707070707070707")?;
/// assert_eq!(key.id(), same.id());
/// assert!(!format!("{key:?}").contains("0707"));
/// // A key of the wrong length is a configuration error that shows no byte of it.
/// assert!(matches!(
///     SealingKey::from_slice(b"too short"),
///     Err(spotify_auth::Error::Config { setting: "sealing_key", .. })
/// ));
/// # Ok::<(), spotify_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct SealingKey {
    pub(super) cipher: XChaCha20Poly1305,
    pub(super) id: KeyId,
}

impl SealingKey {
    /// The key made of these 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        SealingKey {
            cipher: XChaCha20Poly1305::new(&(*bytes).into()),
            id: KeyId::of(&bytes),
        }
    }

    /// The key made of `bytes`, which must be 32 bytes long; otherwise an
    /// [`Error::Config`] (setting `sealing_key`) that gives the length only.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let array: &[u8; 32] = bytes.try_into().map_err(|_| Error::Config {
            setting: SETTING,
            message: format!("a sealing key is 32 bytes, not {}", bytes.len()),
        })?;
        Ok(Self::new(*array))
    }

    /// The key written as text: 64 hex digits, or base64 of 32 bytes
    /// (standard or URL-safe alphabet, padded or not); surrounding
    /// whitespace is ignored. Anything else is an [`Error::Config`]
    /// (setting `sealing_key`) that never quotes the text.
    pub fn parse(text: &str) -> Result<Self> {
        decode(text.trim()).ok_or_else(|| Error::Config {
            setting: SETTING,
            message: format!(
                "{KEY_TEXT}; this one is neither ({} characters)",
                text.trim().chars().count()
            ),
        })
    }

    /// Its name: shown in `Debug`, written into what it seals (so that
    /// [`SealingKeys`] finds the key that opens a value at once) and in
    /// the error for a value sealed with a key that is not configured.
    pub fn id(&self) -> KeyId {
        self.id
    }
}

impl From<[u8; 32]> for SealingKey {
    fn from(bytes: [u8; 32]) -> Self {
        SealingKey::new(bytes)
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingKey({} [redacted])", self.id)
    }
}

/// 32 bytes from 64 hex digits or base64; `None` for anything else.
fn decode(text: &str) -> Option<SealingKey> {
    let bytes: Zeroizing<Vec<u8>> = if text.len() == 64 {
        Zeroizing::new(decode_hex(text)?)
    } else {
        let engine = if text.contains(['-', '_']) {
            if text.ends_with('=') {
                URL_SAFE
            } else {
                URL_SAFE_NO_PAD
            }
        } else if text.ends_with('=') {
            STANDARD
        } else {
            STANDARD_NO_PAD
        };
        Zeroizing::new(engine.decode(text).ok()?)
    };
    SealingKey::from_slice(&bytes).ok()
}

/// Hex digits to bytes; `None` unless every character is one.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16);
    hex.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some((digit(*hi)? * 16 + digit(*lo)?) as u8),
            _ => None,
        })
        .collect()
}

/// The keys of a [`SealedCache`](super::SealedCache): the **current** one,
/// which seals every write, then older ones that still open what they
/// sealed. Rotating a key: make the new one current and keep the old one
/// behind it until every stored value was written again (each is re-sealed
/// with the current key at its next write, and at the first lock taken
/// through the cache: see [Key rotation](super::SealedCache#key-rotation)).
///
/// Cheap to clone (one `Arc`): share one between the caches of many users.
/// `Debug` shows the [`KeyId`]s only.
///
/// ```
/// use spotify_auth::{SealingKey, SealingKeys};
///
/// let keys = SealingKeys::new(SealingKey::new([2; 32])).with_previous(SealingKey::new([1; 32]));
/// assert_eq!(keys.current().id(), SealingKey::new([2; 32]).id());
/// assert_eq!(keys.ids().count(), 2);
/// ```
#[derive(Clone)]
pub struct SealingKeys {
    pub(super) keys: Arc<[SealingKey]>,
}

impl SealingKeys {
    /// `current` alone.
    pub fn new(current: SealingKey) -> Self {
        SealingKeys {
            keys: Arc::from([current]),
        }
    }

    /// These keys and, behind them, `previous`: opens what it sealed, seals
    /// nothing.
    pub fn with_previous(self, previous: SealingKey) -> Self {
        let mut keys = self.keys.to_vec();
        keys.push(previous);
        SealingKeys {
            keys: Arc::from(keys),
        }
    }

    /// The keys in the environment variable `var`, which the app names: one
    /// key (64 hex digits, or base64 of 32 bytes: see
    /// [`SealingKey::parse`]), or several separated by commas, **the
    /// current one first**, then the older ones still accepted.
    ///
    /// Errors: an [`Error::Config`] (setting `sealing_key`) naming the
    /// variable and what is wrong (not set, empty, not UTF-8, which key of
    /// how many is not a key), never its value.
    pub fn from_env(var: &str) -> Result<Self> {
        let value = match std::env::var(var) {
            Ok(value) => Zeroizing::new(value),
            Err(std::env::VarError::NotPresent) => {
                return Err(env_error(var, "is not set"));
            }
            Err(std::env::VarError::NotUnicode(raw)) => {
                // The OsString holds the value: wipe what can be wiped.
                let mut bytes = raw.into_encoded_bytes();
                zeroize::Zeroize::zeroize(&mut bytes);
                return Err(env_error(var, "is not valid UTF-8"));
            }
        };
        Self::parse_list(&value).map_err(|problem| env_error(var, &problem))
    }

    /// One key or several, comma-separated, the current one first.
    fn parse_list(text: &str) -> std::result::Result<Self, String> {
        if text.trim().is_empty() {
            return Err("is empty".to_owned());
        }
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        let count = parts.len();
        let keys = parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                decode(part).ok_or_else(|| {
                    let which = if count == 1 {
                        "its key".to_owned()
                    } else {
                        format!("key {} of {count} (comma-separated)", i + 1)
                    };
                    format!(
                        "{which} is not a key ({} characters): {KEY_TEXT}",
                        part.chars().count()
                    )
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(SealingKeys {
            keys: Arc::from(keys),
        })
    }

    /// The key that seals.
    pub fn current(&self) -> &SealingKey {
        &self.keys[0]
    }

    /// The ids of the keys, the current one first.
    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.iter().map(|k| k.id)
    }
}

fn env_error(var: &str, problem: &str) -> Error {
    Error::Config {
        setting: SETTING,
        message: format!(
            "the environment variable {var} {problem} (it should hold the sealing key, or \
             several separated by commas, the current one first)"
        ),
    }
}

impl From<SealingKey> for SealingKeys {
    fn from(key: SealingKey) -> Self {
        SealingKeys::new(key)
    }
}

impl fmt::Debug for SealingKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKeys")
            .field("current", &self.current().id)
            .field(
                "previous",
                &self.keys[1..].iter().map(|k| k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn bytes() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn text_forms_are_the_same_key() {
        let id = SealingKey::new(bytes()).id();
        let forms = [
            HEX.to_owned(),
            HEX.to_uppercase(),
            format!("  {HEX}\n"),
            STANDARD.encode(bytes()),
            STANDARD_NO_PAD.encode(bytes()),
            URL_SAFE.encode(bytes()),
            URL_SAFE_NO_PAD.encode(bytes()),
        ];
        for form in forms {
            assert_eq!(SealingKey::parse(&form).unwrap().id(), id, "{form}");
        }
        // A base64 text with characters of both alphabets is no key.
        let mixed = STANDARD.encode([0xfb; 32]).replacen('+', "-", 1);
        assert!(SealingKey::parse(&mixed).is_err());
    }

    #[test]
    fn bad_keys_are_config_errors_that_quote_nothing() {
        let secretish = "s3cr3t-s3cr3t-s3cr3t";
        for bad in [
            secretish.to_owned(),
            format!("{}zz", &HEX[..62]),
            STANDARD.encode([1u8; 31]),
            STANDARD.encode([1u8; 33]),
            String::new(),
        ] {
            let e = SealingKey::parse(&bad).unwrap_err();
            let text = format!("{e} {e:?}");
            assert!(
                matches!(
                    e,
                    Error::Config {
                        setting: "sealing_key",
                        ..
                    }
                ),
                "{text}"
            );
            if !bad.is_empty() {
                assert!(!text.contains(&bad), "{text}");
            }
            assert!(!text.contains("s3cr3t"), "{text}");
        }
        let e = SealingKey::from_slice(&[9; 31]).unwrap_err();
        assert!(e.to_string().contains("not 31"), "{e}");
    }

    #[test]
    fn lists_put_the_current_key_first() {
        let new = SealingKey::new([2; 32]);
        let old = SealingKey::new([1; 32]);
        let text = format!("{} , {}", STANDARD.encode([2u8; 32]), hex_of(&[1; 32]));
        let keys = SealingKeys::parse_list(&text).unwrap();
        assert_eq!(keys.ids().collect::<Vec<_>>(), [new.id(), old.id()]);
        let e = SealingKeys::parse_list(&format!("{text},not-a-key")).unwrap_err();
        assert!(e.contains("key 3 of 3") && !e.contains("not-a-key"), "{e}");
        assert!(SealingKeys::parse_list(" ").unwrap_err().contains("empty"));
        assert!(SealingKeys::parse_list(&format!("{text},")).is_err());
    }

    #[test]
    fn debug_shows_ids_only() {
        let key = SealingKey::new(bytes());
        let keys = SealingKeys::new(key.clone()).with_previous(SealingKey::new([5; 32]));
        for text in [format!("{key:?}"), format!("{keys:?}")] {
            assert!(text.contains(&key.id().to_string()), "{text}");
            assert!(!text.contains("0001020304"), "{text}");
            assert!(!text.contains("[0, 1, 2"), "{text}");
        }
        assert_eq!(key.id().to_string().len(), 8);
        assert_ne!(key.id(), SealingKey::new([5; 32]).id());
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
