//! The redirect URI check made before anything starts: the callback server can
//! only serve a plain-HTTP loopback IP literal (`127.0.0.1` or `[::1]`, as
//! Spotify requires), with a fixed port, or with none: Spotify then accepts
//! any port (for loopback IP literals only, as RFC 8252 section 7.3 says), so
//! the server binds a free one and the URI is used with that port added.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

use crate::{Error, Result};

/// Appended to every complaint about the redirect URI.
const LOOPBACK_HINT: &str = "Spotify only accepts loopback redirect URIs as IP literals, \
     e.g. http://127.0.0.1:8888/callback (or http://[::1]:8888/callback), \
     registered exactly so in the app's settings; registered without a port \
     (http://127.0.0.1/callback), any free port is used";

/// The longest part of a rejected redirect URI quoted back in an error.
const MAX_QUOTED_CHARS: usize = 100;

/// A redirect URI the callback server can serve.
#[derive(Debug)]
pub(super) struct Target {
    /// The redirect URI, parsed.
    pub url: Url,
    /// Where to listen: the loopback IP and the URI's port, or port 0 (any
    /// free port) when the URI has none.
    pub addr: SocketAddr,
    /// Whether the URI gives its port; when it does not, the port bound is
    /// added to it ([`with_port`]).
    pub fixed_port: bool,
}

/// [`validate_loopback_redirect`](super::validate_loopback_redirect), plus
/// where to listen.
pub(super) fn loopback_target(redirect_uri: &str) -> Result<Target> {
    let url = Url::parse(redirect_uri).map_err(|e| {
        invalid(format!(
            "`{}` is not a valid absolute URL ({e})",
            quote(redirect_uri)
        ))
    })?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(invalid(
                "use http, not https: the callback server on this machine speaks plain HTTP \
                 (loopback traffic never leaves the machine)",
            ));
        }
        other if !redirect_uri.contains("://") => {
            return Err(invalid(format!(
                "`{}` does not start with http:// (it parses as the scheme `{}`)",
                quote(redirect_uri),
                quote(other)
            )));
        }
        other => {
            return Err(invalid(format!(
                "the scheme must be http, not `{}`",
                quote(other)
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("remove the user name and password from it"));
    }
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) if ip == Ipv4Addr::LOCALHOST => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) if ip == Ipv6Addr::LOCALHOST => IpAddr::V6(ip),
        Some(Host::Domain(domain)) if domain.trim_end_matches('.') == "localhost" => {
            let mut instead = url.clone();
            let _ = instead.set_ip_host(IpAddr::V4(Ipv4Addr::LOCALHOST));
            return Err(invalid(format!(
                "Spotify refuses `localhost` in redirect URIs: register `{}` in the app's \
                 settings and use it instead",
                quote(instead.as_str())
            )));
        }
        Some(host) => {
            return Err(invalid(format!(
                "the host must be 127.0.0.1 or [::1], not `{}`: the callback server listens \
                 on this machine's loopback interface only",
                quote(&host.to_string())
            )));
        }
        None => return Err(invalid("it has no host; use 127.0.0.1")),
    };
    let (raw_host, raw_port) = authority(redirect_uri)
        .map(|(_, authority)| split_host_port(authority))
        .unwrap_or_default();
    let canonical = url.host_str().unwrap_or_default();
    if !raw_host.eq_ignore_ascii_case(canonical) {
        return Err(invalid(format!(
            "write its host as `{canonical}`, not `{}`: Spotify compares redirect URIs as text",
            quote(raw_host)
        )));
    }
    let port = match (raw_port, url.port()) {
        (None, _) => None,
        (Some(""), _) => {
            return Err(invalid(
                "it has a `:` but no port after it: remove the `:` (any free port is then \
                 used), or add a port, e.g. http://127.0.0.1:8888/callback",
            ));
        }
        (Some(_), Some(0)) => {
            return Err(invalid(
                "port 0 is not allowed: leave the port out (http://127.0.0.1/callback) for \
                 any free port, or choose a fixed one",
            ));
        }
        (Some(_), Some(port)) => Some(port),
        // `Url::port` hides a port equal to the scheme's default.
        (Some(_), None) => Some(80),
    };
    if url.fragment().is_some() {
        return Err(invalid("remove the fragment (`#...`) from it"));
    }
    Ok(Target {
        url,
        addr: SocketAddr::new(ip, port.unwrap_or(0)),
        fixed_port: port.is_some(),
    })
}

