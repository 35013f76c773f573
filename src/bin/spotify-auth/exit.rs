//! Exit codes, and the failure a command ends with.
//!
//! | code | [`Exit`] | meaning |
//! |---|---|---|
//! | 0 | — | success |
//! | 2 | [`Exit::Config`] | usage or configuration: bad flags (clap exits 2 by itself), an unknown, badly named or malformed profile, a bad `--min-valid`, an empty refresh token on stdin, no client id (or no secret for a confidential profile's refresh), a bad redirect URI, a token cache that cannot be read or written |
//! | 3 | [`Exit::LoginRequired`] | no token, or Spotify refused the refresh token (`invalid_grant`): run `spotify-auth login` |
//! | 4 | [`Exit::Failure`] | network or Spotify error, and everything else |
//!
//! A corrupt token cache is a 2, not a 3: the library never takes an
//! unreadable file for "logged out", and the fix is local (remove the file
//! with `spotify-auth logout`, or log in again to overwrite it).

use std::process::ExitCode;

use spotify_auth::Error;

/// The exit code of a failed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 2: usage or configuration, including an unusable token cache or
    /// profile.
    Config = 2,
    /// 3: a login is needed.
    LoginRequired = 3,
    /// 4: network or Spotify error, or anything else.
    Failure = 4,
}

/// Why a command failed: the exit code, a one-line message and an optional
/// hint on what to do. Neither ever holds a token or secret.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

/// The hint of every "login required" failure.
pub const LOGIN_HINT: &str = "Run `spotify-auth login` to log in.";

impl Failure {
    /// A failure with `exit` and `message`, no hint.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            hint: None,
        }
    }

    /// A usage or configuration failure (exit 2).
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Exit::Config, message)
    }

    /// A "login required" failure (exit 3) with the login hint.
    pub fn login_required(message: impl Into<String>) -> Self {
        Self::new(Exit::LoginRequired, message).with_hint(LOGIN_HINT)
    }

    /// The same failure with `hint`.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Classifies a library error. Its text (with its causes) is safe to
    /// show: the library's errors never contain a secret.
    pub fn from_error(error: &Error) -> Self {
        match error {
            Error::NotAuthorized => Self::login_required("not logged in: no token is stored"),
            e if e.requires_authorization() => Self::login_required(with_causes(e)),
            Error::Config { .. } => Self::config(with_causes(error)),
            Error::Cache { .. } => Self::config(with_causes(error)).with_hint(
                "Fix the token store (a corrupt token file or keychain item: \
                 `spotify-auth logout` writes over it; a keychain: unlock it, or run where \
                 there is one), then run `spotify-auth login`.",
            ),
            _ => Self::new(Exit::Failure, with_causes(error)),
        }
    }

    /// Prints the failure on stderr and returns its exit code.
    pub fn report(&self) -> ExitCode {
        eprintln!("spotify-auth: {}", self.message);
        if let Some(hint) = &self.hint {
            eprintln!("{hint}");
        }
        ExitCode::from(self.exit as u8)
    }
}

/// The error's message followed by each of its causes: `error: cause: ...`
/// (an error's message never repeats its cause's).
fn with_causes(error: &Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_map_to_documented_codes() {
        let code = |e: Error| Failure::from_error(&e).exit;
        assert_eq!(code(Error::NotAuthorized), Exit::LoginRequired);
        assert_eq!(
            code(Error::reauthorization_required(None)),
            Exit::LoginRequired
        );
        assert_eq!(code(Error::cache("corrupt")), Exit::Config);
        assert_eq!(code(Error::StateMismatch), Exit::Failure);
        assert_eq!(
            code(Error::CallbackTimeout(std::time::Duration::from_secs(1))),
            Exit::Failure
        );
    }
}
