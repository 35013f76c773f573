//! OAuth scopes: [`Scopes`] normalisation and the documented scope constants.

use std::fmt;

/// A normalised set of scopes: space-delimited, no empty parts, no duplicates,
/// in the order first given.
///
/// Built from a space- or comma-delimited string, or from any list of strings:
///
/// ```
/// use spotify_auth::{scopes, Scopes};
/// assert_eq!(Scopes::from("user-read-email, user-read-private").as_str(),
///            "user-read-email user-read-private");
/// assert_eq!(Scopes::from([scopes::STREAMING, scopes::USER_TOP_READ]).as_str(),
///            "streaming user-top-read");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(String);

impl Scopes {
    /// No scopes.
    pub fn new() -> Self {
        Self(String::new())
    }

    /// Normalises any iterator of scope strings; each item may itself hold
    /// several scopes separated by spaces or commas.
    pub fn from_parts<I, S>(parts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = String::new();
        // The scopes kept so far: one lookup per scope, not a scan of
        // `out` (which made many distinct scopes quadratic).
        let mut seen = std::collections::HashSet::new();
        for part in parts {
            for scope in part
                .as_ref()
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|s| !s.is_empty())
            {
                if seen.insert(scope.to_owned()) {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(scope);
                }
            }
        }
        Self(out)
    }

    /// The space-delimited form sent to Spotify.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether there is no scope at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes one by one.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether `scope` is one of these.
    pub fn contains(&self, scope: &str) -> bool {
        self.iter().any(|s| s == scope)
    }

    /// Those of these scopes that `granted` lacks (empty when `granted` has
    /// them all, or more).
    ///
    /// ```
    /// use spotify_auth::Scopes;
    /// let asked = Scopes::from("user-read-email user-top-read");
    /// assert_eq!(asked.missing_from(&Scopes::from("user-read-email")).as_str(), "user-top-read");
    /// assert!(asked.missing_from(&Scopes::from("user-top-read user-read-email streaming")).is_empty());
    /// ```
    pub fn missing_from(&self, granted: &Scopes) -> Scopes {
        Scopes::from_parts(self.iter().filter(|s| !granted.contains(s)))
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({:?})", self.0)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Scopes {
    fn from(s: &str) -> Self {
        Self::from_parts([s])
    }
}

impl From<String> for Scopes {
    fn from(s: String) -> Self {
        Self::from_parts([s])
    }
}

impl From<&String> for Scopes {
    fn from(s: &String) -> Self {
        Self::from_parts([s])
    }
}

impl<S: AsRef<str>> From<Vec<S>> for Scopes {
    fn from(v: Vec<S>) -> Self {
        Self::from_parts(v)
    }
}

impl<S: AsRef<str>> From<&[S]> for Scopes {
    fn from(v: &[S]) -> Self {
        Self::from_parts(v)
    }
}

impl<S: AsRef<str>, const N: usize> From<[S; N]> for Scopes {
    fn from(v: [S; N]) -> Self {
        Self::from_parts(v)
    }
}

impl<S: AsRef<str>, const N: usize> From<&[S; N]> for Scopes {
    fn from(v: &[S; N]) -> Self {
        Self::from_parts(v)
    }
}

/// Read the user's profile data.
pub const USER_READ_PRIVATE: &str = "user-read-private";
/// Read the user's email address.
pub const USER_READ_EMAIL: &str = "user-read-email";
/// Read the user's saved tracks and albums.
pub const USER_LIBRARY_READ: &str = "user-library-read";
/// Modify the user's saved tracks and albums.
pub const USER_LIBRARY_MODIFY: &str = "user-library-modify";
/// Read the user's private playlists.
pub const PLAYLIST_READ_PRIVATE: &str = "playlist-read-private";
/// Read playlists the user collaborates on.
pub const PLAYLIST_READ_COLLABORATIVE: &str = "playlist-read-collaborative";
/// Modify the user's public playlists.
pub const PLAYLIST_MODIFY_PUBLIC: &str = "playlist-modify-public";
/// Modify the user's private playlists.
pub const PLAYLIST_MODIFY_PRIVATE: &str = "playlist-modify-private";
/// Read the user's playback state.
pub const USER_READ_PLAYBACK_STATE: &str = "user-read-playback-state";
/// Control the user's playback.
pub const USER_MODIFY_PLAYBACK_STATE: &str = "user-modify-playback-state";
/// Read what the user is playing now.
pub const USER_READ_CURRENTLY_PLAYING: &str = "user-read-currently-playing";
/// Read the user's playback position in episodes.
pub const USER_READ_PLAYBACK_POSITION: &str = "user-read-playback-position";
/// Read the user's recently played tracks.
pub const USER_READ_RECENTLY_PLAYED: &str = "user-read-recently-played";
/// Read the user's top artists and tracks.
pub const USER_TOP_READ: &str = "user-top-read";
/// Read whom the user follows.
pub const USER_FOLLOW_READ: &str = "user-follow-read";
/// Follow and unfollow artists and users.
pub const USER_FOLLOW_MODIFY: &str = "user-follow-modify";
/// Remote control of Spotify apps (iOS and Android SDKs).
pub const APP_REMOTE_CONTROL: &str = "app-remote-control";
/// Play content (Web Playback SDK).
pub const STREAMING: &str = "streaming";
/// Upload playlist cover images.
pub const UGC_IMAGE_UPLOAD: &str = "ugc-image-upload";

/// Every scope documented above.
pub const ALL: &[&str] = &[
    USER_READ_PRIVATE,
    USER_READ_EMAIL,
    USER_LIBRARY_READ,
    USER_LIBRARY_MODIFY,
    PLAYLIST_READ_PRIVATE,
    PLAYLIST_READ_COLLABORATIVE,
    PLAYLIST_MODIFY_PUBLIC,
    PLAYLIST_MODIFY_PRIVATE,
    USER_READ_PLAYBACK_STATE,
    USER_MODIFY_PLAYBACK_STATE,
    USER_READ_CURRENTLY_PLAYING,
    USER_READ_PLAYBACK_POSITION,
    USER_READ_RECENTLY_PLAYED,
    USER_TOP_READ,
    USER_FOLLOW_READ,
    USER_FOLLOW_MODIFY,
    APP_REMOTE_CONTROL,
    STREAMING,
    UGC_IMAGE_UPLOAD,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_strings_and_lists() {
        assert_eq!(Scopes::from("a b").as_str(), "a b");
        assert_eq!(Scopes::from(" a,,b ,c  ").as_str(), "a b c");
        assert_eq!(Scopes::from(vec!["a", "", "b c"]).as_str(), "a b c");
        assert_eq!(Scopes::from(["a", "a", "b"]).as_str(), "a b");
        assert_eq!(Scopes::from(&["x"][..]).as_str(), "x");
        assert!(Scopes::from(" , ").is_empty());
        assert!(Scopes::from("a b").contains("b"));
        assert!(!Scopes::from("ab").contains("a"));
        assert_eq!(ALL.len(), 19);
    }

    /// Found while writing the property tests' "never hang" cases: each
    /// scope was compared with every scope kept before it, so a token answer or file with many distinct
    /// scopes (a 1 MiB answer holds 100,000) took minutes to read.
    #[test]
    fn many_distinct_scopes_normalise_in_linear_time() {
        let many: Vec<String> = (0..100_000).map(|i| format!("s{i}")).collect();
        let joined = many.join(" ");
        let scopes = Scopes::from(joined.as_str());
        assert_eq!(scopes.as_str(), joined);
        assert_eq!(Scopes::from(format!("{joined} {joined}")), scopes);
    }
}
