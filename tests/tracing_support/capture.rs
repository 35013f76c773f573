//! A subscriber that writes EVERY span and event, at every level, with all
//! their fields (span fields recorded later too, errors with their whole
//! chain, in `Display` and `Debug`), into one string.
//!
//! It is the process's global subscriber (so it sees spawned tasks, the
//! blocking pool and every other thread); the tests of this binary take turns
//! through [`start`].

use std::error::Error as StdError;
use std::fmt::{self, Write as _};
use std::sync::{Mutex, MutexGuard, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// Everything captured since the last [`start`].
static CAPTURED: Mutex<String> = Mutex::new(String::new());

/// One test at a time reads the capture.
static TURN: Mutex<()> = Mutex::new(());

fn captured() -> MutexGuard<'static, String> {
    CAPTURED.lock().unwrap_or_else(|p| p.into_inner())
}

/// A test's turn at the capture, from empty.
pub struct Turn {
    _turn: MutexGuard<'static, ()>,
}

impl Turn {
    /// What was captured since [`start`].
    pub fn text(&self) -> String {
        captured().clone()
    }
}

/// Installs the subscriber (once), waits for this test's turn, and empties
/// the capture.
pub fn start() -> Turn {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(CaptureLayer);
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    captured().clear();
    Turn { _turn: turn }
}

struct CaptureLayer;

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        let mut line = format!(
            "NEW_SPAN {} {} {}",
            meta.level(),
            meta.target(),
            meta.name()
        );
        attrs.record(&mut Fields(&mut line));
        push(line);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let name = ctx.span(id).map_or("?", |span| span.name());
        let mut line = format!("RECORD {name}");
        values.record(&mut Fields(&mut line));
        push(line);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .map(|span| span.name())
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .unwrap_or_default();
        let mut line = format!("EVENT {} {} [{spans}]", meta.level(), meta.target());
        event.record(&mut Fields(&mut line));
        push(line);
    }
}

fn push(line: String) {
    let mut captured = captured();
    captured.push_str(&line);
    captured.push('\n');
}

/// Writes each field as ` name=value`.
struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}=\"{value}\"", field.name());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn StdError + 'static)) {
        let _ = write!(self.0, " {}=\"{value}\" ({value:?})", field.name());
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(self.0, " <- \"{cause}\" ({cause:?})");
            source = cause.source();
        }
    }
}
