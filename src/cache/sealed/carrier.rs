//! THE SEAM: how a sealed value travels through the inner cache.
//!
//! Inner caches store [`Entry`]s (`Entry::to_json`), and `Entry` has no form
//! for opaque bytes. Until it has one, a sealed value travels as the one
//! `Entry` every cache already round-trips, a token, in a shape no real
//! token has (the *carrier*):
//!
//! ```json
//! {"access_token":"spotify-auth-sealed:<base64url>","expires_at":0,"refresh_token":null,"scope":null}
//! ```
//!
//! Read without the key (the Python library, this crate without the
//! wrapper), it is an access token that expired in 1970 with no refresh
//! token: useless, never sent anywhere (an expired token is not handed out,
//! and there is nothing to refresh with), and the reader asks for a login.
//!
//! Any stored token with the prefix, or with `expires_at` 0 and no refresh
//! token, is taken for a carrier, and must be exactly one: an envelope
//! altered into something else (a changed prefix, a changed expiry) is an
//! error, never a token.
//!
//! The change proposed for `entry.rs` (the lead's file) is an
//! `Entry::Sealed(SealedBlob)` variant stored as `{"sealed":"<base64url>"}`:
//! then only [`carry`] and [`classify`] change here (to write the new form
//! and read both), and a store read without the key says "sealed" instead of
//! "an expired token".

use crate::{AccessToken, Entry, TokenInfo};

use super::format::PREFIX;

/// What the inner cache held, as the sealing layer sees it.
pub(super) enum Stored<'a> {
    /// The text of a sealed value.
    Sealed(&'a str),
    /// Looks like a carrier but is not exactly one: altered.
    Altered,
    /// A token in the clear (written before sealing was turned on, or by a
    /// writer without the key).
    PlainToken,
    /// Anything else (a record of how a login ended): stored as it is.
    Other,
}

/// The entry that carries `sealed` (the text [`super::format::seal`] made).
pub(super) fn carry(sealed: String) -> Entry {
    Entry::Token(TokenInfo {
        access_token: AccessToken::new(sealed),
        expires_at: 0,
        refresh_token: None,
        scope: None,
        authorized_at: None,
    })
}

/// What `entry` is.
pub(super) fn classify(entry: &Entry) -> Stored<'_> {
    let Entry::Token(t) = entry else {
        return Stored::Other;
    };
    let text = t.access_token.secret();
    let prefixed = text.starts_with(PREFIX);
    let shaped = t.expires_at == 0 && t.refresh_token.is_none();
    if !prefixed && !shaped {
        return Stored::PlainToken;
    }
    let exact = prefixed && shaped && t.scope.is_none() && t.authorized_at.is_none();
    if exact {
        Stored::Sealed(text)
    } else {
        Stored::Altered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LoginEnded, RefreshToken};

    #[test]
    fn a_carrier_round_trips_through_json() {
        let text = format!("{PREFIX}AAAA");
        let entry = carry(text.clone());
        let back = Entry::from_json(entry.to_json().as_bytes()).unwrap();
        assert_eq!(back, entry);
        assert!(matches!(classify(&back), Stored::Sealed(t) if t == text));
        assert_eq!(
            entry.to_json(),
            format!(
                r#"{{"access_token":"{text}","expires_at":0,"refresh_token":null,"scope":null}}"#
            )
        );
    }

    #[test]
    fn tokens_records_and_altered_envelopes() {
        let token = TokenInfo {
            access_token: AccessToken::new("a"),
            expires_at: 1_700_000_000,
            refresh_token: Some(RefreshToken::new("r")),
            scope: None,
            authorized_at: None,
        };
        assert!(matches!(
            classify(&Entry::Token(token.clone())),
            Stored::PlainToken
        ));
        let record = Entry::Ended(LoginEnded::refusal(&RefreshToken::new("r")));
        assert!(matches!(classify(&record), Stored::Other));
        let text = format!("{PREFIX}AAAA");
        let altered = [
            TokenInfo {
                expires_at: 1,
                ..carry_token(&text)
            },
            TokenInfo {
                access_token: AccessToken::new("spotify-auth-sealeD:AAAA"),
                ..carry_token(&text)
            },
            TokenInfo {
                scope: Some("x".into()),
                ..carry_token(&text)
            },
            TokenInfo {
                refresh_token: Some(RefreshToken::new("r")),
                ..carry_token(&text)
            },
        ];
        for t in altered {
            assert!(matches!(classify(&Entry::Token(t)), Stored::Altered));
        }
    }

    fn carry_token(text: &str) -> TokenInfo {
        match carry(text.to_owned()) {
            Entry::Token(t) => t,
            _ => unreachable!(),
        }
    }
}
