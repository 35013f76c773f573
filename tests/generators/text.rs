//! Short texts: scope strings, `Retry-After` values, redirect URIs and the
//! CLI's durations, each valid or a near miss of a valid one.

use super::{Gen, mutate, secret};

/// The scopes Spotify documents, and a few that look like them.
const SCOPES: &[&str] = &[
    "user-read-email",
    "user-read-private",
    "user-top-read",
    "playlist-read-private",
    "streaming",
    "ugc-image-upload",
    "a",
    "A",
    "user-read-email,",
    "é",
];

/// A scope string: scopes separated by spaces, commas or other
/// whitespace, repeated, empty between delimiters.
pub fn scopes(g: &mut Gen) -> String {
    let mut out = String::new();
    for _ in 0..g.range(0, 8) {
        let scope = if g.chance(1, 4) {
            g.word(12)
        } else {
            g.pick(SCOPES).to_owned()
        };
        out.push_str(&scope);
        out.push_str(g.pick(&[
            " ", " ", ",", ", ", "  ", "\t", "\n", ",,", "\u{a0}", "\u{3000}",
        ]));
    }
    if g.chance(1, 4) { mutate(g, &out) } else { out }
}

/// Many distinct scopes: what a hostile or broken peer can put in one
/// token answer or file.
pub fn many_scopes(count: usize) -> String {
    (0..count)
        .map(|i| format!("s{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `Retry-After` header value: seconds, or what else servers send
/// (dates, fractions, negatives, huge numbers, spaces).
pub fn retry_after(g: &mut Gen) -> String {
    let valid = match g.range(0, 6) {
        0 => "Wed, 21 Oct 2015 07:28:00 GMT".to_owned(),
        1 => format!(" {} ", g.range(0, 120)),
        2 => g.number_text(),
        3 => "18446744073709551615".into(),
        _ => g.range(0, 60).to_string(),
    };
    if g.chance(1, 3) {
        mutate(g, &valid)
    } else {
        valid
    }
}

/// A redirect URI: a valid loopback one, or a near miss (other hosts and
/// spellings, https, ports out of range, a fragment, user info). With
/// `secret_password`, a user-info password is a secret.
pub fn redirect_uri(g: &mut Gen, secret_password: bool) -> String {
    let scheme = g.pick(&["http", "http", "http", "HTTP", "https", "ftp", ""]);
    let host = g.pick(&[
        "127.0.0.1",
        "127.0.0.1",
        "[::1]",
        "localhost",
        "LOCALHOST.",
        "127.1",
        "0x7f.0.0.1",
        "[0:0:0:0:0:0:0:1]",
        "[::ffff:127.0.0.1]",
        "example.com",
        "127.0.0.2",
        "",
        "[::1",
    ]);
    let port = match g.range(0, 7) {
        0 => String::new(),
        1 => ":".into(),
        2 => ":0".into(),
        3 => ":99999".into(),
        4 => ":80".into(),
        _ => format!(":{}", g.range(1, 65535)),
    };
    let userinfo = if g.chance(1, 6) {
        let password = if secret_password {
            secret(g)
        } else {
            g.word(6)
        };
        format!("user:{password}@")
    } else {
        String::new()
    };
    let path = g.pick(&[
        "/callback",
        "/callback",
        "",
        "/",
        "/a b",
        "/cb/sub",
        "\\cb",
        "/%2e%2e",
    ]);
    let query = if g.chance(1, 5) { "?app=1" } else { "" };
    let fragment = if g.chance(1, 8) { "#frag" } else { "" };
    let separator = g.pick(&["://", "://", ":/", ":", "//"]);
    let uri = format!("{scheme}{separator}{userinfo}{host}{port}{path}{query}{fragment}");
    if g.chance(1, 4) && !secret_password {
        mutate(g, &uri)
    } else {
        uri
    }
}

/// A `--min-valid` duration, or a near miss of one.
pub fn duration(g: &mut Gen) -> String {
    let mut valid = String::new();
    for _ in 0..g.range(1, 3) {
        valid.push_str(&g.number_text());
        valid.push(g.pick(&['s', 'm', 'h']));
    }
    if g.chance(1, 2) {
        mutate(g, &valid)
    } else {
        valid
    }
}
