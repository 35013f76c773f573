//! Options of `authorize_local`, the browser login for local scripts and CLIs.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Scopes;

/// A function that receives the authorization URL (to print it, say).
pub type UrlHandler = Arc<dyn Fn(&str) + Send + Sync>;

/// A source of pasted redirect URLs, called on its own thread until it
/// returns `None`. See [`AuthorizeLocalOptions::pasted_urls`].
pub(crate) type PasteSource = Arc<Mutex<Option<Box<dyn FnMut() -> Option<String> + Send>>>>;

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
    pub(crate) paste: Option<PasteSource>,
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
            paste: None,
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

impl AuthorizeLocalOptions {
    /// Also accepts the redirected URL pasted by the user, for a browser on
    /// another machine (over SSH the loopback callback cannot be reached):
    /// `next` is called on a thread of its own and returns each line read
    /// (e.g. from standard input), or `None` at the end. Each one is replayed
    /// to the local callback server, so it is checked exactly like a real
    /// callback; the callback or the paste, whichever comes first, wins. A
    /// `next` still blocked when the login ends is left to finish on its own.
    pub fn pasted_urls(mut self, next: impl FnMut() -> Option<String> + Send + 'static) -> Self {
        self.paste = Some(Arc::new(Mutex::new(Some(Box::new(next)))));
        self
    }
}

/// Starts the thread that replays pasted URLs to the callback server at
/// `addr` under the redirect URI's `path`.
pub(crate) fn relay_pasted_urls(source: &PasteSource, addr: SocketAddr, path: String) {
    let Some(mut next) = source.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("spotify-auth-paste".into())
        .spawn(move || {
            while let Some(line) = next() {
                if let Some(target) = replay_target(&line, &path) {
                    // The server checks it like any callback; its answer is
                    // not needed here.
                    let _ = get(addr, &target);
                }
            }
        });
    drop(spawned);
}

/// The request target (path and query) a pasted URL or query string replays
/// as, or `None` for a blank line.
fn replay_target(pasted: &str, path: &str) -> Option<String> {
    let pasted = pasted.trim();
    if pasted.is_empty() {
        return None;
    }
    let query = match pasted.split_once('?') {
        Some((_, q)) => q,
        None => pasted,
    };
    let query = query.split('#').next().unwrap_or("");
    // Only characters valid in a request target go on the wire.
    let query: String = query.chars().filter(|c| c.is_ascii_graphic()).collect();
    Some(format!("{path}?{query}"))
}

/// One `GET` on a new connection; the answer is read and dropped.
fn get(addr: SocketAddr, target: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink);
    Ok(())
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
            .field("pasted_urls", &self.paste.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::replay_target;

    #[test]
    fn pasted_text_becomes_a_callback_target() {
        let t = |s| replay_target(s, "/cb");
        assert_eq!(
            t("http://127.0.0.1:1/cb?code=a&state=b").as_deref(),
            Some("/cb?code=a&state=b")
        );
        assert_eq!(
            t("  code=a&state=b \n").as_deref(),
            Some("/cb?code=a&state=b")
        );
        assert_eq!(t("?code=a#frag").as_deref(), Some("/cb?code=a"));
        assert_eq!(t("code=a b\r\nX: y").as_deref(), Some("/cb?code=abX:y"));
        assert_eq!(t("   "), None);
    }
}
