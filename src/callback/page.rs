//! What the callback server answers: a status and a tiny self-contained HTML
//! page, written as a complete HTTP/1.1 response.
//!
//! The response is written by hand rather than with `tiny_http::Response`
//! because tiny_http silently drops a `Connection` header set by the
//! application, and every answer here must say `Connection: close` so that the
//! browser does not keep an idle connection (and a tiny_http thread) open.
//!
//! Every page says what happened and what to do next: the success page lists
//! the scopes that were asked for and sends the user back to the terminal;
//! the failure pages say how to try again. They load nothing from anywhere:
//! one inline stylesheet ([`STYLE`], light and dark through
//! `prefers-color-scheme`), allowed by the CSP by its SHA-256 hash, and a CSP
//! that forbids everything else (no script, no image, no other style). The
//! only request text they reflect, the `error` and `error_description` of a
//! refused authorization, is shortened and HTML-escaped; the scopes shown are
//! the application's own, escaped too. The code and the state never appear.

use std::fmt::Write as _;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

/// The longest reflected value, in characters; longer ones are cut.
const MAX_REFLECTED_CHARS: usize = 200;

/// The stylesheet of every page, in light and dark. The CSP allows exactly
/// this text (by its hash), so it is a constant.
const STYLE: &str = ":root{color-scheme:light dark;--fg:#1d1d1d;--bg:#fff;--muted:#595959;\
--ok:#146c2e;--bad:#b3261e;--code:#efefef}\
@media (prefers-color-scheme:dark){:root{--fg:#e6e6e6;--bg:#121212;--muted:#b0b0b0;\
--ok:#7bd88f;--bad:#ffb4ab;--code:#2c2c2c}}\
body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;\
line-height:1.5;color:var(--fg);background:var(--bg)}\
h1{font-size:1.4rem}.ok h1{color:var(--ok)}.bad h1{color:var(--bad)}\
code{overflow-wrap:anywhere;background:var(--code);padding:0 .25em;border-radius:.2em}\
ul{padding-left:1.4rem}.next{font-weight:600}.muted{color:var(--muted)}";

/// The Content-Security-Policy of every answer: nothing may load, run or be
/// framed; the only style allowed is [`STYLE`], by its hash.
static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; style-src 'sha256-{}'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
        STANDARD.encode(Sha256::digest(STYLE.as_bytes()))
    )
});

/// Headers sent with every answer, besides `Content-Length` (and `Allow` on 405).
fn common_headers() -> [(&'static str, &'static str); 6] {
    [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY.as_str()),
        ("Connection", "close"),
    ]
}

/// The page sent for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    /// 200: the callback carried a valid code and the right state; lists the
    /// scopes the authorization asked for.
    Authorized {
        /// The scopes asked for (the application's, escaped when shown).
        scopes: Vec<String>,
    },
    /// 200: Spotify (or the user) refused; shows `error` and its description.
    Denied {
        /// The `error` parameter (reflected, escaped).
        error: String,
        /// The `error_description` parameter (reflected, escaped).
        description: Option<String>,
    },
    /// 400: a callback whose state is missing or wrong (an older attempt, or
    /// a forgery); the wait goes on.
    StateMismatch,
    /// 400: a callback with the right state but no usable code.
    MissingCode,
    /// 400: the callback path was visited without any callback parameter;
    /// the wait goes on.
    NotACallback,
    /// 404: any other path.
    NotFound,
    /// 405: a method other than GET on the callback path.
    MethodNotAllowed,
    /// 410: a request still queued when the server stopped (the login
    /// finished, timed out or was cancelled).
    Ended,
}

impl Reply {
    /// The HTTP status code.
    pub(super) fn status(&self) -> u16 {
        match self {
            Reply::Authorized { .. } | Reply::Denied { .. } => 200,
            Reply::StateMismatch | Reply::MissingCode | Reply::NotACallback => 400,
            Reply::NotFound => 404,
            Reply::MethodNotAllowed => 405,
            Reply::Ended => 410,
        }
    }

