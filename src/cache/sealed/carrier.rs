//! How a sealed value travels through the inner cache: as
//! [`Entry::Sealed`], which every cache stores like any other entry
//! (`{"sealed":"<text>"}` in JSON). Read without the key, it is no token
//! (the Python library reads "no token"; a flow refuses it with an error
//! that says to give it the key), never a login.

use crate::{Entry, SealedEntry};

/// What the inner cache held, as the sealing layer sees it.
pub(super) enum Stored<'a> {
    /// The text of a sealed value.
    Sealed(&'a str),
    /// A token in the clear (written before sealing was turned on, or by a
    /// writer without the key).
    PlainToken,
    /// Anything else (a record of how a login ended): stored as it is.
    Other,
}

/// The entry that carries `sealed` (the text [`super::format::seal`] made).
pub(super) fn carry(sealed: String) -> Entry {
    Entry::Sealed(SealedEntry::new(sealed))
}

/// What `entry` is.
pub(super) fn classify(entry: &Entry) -> Stored<'_> {
    match entry {
        Entry::Sealed(s) => Stored::Sealed(s.as_str()),
        Entry::Token(_) => Stored::PlainToken,
        Entry::Recovering(r) if r.token().is_some() => Stored::PlainToken,
        _ => Stored::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccessToken, LoginEnded, RefreshToken, TokenInfo};

    #[test]
    fn a_carrier_round_trips_through_json() {
        let text = "spotify-auth-sealed:AAAA".to_owned();
        let entry = carry(text.clone());
        let back = Entry::from_json(entry.to_json().as_bytes()).unwrap();
        assert_eq!(back, entry);
        assert!(matches!(classify(&back), Stored::Sealed(t) if t == text));
        assert_eq!(entry.to_json(), format!(r#"{{"sealed":"{text}"}}"#));
    }

    #[test]
    fn tokens_and_records() {
        let token = TokenInfo {
            access_token: AccessToken::new("a"),
            expires_at: 1_700_000_000,
            refresh_token: Some(RefreshToken::new("r")),
            scope: None,
            authorized_at: None,
        };
        assert!(matches!(classify(&Entry::Token(token)), Stored::PlainToken));
        let record = Entry::Ended(LoginEnded::refusal(&RefreshToken::new("r")));
        assert!(matches!(classify(&record), Stored::Other));
    }
}
