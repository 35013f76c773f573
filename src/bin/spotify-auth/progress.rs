//! What `login` shows on stderr while it waits: a spinner with a countdown on
//! a terminal, or a plain line every 30 s otherwise (logs, pipes, and while
//! the user may be pasting into the same terminal).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::clock;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// One line redrawn in place ten times a second.
    Spinner,
    /// A new line now and then every [`LINE_INTERVAL`].
    Lines,
}

/// How often the plain style prints a line.
const LINE_INTERVAL: Duration = Duration::from_secs(30);
/// How often the spinner is redrawn.
const SPINNER_INTERVAL: Duration = Duration::from_millis(100);
/// The spinner's frames.
const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

impl Style {
    /// A spinner when stderr is a terminal, unless the user types into the
    /// same terminal (`typing`: a redrawn line would overwrite their input).
    pub fn detect(typing: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        if terminal && !(typing && std::io::stdin().is_terminal()) {
            Style::Spinner
        } else {
            Style::Lines
        }
    }
}

/// A progress display, idle until [`start`](Progress::start), stopped by
/// [`finish`](Progress::finish) or when dropped.
pub struct Progress {
    /// What is waited for, as in "Waiting for {what}".
    what: String,
    /// How long the wait may last (the countdown starts at this).
    timeout: Duration,
    /// Spinner or lines.
    style: Style,
    /// The drawing thread, once started.
    running: Mutex<Option<Running>>,
}

/// The drawing thread and the way to stop it.
struct Running {
    /// Sending (or dropping) stops the thread.
    stop: mpsc::Sender<()>,
    /// The thread, joined on finish.
    thread: JoinHandle<()>,
}

impl Progress {
    /// Progress for waiting up to `timeout` for `what` ("you to log in in the
    /// browser").
    pub fn new(what: impl Into<String>, timeout: Duration, style: Style) -> Self {
        Self {
            what: what.into(),
            timeout,
            style,
            running: Mutex::new(None),
        }
    }

    /// Starts showing progress, counting down from now. Does nothing when
    /// already started.
    pub fn start(&self) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.is_some() {
            return;
        }
        let (stop, stopped) = mpsc::channel();
        let (what, style) = (self.what.clone(), self.style);
        let deadline = Instant::now() + self.timeout;
        let thread = std::thread::Builder::new()
            .name("spotify-auth-progress".into())
            .spawn(move || draw(&what, style, deadline, &stopped));
        if let Ok(thread) = thread {
            *running = Some(Running { stop, thread });
        }
    }

    /// Stops showing progress and, for the spinner, erases its line.
    pub fn finish(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(Running { stop, thread }) = running {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The drawing loop, until `stopped` receives (or its sender is gone).
fn draw(what: &str, style: Style, deadline: Instant, stopped: &mpsc::Receiver<()>) {
    let mut stderr = std::io::stderr();
    let interval = match style {
        Style::Spinner => SPINNER_INTERVAL,
        Style::Lines => LINE_INTERVAL,
    };
    for tick in 0usize.. {
        let left = deadline.saturating_duration_since(Instant::now());
        // Round up so the countdown ends at 0:01, not at 0:00 a second early.
        let left = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        let _ = match style {
            Style::Spinner => write!(
                stderr,
                "\r\x1b[2K{} Waiting for {what}: {} left (Ctrl-C to cancel)",
                FRAMES[tick % FRAMES.len()],
                clock::countdown(left)
            ),
            Style::Lines if tick == 0 => {
                writeln!(stderr, "Waiting for {what} ({} left)...", clock::span(left))
            }
            Style::Lines => writeln!(
                stderr,
                "Still waiting for {what} ({} left)...",
                clock::span(left)
            ),
        };
        let _ = stderr.flush();
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => continue,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    if style == Style::Spinner {
        let _ = write!(stderr, "\r\x1b[2K");
        let _ = stderr.flush();
    }
}
