//! Newtypes for secrets: their `Debug` prints `[redacted]`, they have no
//! `Display`, and reading one takes an explicit `.secret()` call.

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret itself. Never log it.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// Unwraps the secret.
            pub fn into_secret(self) -> String {
                self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

secret_type!(
    /// The application's client secret (confidential clients only).
    ClientSecret
);
secret_type!(
    /// An OAuth access token, sent as `Authorization: Bearer ...` to the Web API.
    AccessToken
);
secret_type!(
    /// An OAuth refresh token: exchanged for new access tokens without the user.
    RefreshToken
);
secret_type!(
    /// An authorization code from the callback, exchanged once for tokens.
    AuthCode
);
secret_type!(
    /// A PKCE code verifier (RFC 7636): 43-128 unreserved characters.
    PkceVerifier
);

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// `n` bytes from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> crate::Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(crate::Error::random)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = ClientSecret::new("hunter2");
        assert_eq!(format!("{s:?}"), "ClientSecret([redacted])");
        assert_eq!(s.secret(), "hunter2");
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
