//! JSON as remote parties and other programs write it: token endpoint
//! answers, token files (ours, the Python library's, hand-edited ones),
//! stored entries (tokens, logout and refusal records, sealed entries) and
//! the CLI's profile files. Secrets are [`MARKER`](super::MARKER)s.

use super::{Gen, secret};

/// `s` as a JSON string.
pub fn string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serialises")
}

/// Any JSON value (as text), at most `depth` levels deep; strings may be
/// secrets when `secrets`.
pub fn value(g: &mut Gen, depth: usize, secrets: bool) -> String {
    let kinds = if depth == 0 { 4 } else { 6 };
    match g.range(0, kinds) {
        0 => "null".into(),
        1 => g.pick(&["true", "false"]).into(),
        2 => g.number_text(),
        3 | 4 if secrets && g.chance(1, 2) => string(&secret(g)),
        3 | 4 => string(&g.text(12)),
        5 => {
            let items: Vec<String> = (0..g.range(0, 3))
                .map(|_| value(g, depth - 1, secrets))
                .collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let fields: Vec<String> = (0..g.range(0, 3))
                .map(|_| format!("{}:{}", string(&g.word(6)), value(g, depth - 1, secrets)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
    }
}

/// A JSON object of `fields` (key, value text) with, sometimes, a field
/// repeated, an unknown field, or the whole object nested or in an array.
fn object(g: &mut Gen, mut fields: Vec<(String, String)>, secrets: bool) -> String {
    if g.chance(1, 6) && !fields.is_empty() {
        let i = g.range(0, fields.len() - 1);
        // Not a secret: the field repeated may be one whose value is
        // shown (a scope, an error code).
        let again = (fields[i].0.clone(), value(g, 1, false));
        fields.push(again);
    }
    for _ in 0..g.range(0, 2) {
        let key = g.pick(&["token_type", "extra", "", "ACCESS_TOKEN", "__proto__"]);
        fields.push((key.into(), value(g, 2, secrets)));
    }
    if g.chance(1, 4) && fields.len() > 1 {
        let i = g.range(0, fields.len() - 1);
        let j = g.range(0, fields.len() - 1);
        fields.swap(i, j);
    }
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", string(k)))
        .collect();
    let object = format!("{{{}}}", body.join(g.pick(&[",", ", ", ",\n  "])));
    match g.range(0, 19) {
        0 => format!("[{object}]"),
        1 => format!("{{\"data\":{object}}}"),
        2 => format!("{object} trailing"),
        3 => format!("\u{feff}{object}"),
        4 => format!(" \n\t{object}\n"),
        _ => object,
    }
}

/// A secret, or a near miss of one: empty, the wrong type.
fn secret_value(g: &mut Gen) -> String {
    match g.range(0, 9) {
        0 => "\"\"".into(),
        1 => "null".into(),
        2 => g.number_text(),
        3 => format!("[{}]", string(&secret(g))),
        4 => format!("{{\"value\":{}}}", string(&secret(g))),
        _ => string(&secret(g)),
    }
}

/// A time or duration in seconds, or a near miss: float, string,
/// negative, huge, the wrong type.
fn seconds_value(g: &mut Gen) -> String {
    match g.range(0, 7) {
        0 => string(&g.number_text()),
        1 => g.pick(&["null", "true", "[]", "{}", "\"soon\""]).into(),
        2 => string(&secret(g)),
        _ => g.number_text(),
    }
}

/// A scope as a token answer or file holds it.
fn scope_value(g: &mut Gen) -> String {
    match g.range(0, 5) {
        0 => "null".into(),
        1 => "[\"a\",\"b\"]".into(),
        _ => string(&super::text::scopes(g)),
    }
}

/// A token endpoint's answer body. With `error_field`, it may carry an
/// OAuth `error` (never a secret: its value is quoted by design).
pub fn token_response(g: &mut Gen, error_field: bool) -> String {
    let mut fields = Vec::new();
    if !g.chance(1, 8) {
        fields.push(("access_token".into(), secret_value(g)));
    }
    if !g.chance(1, 8) {
        fields.push(("expires_in".into(), seconds_value(g)));
    }
    if g.chance(2, 3) {
        fields.push(("refresh_token".into(), secret_value(g)));
    }
    if g.chance(1, 2) {
        fields.push(("scope".into(), scope_value(g)));
    }
    if g.chance(1, 2) {
        fields.push(("token_type".into(), string("Bearer")));
    }
    if error_field && g.chance(1, 6) {
        let error = g.pick(&["invalid_grant", "invalid_client", "server_error", ""]);
        fields.push(("error".into(), string(error)));
        if g.chance(1, 2) {
            fields.push(("error_description".into(), string(&g.text(20))));
        }
    }
    object(g, fields, true)
}

/// A token file: this crate's, the Python library's (floats, nulls), or
/// hand-edited (missing, extra or mistyped fields).
pub fn token_file(g: &mut Gen) -> String {
    let mut fields = Vec::new();
    if !g.chance(1, 8) {
        fields.push(("access_token".into(), secret_value(g)));
    }
    if !g.chance(1, 8) {
        fields.push(("expires_at".into(), seconds_value(g)));
    }
    if g.chance(3, 4) {
        fields.push(("refresh_token".into(), secret_value(g)));
    }
    if g.chance(3, 4) {
        fields.push(("scope".into(), scope_value(g)));
    }
    if g.chance(1, 3) {
        fields.push(("authorized_at".into(), seconds_value(g)));
    }
    object(g, fields, true)
}

/// A logout or refusal record, or a near miss of one.
pub fn record(g: &mut Gen) -> String {
    let mut fields = vec![(
        "login_ended".to_owned(),
        match g.range(0, 5) {
            0 => string("refused"),
            1 => string(&g.word(8)),
            2 => "null".into(),
            3 => "1".into(),
            _ => string("logout"),
        },
    )];
    if !g.chance(1, 8) {
        fields.push(("at_ms".into(), seconds_value(g)));
    }
    if g.chance(3, 4) {
        let names: Vec<String> = (0..g.range(0, 4))
            .map(|_| match g.range(0, 5) {
                0 => string(&g.word(40)),
                1 => string(&format!("+{}", "f".repeat(31))),
                2 => string(&secret(g)),
                3 => "7".into(),
                _ => {
                    let hex: String = (0..16).map(|_| format!("{:02x}", g.byte())).collect();
                    string(&hex)
                }
            })
            .collect();
        fields.push(("ended".into(), format!("[{}]", names.join(","))));
    }
    object(g, fields, true)
}

/// A sealed entry, or a near miss of one.
pub fn sealed(g: &mut Gen) -> String {
    let mut fields = vec![(
        "sealed".to_owned(),
        match g.range(0, 4) {
            0 => "5".into(),
            1 => "null".into(),
            _ => string(&format!("spotify-auth-sealed:{}", secret(g))),
        },
    )];
    if g.chance(1, 5) {
        fields.push(("login_ended".into(), string("logout")));
    }
    if g.chance(1, 5) {
        fields.push(("access_token".into(), secret_value(g)));
    }
    object(g, fields, true)
}

/// Whatever a token store may hold: a token, a record or a sealed entry,
/// sometimes mutated into a near miss (with `mutations`), or any JSON.
pub fn entry(g: &mut Gen, mutations: bool) -> String {
    let valid = match g.range(0, 6) {
        0..=2 => token_file(g),
        3 => record(g),
        4 => sealed(g),
        5 => value(g, 3, true),
        _ => format!(
            "{}{}",
            "[".repeat(g.range(100, 300)),
            "]".repeat(g.range(0, 300))
        ),
    };
    if mutations && g.chance(1, 2) {
        super::mutate(g, &valid)
    } else {
        valid
    }
}

/// A CLI profile file (settings, never a secret of its own), or a near
/// miss: a hand-edited one may hold a secret where it should not.
pub fn profile(g: &mut Gen) -> String {
    let mut fields = Vec::new();
    if !g.chance(1, 10) {
        let version = match g.range(0, 5) {
            0 => "2".into(),
            1 => string("1"),
            2 => g.number_text(),
            _ => "1".into(),
        };
        fields.push(("version".to_owned(), version));
    }
    if !g.chance(1, 10) {
        fields.push(("client_id".into(), string(&g.word(32))));
    }
    if !g.chance(1, 10) {
        fields.push((
            "redirect_uri".into(),
            string(&super::text::redirect_uri(g, false)),
        ));
    }
    if !g.chance(1, 10) {
        let client_type = match g.range(0, 4) {
            0 => string("confidential"),
            1 => string(&secret(g)),
            2 => "1".into(),
            _ => string("public"),
        };
        fields.push(("client_type".into(), client_type));
    }
    if g.chance(1, 2) {
        let scopes = match g.range(0, 3) {
            0 => string(&secret(g)),
            1 => format!("[{}]", string(&secret(g))),
            _ => "[\"user-read-email\",\"user-top-read\"]".into(),
        };
        fields.push(("scopes".into(), scopes));
    }
    if g.chance(1, 3) {
        let store = match g.range(0, 3) {
            0 => format!("{{\"type\":{},\"path\":\"/x\"}}", string(&secret(g))),
            1 => "{\"type\":\"file\"}".into(),
            _ => "{\"type\":\"file\",\"path\":\"/tmp/t.json\"}".into(),
        };
        fields.push(("store".into(), store));
    }
    if g.chance(1, 4) {
        fields.push(("client_secret".into(), string(&secret(g))));
    }
    object(g, fields, true)
}
