//! The parts of transport error classification that do not depend on the
//! HTTP client: finding a TLS failure in an error's chain, and the kind of
//! an I/O error.
//!
//! Both clients verify certificates with rustls, and both report a refused
//! certificate as a `rustls::Error`, but at different depths: ureq as an
//! `io::Error` whose inner error it is (what rustls's own streams return),
//! reqwest as a cause, several links down, of a connect error. Looking for
//! it the same way in both makes it [`HttpErrorKind::Tls`] in both.

use std::error::Error as StdError;

use crate::HttpErrorKind;

/// Whether TLS itself failed somewhere in `error`'s chain: a `rustls::Error`
/// (a certificate refused, no protocol both sides speak, an alert from the
/// server), as a link of the chain or as the inner error of an
/// `io::Error` (whose `source()` skips its inner error, so it is opened
/// here).
pub(crate) fn is_tls_failure(error: &(dyn StdError + 'static)) -> bool {
    let mut link = Some(error);
    while let Some(e) = link {
        if e.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && is_tls_failure(inner)
        {
            return true;
        }
        link = e.source();
    }
    false
}

/// The kind of a bare I/O error from the client: a refused or unreachable
/// connection is [`HttpErrorKind::Connect`], a timed-out read or write
/// [`HttpErrorKind::Timeout`], a TLS failure carried inside it
/// [`HttpErrorKind::Tls`], anything else (a reset, an unexpected end)
/// [`HttpErrorKind::Other`].
#[cfg_attr(not(feature = "blocking"), allow(dead_code))] // reqwest classifies its own
pub(crate) fn io_kind(io: &std::io::Error) -> HttpErrorKind {
    use std::io::ErrorKind;
    if is_tls_failure(io) {
        return HttpErrorKind::Tls;
    }
    match io.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => HttpErrorKind::Timeout,
        ErrorKind::ConnectionRefused
        | ErrorKind::AddrNotAvailable
        | ErrorKind::HostUnreachable
        | ErrorKind::NetworkUnreachable => HttpErrorKind::Connect,
        _ => HttpErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(Box<dyn StdError + Send + Sync>);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapper")
        }
    }
    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.0)
        }
    }

    fn certificate_refused() -> rustls::Error {
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
    }

    #[test]
    fn a_rustls_error_is_found_at_any_depth_and_inside_io_errors() {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, certificate_refused());
        assert!(is_tls_failure(&io));
        assert_eq!(io_kind(&io), HttpErrorKind::Tls);
        let deep = Wrapper(Box::new(Wrapper(Box::new(std::io::Error::other(Wrapper(
            Box::new(certificate_refused()),
        ))))));
        assert!(is_tls_failure(&deep));
        let plain = Wrapper(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(!is_tls_failure(&plain));
    }

    #[test]
    fn io_kinds() {
        use std::io::{Error, ErrorKind};
        for (kind, expected) in [
            (ErrorKind::ConnectionRefused, HttpErrorKind::Connect),
            (ErrorKind::AddrNotAvailable, HttpErrorKind::Connect),
            (ErrorKind::TimedOut, HttpErrorKind::Timeout),
            (ErrorKind::WouldBlock, HttpErrorKind::Timeout),
            (ErrorKind::ConnectionReset, HttpErrorKind::Other),
            (ErrorKind::UnexpectedEof, HttpErrorKind::Other),
        ] {
            assert_eq!(io_kind(&Error::from(kind)), expected, "{kind:?}");
        }
    }
}
