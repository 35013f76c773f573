//! The forms `spotify-auth token --format` prints a token in, each one line
//! ending in a newline:
//!
//! | format | output |
//! |---|---|
//! | `raw` | `TOKEN` |
//! | `header` | `Authorization: Bearer TOKEN` |
//! | `json` | `{"access_token":"TOKEN","expires_at":1700000000,"expires_at_rfc3339":"2023-11-14T22:13:20Z","scopes":["user-read-email"]}` |
//! | `env` | `SPOTIFY_ACCESS_TOKEN=TOKEN` (single-quoted for a shell if the token held anything but letters, digits and `-._~+/=`; Spotify's never do) |

use serde_json::json;
use spotify_auth::TokenInfo;

use crate::args::Format;
use crate::clock;

/// The variable `--format env` sets.
pub const ENV_VARIABLE: &str = "SPOTIFY_ACCESS_TOKEN";

/// `token` in `format`, with its newline. `json` takes the expiry and scopes
/// from `info` (the stored login whose access token `token` is; `null` and
/// `[]` without it).
pub fn render(format: Format, token: &str, info: Option<&TokenInfo>) -> String {
    let mut line = match format {
        Format::Raw => token.to_owned(),
        Format::Header => format!("Authorization: Bearer {token}"),
        Format::Json => json!({
            "access_token": token,
            "expires_at": info.map(|i| i.expires_at),
            "expires_at_rfc3339": info.map(|i| clock::format_rfc3339(i.expires_at)),
            "scopes": info
                .and_then(|i| i.scope.as_deref())
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>(),
        })
        .to_string(),
        Format::Env => format!("{ENV_VARIABLE}={}", shell_word(token)),
    };
    line.push('\n');
    line
}

/// `value` as one shell word: as it is when it is made of characters no
/// shell treats specially, else in single quotes.
fn shell_word(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn info(token: &str) -> TokenInfo {
        TokenInfo::new(token, 1_700_000_000).with_scope("a b")
    }

    #[test]
    fn each_format_is_one_line() {
        let t = info("BQD-x_y");
        let r = |format| render(format, "BQD-x_y", Some(&t));
        assert_eq!(r(Format::Raw), "BQD-x_y\n");
        assert_eq!(r(Format::Header), "Authorization: Bearer BQD-x_y\n");
        assert_eq!(r(Format::Env), "SPOTIFY_ACCESS_TOKEN=BQD-x_y\n");
        assert_eq!(render(Format::Raw, "BQD-x_y", None), "BQD-x_y\n");
        let json = r(Format::Json);
        assert_eq!(json.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["access_token"], "BQD-x_y");
        assert_eq!(v["expires_at"], 1_700_000_000);
        assert_eq!(v["expires_at_rfc3339"], "2023-11-14T22:13:20Z");
        assert_eq!(v["scopes"], json!(["a", "b"]));
        let mut none = info("x");
        none.scope = None;
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&render(Format::Json, "x", Some(&none)))
                .unwrap()["scopes"],
            json!([])
        );
    }

    #[test]
    fn env_quotes_what_a_shell_would_read() {
        assert_eq!(shell_word("a$(b)"), "'a$(b)'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
