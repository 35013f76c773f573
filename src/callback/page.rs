//! What the callback server answers: a status and a tiny self-contained HTML
//! page, written as a complete HTTP/1.1 response.
//!
//! The response is written by hand rather than with `tiny_http::Response`
//! because tiny_http silently drops a `Connection` header set by the
//! application, and every answer here must say `Connection: close` so that the
//! browser does not keep an idle connection (and a tiny_http thread) open.
//!
//! Pages load nothing from anywhere (inline CSS only, and a CSP that forbids
//! everything else), and the only text they reflect, the `error` and
//! `error_description` of a denied authorization, is shortened and
//! HTML-escaped. The code and the state are never reflected.

use std::fmt::Write as _;

/// The longest reflected value, in characters; longer ones are cut.
const MAX_REFLECTED_CHARS: usize = 200;

/// Headers sent with every answer, besides `Content-Length` (and `Allow` on 405).
const COMMON_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("Connection", "close"),
];

/// The page sent for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    /// 200: the callback carried a valid code.
    Authorized,
    /// 200: Spotify (or the user) refused; shows `error` and its description.
    Denied {
        /// The `error` parameter (reflected, escaped).
        error: String,
        /// The `error_description` parameter (reflected, escaped).
        description: Option<String>,
    },
    /// 400: the callback's state does not match this attempt.
    StateMismatch,
    /// 400: the callback carried callback parameters but no usable code.
    MissingCode,
    /// 400: the callback path was visited without any callback parameter;
    /// the wait goes on.
    NotACallback,
    /// 404: any other path.
    NotFound,
    /// 405: a method other than GET on the callback path.
    MethodNotAllowed,
}

impl Reply {
    /// The HTTP status code.
    pub(super) fn status(&self) -> u16 {
        match self {
            Reply::Authorized | Reply::Denied { .. } => 200,
            Reply::StateMismatch | Reply::MissingCode | Reply::NotACallback => 400,
            Reply::NotFound => 404,
            Reply::MethodNotAllowed => 405,
        }
    }

    /// The complete HTTP response: status line, headers and (unless
    /// `include_body` is false, for HEAD) the page.
    pub(super) fn to_http(&self, include_body: bool) -> Vec<u8> {
        let body = self.html();
        let status = self.status();
        let mut head = String::with_capacity(512);
        let _ = write!(head, "HTTP/1.1 {status} {}\r\n", reason_phrase(status));
        for (name, value) in COMMON_HEADERS {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        let _ = write!(head, "Content-Length: {}\r\n", body.len());
        if status == 405 {
            head.push_str("Allow: GET\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if include_body {
            bytes.extend_from_slice(body.as_bytes());
        }
        bytes
    }

    /// The page.
    pub(super) fn html(&self) -> String {
        let (title, paragraphs): (&str, String) = match self {
            Reply::Authorized => (
                "Authorization complete",
                p("Authorization complete. You can close this tab."),
            ),
            Reply::Denied { error, description } => {
                let mut text = p(
                    "The authorization was denied, so the application did not get access. You can close this tab.",
                );
                let _ = write!(
                    text,
                    "<p>Error: <code>{}</code></p>",
                    escape_html(&shorten(error))
                );
                if let Some(description) = description {
                    let _ = write!(
                        text,
                        "<p>Description: {}</p>",
                        escape_html(&shorten(description))
                    );
                }
                ("Authorization denied", text)
            }
            Reply::StateMismatch => (
                "Authorization failed",
                p(
                    "This response does not belong to the sign-in the application started (state mismatch), so it was rejected. Return to the application and start again.",
                ),
            ),
            Reply::MissingCode => (
                "Authorization failed",
                p(
                    "The response carried no usable authorization code. Return to the application and start again.",
                ),
            ),
            Reply::NotACallback => (
                "Waiting for authorization",
                p(
                    "This address receives the redirect from Spotify after you approve the application; opened directly, it has nothing to show. Finish the authorization in the tab the application opened.",
                ),
            ),
            Reply::NotFound => ("Not found", p("Not found.")),
            Reply::MethodNotAllowed => ("Method not allowed", p("Method not allowed.")),
        };
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title><style>\
             body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#222;background:#fff}}\
             h1{{font-size:1.4rem}}code{{overflow-wrap:anywhere}}\
             </style></head><body><h1>{title}</h1>{paragraphs}</body></html>\n"
        )
    }
}

fn p(text: &str) -> String {
    format!("<p>{text}</p>")
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "",
    }
}

/// At most [`MAX_REFLECTED_CHARS`] characters of `s`, with an ellipsis when cut.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_REFLECTED_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// Escapes text for HTML element content and quoted attribute values:
/// `&`, `<`, `>`, `"` and `'`.
pub(super) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_html_escapes_the_five_characters() {
        assert_eq!(escape_html(""), "");
        assert_eq!(escape_html("plain text é"), "plain text é");
        assert_eq!(
            escape_html(r#"<script>alert("x" + 'y') && 1</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; + &#x27;y&#x27;) &amp;&amp; 1&lt;/script&gt;"
        );
        assert_eq!(
            escape_html("&amp;"),
            "&amp;amp;",
            "escapes already-escaped text again"
        );
    }

    #[test]
    fn shorten_cuts_on_a_character_boundary() {
        assert_eq!(shorten("short"), "short");
        let long = "é".repeat(MAX_REFLECTED_CHARS + 10);
        let cut = shorten(&long);
        assert_eq!(cut.chars().count(), MAX_REFLECTED_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(
            shorten(&"a".repeat(MAX_REFLECTED_CHARS)).len(),
            MAX_REFLECTED_CHARS
        );
    }

    #[test]
    fn denied_page_escapes_reflected_text() {
        let page = Reply::Denied {
            error: "access_denied\"><img src=x>".into(),
            description: Some("<script>alert(1)</script>".into()),
        }
        .html();
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<img"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("access_denied&quot;&gt;&lt;img src=x&gt;"));
    }

    #[test]
    fn pages_are_self_contained() {
        for reply in [
            Reply::Authorized,
            Reply::Denied {
                error: "e".into(),
                description: None,
            },
            Reply::StateMismatch,
            Reply::MissingCode,
            Reply::NotACallback,
            Reply::NotFound,
            Reply::MethodNotAllowed,
        ] {
            let page = reply.html();
            for external in ["src=", "href=", "url(", "@import", "<script", "<link"] {
                assert!(!page.contains(external), "{reply:?} contains {external}");
            }
            assert!(page.starts_with("<!DOCTYPE html>"));
        }
    }

    #[test]
    fn http_response_has_every_header_and_a_matching_length() {
        let reply = Reply::MethodNotAllowed;
        let full = String::from_utf8(reply.to_http(true)).unwrap();
        let (head, body) = full.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        for (name, value) in COMMON_HEADERS {
            assert!(head.contains(&format!("\r\n{name}: {value}")), "{name}");
        }
        assert!(head.contains("\r\nAllow: GET"));
        assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
        let head_only = String::from_utf8(reply.to_http(false)).unwrap();
        assert_eq!(
            head_only,
            format!("{head}\r\n\r\n"),
            "HEAD: same headers, no body"
        );
        assert!(
            !String::from_utf8(Reply::Authorized.to_http(true))
                .unwrap()
                .contains("Allow:")
        );
    }
}
