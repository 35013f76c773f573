//! The redirect URI check made before anything starts: the callback server can
//! only serve a plain-HTTP loopback address with a fixed port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

use crate::{Error, Result};

/// Appended to every complaint about the redirect URI.
const LOOPBACK_HINT: &str = "Spotify only accepts loopback redirect URIs as IP literals, \
     e.g. http://127.0.0.1:8888/callback (or http://[::1]:8888/callback), \
     registered exactly so in the app's settings";

/// The longest part of a rejected redirect URI quoted back in an error.
const MAX_QUOTED_CHARS: usize = 100;

/// [`validate_loopback_redirect`](super::validate_loopback_redirect), plus the socket address to listen on
/// (`localhost` listens on 127.0.0.1).
pub(super) fn loopback_target(redirect_uri: &str) -> Result<(Url, SocketAddr)> {
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
        Some(Host::Domain("localhost")) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(host) => {
            return Err(invalid(format!(
                "the host must be 127.0.0.1, [::1] or localhost, not `{}`: the callback server \
                 listens on this machine's loopback interface only",
                quote(&host.to_string())
            )));
        }
        None => return Err(invalid("it has no host; use 127.0.0.1")),
    };
    let port = match url.port() {
        Some(0) => {
            return Err(invalid(
                "port 0 is not allowed: choose a fixed port, because the redirect URI must \
                 match one registered in the Spotify app exactly",
            ));
        }
        Some(port) => port,
        // `Url::port` hides a port equal to the scheme's default.
        None if has_explicit_port(redirect_uri) => 80,
        None => {
            return Err(invalid(
                "it has no port: add an explicit one, e.g. http://127.0.0.1:8888/callback",
            ));
        }
    };
    if url.fragment().is_some() {
        return Err(invalid("remove the fragment (`#...`) from it"));
    }
    Ok((url, SocketAddr::new(ip, port)))
}

fn invalid(message: impl std::fmt::Display) -> Error {
    Error::config("redirect_uri", format!("{message}. {LOOPBACK_HINT}"))
}

/// At most [`MAX_QUOTED_CHARS`] characters of `s`.
fn quote(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_owned(),
    }
}

/// Whether the authority of an (already parsed) URL carries a port, even one
/// that [`Url::port`] hides because it is the scheme's default.
fn has_explicit_port(raw: &str) -> bool {
    let Some((_, rest)) = raw.trim().split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let after_host = match host_port.rfind(']') {
        Some(i) => host_port.get(i + 1..).unwrap_or(""),
        None => host_port,
    };
    after_host
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty())
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
    fn accepts_loopback_uris() {
        for (uri, addr, path) in [
            (
                "http://127.0.0.1:8888/callback",
                "127.0.0.1:8888",
                "/callback",
            ),
            ("http://[::1]:8888/callback", "[::1]:8888", "/callback"),
            (
                "http://localhost:8888/callback",
                "127.0.0.1:8888",
                "/callback",
            ),
            ("http://LOCALHOST:9000", "127.0.0.1:9000", "/"),
            ("http://127.0.0.1:80/cb", "127.0.0.1:80", "/cb"),
            ("http://127.0.0.1:8888/a/b?x=1", "127.0.0.1:8888", "/a/b"),
        ] {
            let (url, socket) = loopback_target(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert_eq!(socket.to_string(), addr, "{uri}");
            assert_eq!(url.path(), path, "{uri}");
            assert!(validate_loopback_redirect(uri).is_ok());
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
            "http://localhost.:8888/callback",
        ] {
            assert!(config_message(uri).contains("the host must be"), "{uri}");
        }
    }

    #[test]
    fn rejects_missing_or_zero_ports() {
        assert!(config_message("http://127.0.0.1/callback").contains("no port"));
        assert!(config_message("http://127.0.0.1:/callback").contains("no port"));
        assert!(config_message("http://localhost/callback").contains("no port"));
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
        assert!(config_message("http://user:pw@127.0.0.1:8888/cb").contains("user name"));
        assert!(config_message("http://127.0.0.1:8888/cb#frag").contains("fragment"));
    }

    #[test]
    fn explicit_port_detection() {
        assert!(has_explicit_port("http://127.0.0.1:80/x"));
        assert!(has_explicit_port("http://u:p@[::1]:80?x"));
        assert!(!has_explicit_port("http://[::1]/x:80"));
        assert!(!has_explicit_port("http://127.0.0.1:/x"));
        assert!(!has_explicit_port("http://127.0.0.1"));
        assert!(!has_explicit_port("127.0.0.1:80"));
    }
}