    /// The complete HTTP response: status line, headers and (unless
    /// `include_body` is false, for HEAD) the page.
    pub(super) fn to_http(&self, include_body: bool) -> Vec<u8> {
        let body = self.html();
        let status = self.status();
        let mut head = String::with_capacity(640);
        let _ = write!(head, "HTTP/1.1 {status} {}\r\n", reason_phrase(status));
        for (name, value) in common_headers() {
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
        let (class, title, content) = self.content();
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title><style>{STYLE}</style></head>\
             <body class=\"{class}\"><h1>{title}</h1>{content}</body></html>\n"
        )
    }

    /// The page's class (`ok`, `bad` or `info`: the heading's colour), title
    /// and content.
    fn content(&self) -> (&'static str, &'static str, String) {
        match self {
            Reply::Authorized { scopes } => {
                let mut text = p(
                    "Spotify approved the login and handed it back to the application, which \
                     is finishing it now.",
                );
                if scopes.is_empty() {
                    text.push_str(&p(
                        "No scopes were asked for: the application gets only the access that \
                         needs no permission.",
                    ));
                } else {
                    text.push_str("<p>Access asked for:</p><ul>");
                    for scope in scopes {
                        let _ = write!(text, "<li><code>{}</code></li>", escape_html(scope));
                    }
                    text.push_str("</ul>");
                }
                text.push_str(&next("You can close this tab and return to your terminal."));
                ("ok", "Login approved", text)
            }
            Reply::Denied { error, description } => {
                let (title, mut text) = if error == "access_denied" {
                    (
                        "Login cancelled",
                        p(
                            "The request for access was declined on Spotify's page, so the \
                           application did not get access to your account.",
                        ) + &next(
                            "To log in, run the login again from your terminal and accept \
                                 the request on Spotify's page.",
                        ),
                    )
                } else {
                    (
                        "Login failed",
                        p(
                            "Spotify refused the request for access, so the application did not \
                           get access to your account.",
                        ) + &next(
                            "To try again, run the login again from your terminal. If it \
                                 fails the same way, check the app's settings in Spotify's \
                                 developer dashboard (client ID, redirect URI, scopes).",
                        ),
                    )
                };
                let _ = write!(
                    text,
                    "<p class=\"muted\">Error: <code>{}</code>",
                    escape_html(&shorten(error))
                );
                if let Some(description) = description {
                    let _ = write!(
                        text,
                        "<br>Description: {}",
                        escape_html(&shorten(description))
                    );
                }
                text.push_str("</p>");
                ("bad", title, text)
            }
            Reply::StateMismatch => (
                "bad",
                "Response ignored",
                p(
                    "This address received a response that does not belong to the login your \
                   application is waiting for (its state does not match), so it was ignored. \
                   It may come from an older login attempt, or from another web page.",
                ) + &next(
                    "To log in, start the login again from your app or terminal, and use \
                         the link it gives you.",
                ),
            ),
            Reply::MissingCode => (
                "bad",
                "Login failed",
                p(
                    "Spotify's response carried no usable authorization code, so the login \
                   could not be completed.",
                ) + &next("To try again, run the login again from your terminal."),
            ),
            Reply::NotACallback => (
                "info",
                "Waiting for Spotify",
                p(
                    "This address receives Spotify's answer after you approve the application; \
                   opened directly, it has nothing to show.",
                ) + &next(
                    "Finish the login in the tab your application opened, or open the link \
                         shown in your terminal.",
                ),
            ),
            Reply::NotFound => ("info", "Not found", p("Not found.")),
            Reply::MethodNotAllowed => ("info", "Method not allowed", p("Method not allowed.")),
            Reply::Ended => (
                "bad",
                "Login no longer waiting",
                p(
                    "The login this address was waiting for has ended: it finished, timed out \
                   or was cancelled.",
                ) + &next("To log in, run the login again from your terminal."),
            ),
        }
    }
}

/// A paragraph of trusted text.
fn p(text: &str) -> String {
    format!("<p>{text}</p>")
}