/// `redirect_uri` (valid for [`loopback_target`], without a port) with
/// `:port` added after its host, everything else exactly as given: Spotify
/// compares it with the registered URI as text, port aside.
pub(super) fn with_port(redirect_uri: &str, port: u16) -> String {
    let end = authority(redirect_uri).map_or(redirect_uri.len(), |(start, authority)| {
        start + authority.len()
    });
    format!("{}:{port}{}", &redirect_uri[..end], &redirect_uri[end..])
}

/// The authority (`host[:port]`, here) of a URL written `scheme://...`, and
/// where it starts.
fn authority(raw: &str) -> Option<(usize, &str)> {
    let start = raw.find("://")? + "://".len();
    let rest = &raw[start..];
    let len = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    Some((start, &rest[..len]))
}

/// An authority without user info split into its host and what follows a
/// `:` after it (`None`: no `:`, so no port).
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    let host_len = if authority.starts_with('[') {
        authority.find(']').map_or(authority.len(), |i| i + 1)
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, rest) = authority.split_at(host_len);
    (host, rest.strip_prefix(':'))
}

fn invalid(message: impl std::fmt::Display) -> Error {
    Error::config("redirect_uri", format!("{message}. {LOOPBACK_HINT}"))
}

/// At most [`MAX_QUOTED_CHARS`] characters of `s`, without its user info
/// (see [`without_userinfo`]).
fn quote(s: &str) -> String {
    let s = without_userinfo(s);
    match s.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s,
    }
}

