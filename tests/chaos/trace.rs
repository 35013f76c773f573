//! `CHAOS_TRACE=dir`: every cache operation of every actor, and every call
//! that failed, one line each, in `dir/{process}.log` (Unix ms, actor,
//! what). For triage: a violation's history says which tokens were sent
//! and written; this says what each instance read before it acted.

use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use spotify_auth::Entry;

use super::clock::unix_ms;
use super::watcher::short;

fn sink() -> Option<&'static Mutex<File>> {
    static SINK: OnceLock<Option<Mutex<File>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let dir = std::env::var_os("CHAOS_TRACE")?;
        let name = format!("{}.log", std::process::id());
        File::create(std::path::Path::new(&dir).join(name))
            .ok()
            .map(Mutex::new)
    })
    .as_ref()
}

/// Whether tracing is on.
pub fn on() -> bool {
    sink().is_some()
}

/// Writes one line: now, `actor`, `what`.
pub fn line(actor: &str, what: std::fmt::Arguments<'_>) {
    if let Some(sink) = sink() {
        let mut file = sink.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(file, "{} {actor} {what}", unix_ms());
    }
}

/// An entry, in a few words (never a whole token).
pub fn entry(entry: Option<&Entry>) -> String {
    let refresh = |t: &spotify_auth::TokenInfo| {
        t.refresh_token
            .as_ref()
            .map_or("-".to_owned(), |r| short(r.secret()))
    };
    match entry {
        None => "nothing".to_owned(),
        Some(Entry::Token(t)) => format!("token {}", refresh(t)),
        Some(Entry::Ended(r)) => format!("ended {:?} at {}", r.reason(), r.at_ms()),
        Some(Entry::Recovering(r)) => format!(
            "recovering since {} copy {}",
            r.since_ms(),
            r.token().map_or("-".to_owned(), refresh)
        ),
        Some(_) => "other".to_owned(),
    }
}

/// With tracing on, the library's own `tracing` events go to the same
/// file, each under the actor whose call ([`call_span`]) led to it (a
/// detached refresh carries its caller's span), else under its thread's
/// name. Installed once per process; a no-op without `CHAOS_TRACE` (and
/// the library emits nothing without its `tracing` feature).
pub fn install() {
    if !on() {
        return;
    }
    use tracing_subscriber::layer::SubscriberExt;
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Events));
}

/// The span a call of `actor` runs in.
pub fn call_span(actor: &str) -> tracing::Span {
    if on() {
        tracing::info_span!("chaos_call", actor = actor)
    } else {
        tracing::Span::none()
    }
}

struct Events;

/// The actor a `chaos_call` span names.
struct Actor(String);

/// An event's or a span's fields as `name=value` words.
#[derive(Default)]
struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?} ");
        } else {
            let _ = write!(self.0, "{}={value:?} ", field.name());
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for Events
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() != "chaos_call" {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let actor = fields
            .0
            .trim()
            .trim_start_matches("actor=")
            .trim_matches('"');
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Actor(actor.to_owned()));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if !event.metadata().target().starts_with("spotify_auth") {
            return;
        }
        let actor = ctx
            .event_scope(event)
            .and_then(|scope| {
                scope
                    .from_root()
                    .find_map(|span| span.extensions().get::<Actor>().map(|a| a.0.clone()))
            })
            .unwrap_or_else(|| {
                format!(
                    "[{}]",
                    std::thread::current().name().unwrap_or("unnamed thread")
                )
            });
        let mut fields = Fields::default();
        event.record(&mut fields);
        line(
            &actor,
            format_args!("lib {}: {}", event.metadata().level(), fields.0.trim_end()),
        );
    }
}
