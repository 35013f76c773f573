//! The sealed form of an entry: bytes, and their text.
//!
//! ```text
//! byte 0        version (1)
//! bytes 1..5    key id: the first 32 bits of SHA-256("spotify-auth sealing key id\0" || key)
//! bytes 5..29   nonce: 24 random bytes from the OS (getrandom), new for every seal
//! bytes 29..    XChaCha20-Poly1305 ciphertext of Entry::to_json(), then its 16-byte tag
//!
//! associated data: "spotify-auth sealed entry v1\0" || bytes 0..5 || place
//! text: "spotify-auth-sealed:" || base64url(bytes), no padding
//! ```
//!
//! The associated data binds the ciphertext to its header and to the place
//! the cache was given (a Redis key, a user): a value copied to another
//! place, or with its version or key id changed, does not open.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::XNonce;
use chacha20poly1305::aead::{Aead, Payload};
use zeroize::Zeroizing;

use super::keys::{KeyId, SealingKey, SealingKeys};
use crate::{Error, ErrorSource, Result};

/// How the text of a sealed value starts.
pub(super) const PREFIX: &str = "spotify-auth-sealed:";

const VERSION: u8 = 1;
const HEADER: usize = 1 + 4;
const NONCE: usize = 24;
const TAG: usize = 16;
/// The shortest sealed value: a header, a nonce and a tag.
const MIN_LEN: usize = HEADER + NONCE + TAG;

/// The label the associated data starts with.
const AD_LABEL: &[u8] = b"spotify-auth sealed entry v1\0";

/// Why a sealed value did not open. Never holds any of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum OpenError {
    /// Not the text of a sealed value (a bad prefix, not base64, too short).
    Malformed(&'static str),
    /// A format version this library does not know.
    Version(u8),
    /// Sealed with a key that is not configured.
    UnknownKey(KeyId),
    /// The key it names does not open it: altered, moved, or another key
    /// with the same id.
    Refused(KeyId),
}

/// What opened: the plaintext (wiped when dropped) and whether the key that
/// opened it is the current one.
pub(super) struct Opened {
    pub(super) plaintext: Zeroizing<Vec<u8>>,
    pub(super) by_current: bool,
}

/// Seals `plaintext` for `place` with the current key; the text form.
pub(super) fn seal(keys: &SealingKeys, place: &str, plaintext: &[u8]) -> Result<String> {
    let key = keys.current();
    let mut header = [0u8; HEADER];
    header[0] = VERSION;
    header[1..].copy_from_slice(&key.id.0);
    let mut nonce = [0u8; NONCE];
    getrandom::fill(&mut nonce).map_err(|e| Error::Random {
        source: ErrorSource::new(e),
    })?;
    let ad = associated_data(&header, place);
    let sealed = key
        .cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &ad,
            },
        )
        // Only for a message over 256 GiB.
        .map_err(|_| Error::Cache {
            path: None,
            message: "the entry is too large to seal".to_owned(),
            source: None,
        })?;
    let mut bytes = Vec::with_capacity(HEADER + NONCE + sealed.len());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&sealed);
    let mut text = String::with_capacity(PREFIX.len() + bytes.len().div_ceil(3) * 4);
    text.push_str(PREFIX);
    URL_SAFE_NO_PAD.encode_string(&bytes, &mut text);
    Ok(text)
}

