// What a Web API middleware needs from a flow, written once and compiled
// for each mode like `flow.rs` (`blocking.rs` and `asynchronous.rs` include
// this file): the `Authorization` header to send, and a refresh when the Web
// API refused it.

use std::sync::Arc;

use super::{AuthorizationCode, ClientCredentials, maybe};
use crate::Result;

/// Where a `WebApiMiddleware` of this mode gets its token: implemented by
/// [`AuthorizationCode`] (a user's token) and [`ClientCredentials`] (an app
/// token), and by an `Arc` of either. Implement it for a type of your own to
/// authorize Web API calls some other way.
#[maybe]
pub trait TokenSource: Send + Sync {
    /// The `Authorization` header value for the next request,
    /// `Bearer {access token}`, refreshed first when due.
    async fn authorization_header(&self) -> Result<String>;

    /// The Web API answered 401 to `rejected` (the header value sent):
    /// replace that token, unless it was replaced already, and return the
    /// access token to use now.
    async fn refresh_rejected(&self, rejected: &str) -> Result<String>;
}

#[maybe]
impl TokenSource for AuthorizationCode {
    async fn authorization_header(&self) -> Result<String> {
        self.get_authorization_header().await
    }

    async fn refresh_rejected(&self, rejected: &str) -> Result<String> {
        self.force_refresh_rejected(rejected).await
    }
}

#[maybe]
impl TokenSource for ClientCredentials {
    async fn authorization_header(&self) -> Result<String> {
        self.get_authorization_header().await
    }

    async fn refresh_rejected(&self, rejected: &str) -> Result<String> {
        self.force_refresh_rejected(rejected).await
    }
}

#[maybe]
impl<T: TokenSource + ?Sized> TokenSource for Arc<T> {
    async fn authorization_header(&self) -> Result<String> {
        (**self).authorization_header().await
    }

    async fn refresh_rejected(&self, rejected: &str) -> Result<String> {
        (**self).refresh_rejected(rejected).await
    }
}
