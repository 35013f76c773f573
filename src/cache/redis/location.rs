//! How a Redis server is named in `Debug` output and error messages: its URL
//! rebuilt from the parsed connection info, with the user name but never the
//! password.

use redis::{ConnectionAddr, ConnectionInfo};

/// The server's URL without its password: `redis://[user@]host:port/db`,
/// `rediss://...` for TLS (`#insecure` when certificate checks are off), or
/// `redis+unix:///path?db=N`.
///
/// Rebuilt from the parsed [`ConnectionInfo`] rather than edited from the
/// caller's string, so that a password cannot survive in any spelling
/// (`user:pw@`, `:pw@`, percent-encoded, `?pass=`), and a caller-supplied
/// [`redis::Client`] is named the same way as a URL.
pub(super) fn redacted_url(info: &ConnectionInfo) -> String {
    let user = match &info.redis.username {
        Some(name) if !name.is_empty() => format!("{name}@"),
        _ => String::new(),
    };
    let db = info.redis.db;
    match &info.addr {
        ConnectionAddr::Tcp(host, port) => {
            format!("redis://{user}{}:{port}/{db}", bracketed(host))
        }
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure,
            ..
        } => {
            let fragment = if *insecure { "#insecure" } else { "" };
            format!("rediss://{user}{}:{port}/{db}{fragment}", bracketed(host))
        }
        ConnectionAddr::Unix(path) => {
            format!("redis+unix://{}?db={db}", path.display())
        }
    }
}

/// An IPv6 literal in brackets, as in a URL; any other host as it is.
fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// `text` with every occurrence of `secret` replaced by `[redacted]`: a last
/// line of defence for messages that come from the Redis client or server.
pub(super) fn scrub(text: String, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if !secret.is_empty() && text.contains(secret) => {
            text.replace(secret, "[redacted]")
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::IntoConnectionInfo;

    fn shown(url: &str) -> String {
        redacted_url(&url.into_connection_info().unwrap())
    }

    #[test]
    fn the_password_is_removed_and_the_rest_kept() {
        assert_eq!(
            shown("redis://alice:s3cret@cache.internal:6380/2"),
            "redis://alice@cache.internal:6380/2"
        );
        assert_eq!(
            shown("redis://:s3cret@127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(
            shown("redis://:p%40ss%3Aw0rd@127.0.0.1/"),
            "redis://127.0.0.1:6379/0"
        );
    }

    #[test]
    fn defaults_are_spelled_out() {
        assert_eq!(shown("redis://localhost"), "redis://localhost:6379/0");
        assert_eq!(shown("redis://[::1]:7000/3"), "redis://[::1]:7000/3");
    }

    #[test]
    fn tls_urls_keep_their_scheme_and_insecure_flag() {
        assert_eq!(
            shown("rediss://default:s3cret@redis.example.com:6380/1"),
            "rediss://default@redis.example.com:6380/1"
        );
        assert_eq!(
            shown("rediss://:s3cret@10.0.0.5/#insecure"),
            "rediss://10.0.0.5:6379/0#insecure"
        );
    }

    #[cfg(unix)]
    #[test]
    fn unix_socket_urls_drop_their_pass_parameter() {
        let url = shown("redis+unix:///run/redis.sock?db=3&pass=s3cret");
        assert_eq!(url, "redis+unix:///run/redis.sock?db=3");
    }

    #[test]
    fn scrub_replaces_the_secret_everywhere() {
        let text = "auth s3cret failed (s3cret)".to_owned();
        assert_eq!(
            scrub(text, Some("s3cret")),
            "auth [redacted] failed ([redacted])"
        );
        assert_eq!(scrub("as is".to_owned(), Some("")), "as is");
        assert_eq!(scrub("as is".to_owned(), None), "as is");
    }
}
