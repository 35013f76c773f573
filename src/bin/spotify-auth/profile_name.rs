//! A profile's name: 1 to 64 ASCII letters, digits, `-` and `_`, starting
//! with a letter or digit, so that it is a safe file name everywhere.

use std::fmt;

use crate::exit::Failure;

/// The profile used when none is named.
pub const DEFAULT: &str = "default";

/// The longest name accepted.
const MAX_LEN: usize = 64;

/// A valid profile name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProfileName(String);

impl ProfileName {
    /// Checks `name`; the failure names the rule (exit 2).
    pub fn parse(name: &str) -> Result<Self, Failure> {
        if Self::is_valid(name) {
            Ok(Self(name.to_owned()))
        } else {
            Err(Failure::config(format!(
                "invalid profile name {name:?}: use up to {MAX_LEN} letters, digits, '-' and \
                 '_', starting with a letter or digit (e.g. --profile work)"
            )))
        }
    }

    /// Whether `name` follows the rule.
    pub fn is_valid(name: &str) -> bool {
        let mut chars = name.chars();
        name.len() <= MAX_LEN
            && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }

    /// The `default` profile.
    pub fn default_profile() -> Self {
        Self(DEFAULT.to_owned())
    }

    /// Whether this is the `default` profile.
    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `spotify-auth` with `--profile NAME` when this is not the default:
    /// the start of a command line to suggest.
    pub fn command(&self) -> String {
        if self.is_default() {
            "spotify-auth".to_owned()
        } else {
            format!("spotify-auth --profile {}", self.0)
        }
    }
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_file_names() {
        for good in ["default", "work", "a", "ci_2", "Team-B", &"x".repeat(64)] {
            assert!(ProfileName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-x",
            "_x",
            "a/b",
            "..",
            "a.b",
            "a b",
            "é",
            "a\n",
            &"x".repeat(65),
        ] {
            let failure = ProfileName::parse(bad).unwrap_err();
            assert_eq!(failure.exit, crate::exit::Exit::Config, "{bad}");
            assert!(!failure.message.contains('\n'), "{bad}");
        }
        assert_eq!(ProfileName::default_profile().command(), "spotify-auth");
        assert_eq!(
            ProfileName::parse("work").unwrap().command(),
            "spotify-auth --profile work"
        );
    }
}