/// `s` with what may be a user name and password replaced by `***`: never
/// quoted in an error. That is whatever comes before an `@` in the
/// authority, or, in a URI too broken to have one (no `://`), before an
/// `@` ahead of its query.
fn without_userinfo(s: &str) -> String {
    let (start, ends): (usize, &[char]) = match s.find("://") {
        Some(i) => (i + "://".len(), &['/', '?', '#', '\\']),
        None => (0, &['?', '#']),
    };
    let rest = &s[start..];
    let authority = &rest[..rest.find(ends).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => format!("{}***{}", &s[..start], &rest[at..]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::validate_loopback_redirect;

    fn config_message(uri: &str) -> String {
        match validate_loopback_redirect(uri) {
            Err(Error::Config { setting, message }) => {
                assert_eq!(setting, "redirect_uri");
                assert!(message.contains(LOOPBACK_HINT), "{message}");
                message
            }
            other => panic!("{uri}: expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn accepts_loopback_ip_literals() {
        for (uri, addr, path, fixed_port) in [
            (
                "http://127.0.0.1:8888/callback",
                "127.0.0.1:8888",
                "/callback",
                true,
            ),
            (
                "http://[::1]:8888/callback",
                "[::1]:8888",
                "/callback",
                true,
            ),
            ("http://127.0.0.1:80/cb", "127.0.0.1:80", "/cb", true),
            (
                "http://127.0.0.1:8888/a/b?x=1",
                "127.0.0.1:8888",
                "/a/b",
                true,
            ),
            (
                "http://127.0.0.1/callback",
                "127.0.0.1:0",
                "/callback",
                false,
            ),
            ("http://[::1]/callback", "[::1]:0", "/callback", false),
            ("http://127.0.0.1", "127.0.0.1:0", "/", false),
            ("http://[::1]?x=1", "[::1]:0", "/", false),
        ] {
            let target = loopback_target(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert_eq!(target.addr.to_string(), addr, "{uri}");
            assert_eq!(target.url.path(), path, "{uri}");
            assert_eq!(target.fixed_port, fixed_port, "{uri}");
            assert!(validate_loopback_redirect(uri).is_ok());
        }
    }

    #[test]
    fn refuses_localhost_with_the_ip_literal_to_register_instead() {
        for (uri, instead) in [
            (
                "http://localhost:8888/callback",
                "http://127.0.0.1:8888/callback",
            ),
            ("http://LOCALHOST:9000", "http://127.0.0.1:9000/"),
            ("http://localhost/cb?x=1", "http://127.0.0.1/cb?x=1"),
            ("http://localhost.:8888/cb", "http://127.0.0.1:8888/cb"),
        ] {
            let message = config_message(uri);
            assert!(message.contains("refuses `localhost`"), "{message}");
            assert!(
                message.contains(&format!("register `{instead}`")),
                "{message}"
            );
        }
    }

    #[test]
    fn rejects_non_http_schemes() {
        assert!(config_message("https://127.0.0.1:8888/callback").contains("not https"));
        assert!(config_message("ftp://127.0.0.1:8888/callback").contains("`ftp`"));
        assert!(config_message("localhost:8888/callback").contains("does not start with http://"));
    }

    #[test]
    fn rejects_non_loopback_hosts() {
        for uri in [
            "http://example.com:8888/callback",
            "http://192.168.0.1:8888/callback",
            "http://127.0.0.2:8888/callback",
            "http://0.0.0.0:8888/callback",
            "http://[::]:8888/callback",
            "http://[::ffff:127.0.0.1]:8888/callback",
            "http://localhost.localdomain:8888/callback",
        ] {
            assert!(config_message(uri).contains("the host must be"), "{uri}");
        }
    }

    #[test]
    fn rejects_other_spellings_of_the_loopback_ips() {
        for (uri, canonical) in [
            ("http://127.1:8888/cb", "127.0.0.1"),
            ("http://0x7f.0.0.1/cb", "127.0.0.1"),
            ("http://[0:0:0:0:0:0:0:1]:8888/cb", "[::1]"),
        ] {
            let message = config_message(uri);
            assert!(
                message.contains(&format!("write its host as `{canonical}`")),
                "{message}"
            );
        }
        assert!(validate_loopback_redirect("http://[::1]:1/").is_ok());
    }

    #[test]
    fn rejects_empty_or_zero_ports() {
        assert!(config_message("http://127.0.0.1:/callback").contains("no port after it"));
        assert!(config_message("http://[::1]:/callback").contains("no port after it"));
        assert!(config_message("http://127.0.0.1:0/callback").contains("port 0"));
    }

    #[test]
    fn rejects_garbage_userinfo_and_fragments() {
        for uri in [
            "",
            "   ",
            "not a url",
            "http://",
            "http://127.0.0.1:99999/",
            "\u{0}",
        ] {
            config_message(uri);
        }
        let long = format!("{}:garbage", "x".repeat(10_000));
        assert!(config_message(&long).len() < 1_000, "quotes only the start");
        let long_host = format!("http://localhost:1/{}", "p".repeat(10_000));
        assert!(
            config_message(&long_host).len() < 1_000,
            "quotes only the start"
        );
        assert!(config_message("http://user:pw@127.0.0.1:8888/cb").contains("user name"));
        // Found by the property tests: an invalid URL was quoted whole,
        // password included.
        for uri in [
            "http://user:hunter2@:1/callback",
            "http://user:hunter2@127.0.0.1:99999/callback",
            "ftp:user:hunter2@127.0.0.1/callback",
            "http//user:hunter2@127.0.0.1:1/callback",
        ] {
            let message = config_message(uri);
            assert!(!message.contains("hunter2"), "{message}");
        }
        assert!(config_message("http://user:hunter2@:1/cb").contains("`http://***@:1/cb`"));
        assert!(config_message("http://127.0.0.1:8888/cb#frag").contains("fragment"));
        assert!(config_message("http://127.0.0.1/cb#frag").contains("fragment"));
    }

    #[test]
    fn with_port_adds_the_port_and_keeps_the_rest_as_written() {
        for (uri, expected) in [
            (
                "http://127.0.0.1/callback",
                "http://127.0.0.1:4242/callback",
            ),
            ("http://[::1]/callback", "http://[::1]:4242/callback"),
            ("http://127.0.0.1", "http://127.0.0.1:4242"),
            ("http://127.0.0.1?x=1", "http://127.0.0.1:4242?x=1"),
            (
                "http://127.0.0.1/a%20b/?y=%41",
                "http://127.0.0.1:4242/a%20b/?y=%41",
            ),
            ("HTTP://127.0.0.1/Cb", "HTTP://127.0.0.1:4242/Cb"),
        ] {
            assert!(!loopback_target(uri).unwrap().fixed_port, "{uri}");
            let with = with_port(uri, 4242);
            assert_eq!(with, expected, "{uri}");
            let target = loopback_target(&with).unwrap();
            assert!(target.fixed_port, "{with}");
            assert_eq!(target.addr.port(), 4242, "{with}");
        }
    }

    #[test]
    fn authority_and_port_detection() {
        let port_of = |raw| authority(raw).map(|(_, a)| split_host_port(a).1);
        assert_eq!(port_of("http://127.0.0.1:80/x"), Some(Some("80")));
        assert_eq!(port_of("http://[::1]:80?x"), Some(Some("80")));
        assert_eq!(port_of("http://[::1]/x:80"), Some(None));
        assert_eq!(port_of("http://127.0.0.1:/x"), Some(Some("")));
        assert_eq!(port_of("http://127.0.0.1"), Some(None));
        assert_eq!(port_of("http://127.0.0.1\\x:1"), Some(None));
        assert_eq!(port_of("127.0.0.1:80"), None);
    }
}