/// Opens the text of a sealed value for `place` with whichever key it names.
pub(super) fn open(
    keys: &SealingKeys,
    place: &str,
    text: &str,
) -> std::result::Result<Opened, OpenError> {
    let encoded = text
        .strip_prefix(PREFIX)
        .ok_or(OpenError::Malformed("its prefix was altered"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| OpenError::Malformed("it is not base64url"))?;
    open_bytes(keys, place, &bytes)
}

/// Opens the bytes of a sealed value.
pub(super) fn open_bytes(
    keys: &SealingKeys,
    place: &str,
    bytes: &[u8],
) -> std::result::Result<Opened, OpenError> {
    if bytes.len() < MIN_LEN {
        return Err(OpenError::Malformed("it is too short"));
    }
    let (header, rest) = bytes.split_at(HEADER);
    if header[0] != VERSION {
        return Err(OpenError::Version(header[0]));
    }
    let id = KeyId([header[1], header[2], header[3], header[4]]);
    let (nonce, sealed) = rest.split_at(NONCE);
    let nonce = XNonce::try_from(nonce).map_err(|_| OpenError::Malformed("bad nonce"))?;
    let ad = associated_data(header, place);
    let mut named = keys.keys.iter().enumerate().filter(|(_, k)| k.id == id);
    let mut tried = false;
    for (index, key) in &mut named {
        tried = true;
        if let Some(plaintext) = try_open(key, &nonce, sealed, &ad) {
            return Ok(Opened {
                plaintext,
                by_current: index == 0,
            });
        }
    }
    Err(if tried {
        OpenError::Refused(id)
    } else {
        OpenError::UnknownKey(id)
    })
}

fn try_open(
    key: &SealingKey,
    nonce: &XNonce,
    sealed: &[u8],
    ad: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    key.cipher
        .decrypt(
            nonce,
            Payload {
                msg: sealed,
                aad: ad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

fn associated_data(header: &[u8], place: &str) -> Vec<u8> {
    let mut ad = Vec::with_capacity(AD_LABEL.len() + header.len() + place.len());
    ad.extend_from_slice(AD_LABEL);
    ad.extend_from_slice(header);
    ad.extend_from_slice(place.as_bytes());
    ad
}

/// The bytes of a sealed value's text (tests flip them).
#[cfg(test)]
pub(super) fn bytes_of(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text.strip_prefix(PREFIX).unwrap())
        .unwrap()
}

/// The text of sealed bytes (tests plant them).
#[cfg(test)]
pub(super) fn text_of(bytes: &[u8]) -> String {
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(byte: u8) -> SealingKeys {
        SealingKeys::new(SealingKey::new([byte; 32]))
    }

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let keys = keys(1);
        let a = seal(&keys, "spotify:token:alice", b"{\"x\":1}").unwrap();
        let b = seal(&keys, "spotify:token:alice", b"{\"x\":1}").unwrap();
        assert_ne!(a, b, "a new nonce per seal");
        assert!(a.starts_with(PREFIX));
        assert_eq!(bytes_of(&a).len(), MIN_LEN + 7);
        let opened = open(&keys, "spotify:token:alice", &a).unwrap();
        assert_eq!(&opened.plaintext[..], b"{\"x\":1}");
        assert!(opened.by_current);
        let header = &bytes_of(&a)[..HEADER];
        assert_eq!(header[0], VERSION);
        assert_eq!(&header[1..], &keys.current().id().0);
    }

    #[test]
    fn every_flipped_bit_of_every_byte_is_refused() {
        let keys = keys(1);
        let text = seal(&keys, "p", b"{\"access_token\":\"a\"}").unwrap();
        let bytes = bytes_of(&text);
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[i] ^= 1 << bit;
                assert!(
                    open_bytes(&keys, "p", &flipped).is_err(),
                    "byte {i} bit {bit}"
                );
                assert!(open(&keys, "p", &text_of(&flipped)).is_err());
            }
        }
        // Truncated at any length.
        for len in 0..bytes.len() {
            assert!(open_bytes(&keys, "p", &bytes[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn another_place_or_key_does_not_open() {
        let text = seal(&keys(1), "spotify:token:alice", b"{}").unwrap();
        assert_eq!(
            open(&keys(1), "spotify:token:bob", &text).err(),
            Some(OpenError::Refused(keys(1).current().id()))
        );
        assert_eq!(
            open(&keys(2), "spotify:token:alice", &text).err(),
            Some(OpenError::UnknownKey(keys(1).current().id()))
        );
        let rotated = keys(2).with_previous(SealingKey::new([1; 32]));
        let opened = open(&rotated, "spotify:token:alice", &text).unwrap();
        assert!(!opened.by_current);
        let mut bytes = bytes_of(&text);
        bytes[0] = 9;
        assert_eq!(
            open_bytes(&keys(1), "spotify:token:alice", &bytes).err(),
            Some(OpenError::Version(9))
        );
        assert!(matches!(
            open(&keys(1), "spotify:token:alice", "sealed:abc"),
            Err(OpenError::Malformed(_))
        ));
        assert!(matches!(
            open(&keys(1), "spotify:token:alice", &format!("{PREFIX}*")),
            Err(OpenError::Malformed(_))
        ));
    }
}