/// The paragraph saying what to do next.
fn next(text: &str) -> String {
    format!("<p class=\"next\">{text}</p>")
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
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
        for reply in every_reply() {
            let page = reply.html();
            for external in [
                "src=", "href=", "url(", "@import", "<script", "<link", "style=",
            ] {
                assert!(!page.contains(external), "{reply:?} contains {external}");
            }
            assert!(page.starts_with("<!DOCTYPE html>"));
            assert_eq!(page.matches("<style>").count(), 1, "{reply:?}");
        }
    }

    fn every_reply() -> Vec<Reply> {
        vec![
            Reply::Authorized {
                scopes: vec!["user-read-email".into()],
            },
            Reply::Authorized { scopes: vec![] },
            Reply::Denied {
                error: "access_denied".into(),
                description: None,
            },
            Reply::Denied {
                error: "invalid_scope".into(),
                description: Some("d".into()),
            },
            Reply::StateMismatch,
            Reply::MissingCode,
            Reply::NotACallback,
            Reply::NotFound,
            Reply::MethodNotAllowed,
            Reply::Ended,
        ]
    }

    /// The page's text without its markup and stylesheet.
    fn text_of(page: &str) -> String {
        let body = page.split_once("<body").unwrap().1;
        let mut text = String::new();
        let mut in_tag = false;
        for c in body.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    text.push(' ');
                }
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn success_page_lists_the_scopes_and_says_what_next() {
        let page = Reply::Authorized {
            scopes: vec!["user-read-email".into(), "<b>odd</b>".into()],
        }
        .html();
        let text = text_of(&page);
        assert!(text.contains("Login approved"), "{text}");
        assert!(text.contains("Access asked for: user-read-email"), "{text}");
        assert!(
            page.contains("<code>&lt;b&gt;odd&lt;/b&gt;</code>"),
            "escaped"
        );
        assert!(
            text.contains("You can close this tab and return to your terminal."),
            "{text}"
        );
        let none = text_of(&Reply::Authorized { scopes: vec![] }.html());
        assert!(none.contains("No scopes were asked for"), "{none}");
        assert!(!none.contains("Access asked for"), "{none}");
    }

    #[test]
    fn failure_pages_say_what_went_wrong_and_how_to_try_again() {
        let cases = [
            (
                Reply::Denied {
                    error: "access_denied".into(),
                    description: None,
                },
                "Login cancelled",
                "run the login again from your terminal and accept",
            ),
            (
                Reply::Denied {
                    error: "invalid_scope".into(),
                    description: Some("Invalid scope".into()),
                },
                "Login failed",
                "check the app's settings",
            ),
            (
                Reply::StateMismatch,
                "Response ignored",
                "start the login again from your app or terminal",
            ),
            (
                Reply::MissingCode,
                "no usable authorization code",
                "run the login again from your terminal",
            ),
            (
                Reply::Ended,
                "timed out",
                "run the login again from your terminal",
            ),
        ];
        for (reply, what, how) in cases {
            let text = text_of(&reply.html());
            assert!(text.contains(what), "{reply:?}: {text}");
            assert!(text.contains(how), "{reply:?}: {text}");
        }
        let text = text_of(
            &Reply::Denied {
                error: "invalid_scope".into(),
                description: Some("Invalid scope".into()),
            }
            .html(),
        );
        assert!(
            text.contains("Error: invalid_scope Description: Invalid scope"),
            "{text}"
        );
    }

    #[test]
    fn the_csp_allows_exactly_the_stylesheet_which_has_a_dark_mode() {
        let csp = CONTENT_SECURITY_POLICY.as_str();
        assert!(csp.starts_with("default-src 'none'; "), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        for reply in every_reply() {
            let page = reply.html();
            let style = page
                .split_once("<style>")
                .and_then(|(_, rest)| rest.split_once("</style>"))
                .map(|(style, _)| style)
                .unwrap();
            let hash = STANDARD.encode(Sha256::digest(style.as_bytes()));
            assert!(
                csp.contains(&format!("style-src 'sha256-{hash}';")),
                "{reply:?}: {csp}"
            );
        }
        assert!(STYLE.contains("@media (prefers-color-scheme:dark){:root{"));
        assert!(STYLE.contains("color-scheme:light dark"));
    }

    #[test]
    fn http_response_has_every_header_and_a_matching_length() {
        let reply = Reply::MethodNotAllowed;
        let full = String::from_utf8(reply.to_http(true)).unwrap();
        let (head, body) = full.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        for (name, value) in common_headers() {
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
            !String::from_utf8(Reply::Authorized { scopes: vec![] }.to_http(true))
                .unwrap()
                .contains("Allow:")
        );
    }
}
