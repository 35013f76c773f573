//! Options of `authorize_local`, the browser login for local scripts and CLIs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::Scopes;

/// A function that receives the authorization URL (to print it, say).
pub type UrlHandler = Arc<dyn Fn(&str) + Send + Sync>;

/// How `authorize_local` runs.
///
/// ```
/// use std::time::Duration;
/// use spotify_auth::AuthorizeLocalOptions;
///
/// let options = AuthorizeLocalOptions::new()
///     .timeout(Duration::from_secs(120))
///     .on_url(|url| println!("Open this URL to log in: {url}"));
/// # let _ = options;
/// ```
#[derive(Clone)]
#[must_use]
pub struct AuthorizeLocalOptions {
    pub(crate) state: Option<String>,
    pub(crate) scope: Option<Scopes>,
    pub(crate) show_dialog: bool,
    pub(crate) timeout: Duration,
    pub(crate) open_browser: bool,
    pub(crate) url_handler: Option<UrlHandler>,
}

impl Default for AuthorizeLocalOptions {
    fn default() -> Self {
        Self {
            state: None,
            scope: None,
            show_dialog: false,
            timeout: Duration::from_secs(300),
            open_browser: true,
            url_handler: None,
        }
    }
}

impl AuthorizeLocalOptions {
    /// The defaults: open the browser, wait up to 300 s, a random state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `state` to send (default: 256 random bits from the OS CSPRNG).
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// Scopes for this login instead of the configured ones.
    pub fn scope(mut self, scope: impl Into<Scopes>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Force the consent dialog even for a user who approved before.
    pub fn show_dialog(mut self, show: bool) -> Self {
        self.show_dialog = show;
        self
    }

    /// How long to wait for the callback (default 300 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether to open the URL in the browser (default true; `$BROWSER` is
    /// honoured).
    pub fn open_browser(mut self, open: bool) -> Self {
        self.open_browser = open;
        self
    }

    /// Hands the authorization URL to `handler` (e.g. to print it) before
    /// waiting. With the browser off, a handler is required.
    pub fn on_url(mut self, handler: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.url_handler = Some(Arc::new(handler));
        self
    }
}

impl fmt::Debug for AuthorizeLocalOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeLocalOptions")
            .field("state", &self.state.as_ref().map(|_| "[set]"))
            .field("scope", &self.scope)
            .field("show_dialog", &self.show_dialog)
            .field("timeout", &self.timeout)
            .field("open_browser", &self.open_browser)
            .field("url_handler", &self.url_handler.is_some())
            .finish()
    }
}
