//! Hearing of logouts written by other machines: the fenced write of a
//! logout record also appends the key to a stream (`fence`); one thread per
//! store reads that stream (`XREAD BLOCK`) on a connection of its own and
//! tells the listeners of the key's caches.
//!
//! A stream rather than pub/sub or keyspace notifications: this crate's
//! `rediss://` connections are request/response only (its own TLS stream
//! behind redis's `ConnectionLike`, which has no push messages), a stream
//! needs nothing of the server's configuration (keyspace notifications are
//! off by default, and managed Redis often forbids turning them on), and a
//! reader that reconnects catches up from the last entry it saw, where a
//! pub/sub subscriber loses what was published while it was away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::{ConnectionLike, RedisResult, Value};

use super::connection::Conn;
use super::pool::{Pool, PoolError};
use crate::EndedListener;
use crate::observe;

/// How long one `XREAD` waits for an entry: the watch's worst delay.
const BLOCK: Duration = Duration::from_millis(1000);

/// How many entries one `XREAD` returns at most.
const BATCH: usize = 100;

/// How many entries the stream keeps (about: `MAXLEN ~`): a reader away
/// for fewer logouts than this catches up on every one.
pub(super) const STREAM_LENGTH: usize = 10_000;

/// The name the watching connection gives itself (`CLIENT SETNAME`).
pub(super) const CONNECTION_NAME: &str = "spotify-auth-watch";

/// The first and the longest pause before reconnecting.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The watch of one store: the listeners of its caches, by key, and the
/// thread reading the stream while there is any.
pub(super) struct Watch {
    pool: Arc<Pool>,
    stream: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// By key: each listener with the id of the cache that registered it.
    listeners: HashMap<String, Vec<(u64, EndedListener)>>,
    /// Whether the thread runs.
    running: bool,
    /// The id of the last stream entry seen; `None` before the first read.
    last_id: Option<StreamId>,
}

/// A stream entry's id, `{ms}-{seq}`, ordered as Redis orders them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct StreamId(u64, u64);

impl StreamId {
    const ZERO: StreamId = StreamId(0, 0);

    fn parse(text: &str) -> Option<Self> {
        let (ms, seq) = text.split_once('-')?;
        Some(StreamId(ms.parse().ok()?, seq.parse().ok()?))
    }

    fn to_arg(self) -> String {
        format!("{}-{}", self.0, self.1)
    }
}

impl Watch {
    /// A watch of `stream` on the pool's server; no thread until the first
    /// listener.
    pub(super) fn new(pool: Arc<Pool>, stream: String) -> Arc<Self> {
        Arc::new(Watch {
            pool,
            stream,
            state: Mutex::new(State::default()),
        })
    }

    /// The stream's key.
    pub(super) fn stream(&self) -> &str {
        &self.stream
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every state is valid whatever a panicking holder was doing.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells `listener` of every logout of `key` from now on, until
    /// [`unregister`](Self::unregister) with `id`; starts the thread.
    pub(super) fn register(self: &Arc<Self>, key: &str, id: u64, listener: EndedListener) {
        let mut state = self.state();
        let listeners = state.listeners.entry(key.to_owned()).or_default();
        listeners.push((id, listener));
        if state.running {
            return;
        }
        state.running = true;
        drop(state);
        let watch = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("spotify-auth-redis-watch".to_owned())
            .spawn(move || watch.run());
        if spawned.is_err() {
            // Logouts elsewhere are then seen at the next refresh, as
            // without a watch; the next registration tries again.
            observe::warn!(
                cache,
                "cannot start the thread watching for logouts: they are seen at the next refresh"
            );
            self.state().running = false;
        }
    }

    /// Forgets the listeners the cache `id` registered for `key`.
    pub(super) fn unregister(&self, key: &str, id: u64) {
        let mut state = self.state();
        if let Some(listeners) = state.listeners.get_mut(key) {
            listeners.retain(|(i, _)| *i != id);
            if listeners.is_empty() {
                state.listeners.remove(key);
            }
        }
    }

    /// The thread: reads the stream while there are listeners, reconnecting
    /// with backoff; ends when the last listener is gone.
    fn run(self: Arc<Self>) {
        let mut conn: Option<Conn> = None;
        let mut failures = 0u32;
        loop {
            {
                let mut state = self.state();
                if state.listeners.is_empty() {
                    state.running = false;
                    return;
                }
            }
            let step = match conn.as_mut() {
                Some(c) => self.read(c),
                None => self.connect().map(|c| {
                    conn = Some(c);
                }),
            };
            match step {
                Ok(()) => failures = 0,
                Err(e) => {
                    conn = None;
                    failures = failures.saturating_add(1);
                    let pause = backoff(failures);
                    observe::debug!(
                        cache,
                        error = %self.pool.describe(&PoolError::Redis(e)),
                        retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                        "the watch for logouts lost its connection: logouts are seen at the next refresh until it is back"
                    );
                    std::thread::sleep(pause);
                }
            }
        }
    }

    /// A connection of the watch's own, positioned in the stream: after
    /// the last entry seen, or (at the first start) after the newest one.
    /// The listeners are told to consult their store whenever entries may
    /// have been missed: at the first start (their flows were built before
    /// the first read) and when the stream lost entries not yet read.
    fn connect(&self) -> RedisResult<Conn> {
        let settings = self.pool.settings();
        let mut conn = settings
            .server
            .connect(settings.connect_timeout, settings.io_timeout + BLOCK)?;
        // Only a name for `CLIENT LIST`: a server refusing it is no failure.
        let _: RedisResult<()> = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(CONNECTION_NAME)
            .query(&mut conn);
        let last = self.state().last_id;
        let missed = match last {
            None => {
                let newest = self.newest(&mut conn)?;
                self.state().last_id = Some(newest);
                true
            }
            Some(last) => self.lost_after(&mut conn, last)?,
        };
        if missed {
            self.notify_all();
        }
        Ok(conn)
    }

    /// The id of the stream's newest entry, or zero.
    fn newest(&self, conn: &mut dyn ConnectionLike) -> RedisResult<StreamId> {
        let reply: Value = redis::cmd("XREVRANGE")
            .arg(&self.stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query(conn)?;
        Ok(first_id(&reply).unwrap_or(StreamId::ZERO))
    }

    /// Whether entries after `last` may have been trimmed (or the stream
    /// lost): its oldest entry is newer than `last`, or it is gone though
    /// entries were seen. (While its oldest entry is at most `last`, every
    /// later one is still there: trimming takes the oldest first.)
    fn lost_after(&self, conn: &mut dyn ConnectionLike, last: StreamId) -> RedisResult<bool> {
        let reply: Value = redis::cmd("XRANGE")
            .arg(&self.stream)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query(conn)?;
        Ok(match first_id(&reply) {
            Some(oldest) => oldest > last,
            None => last != StreamId::ZERO,
        })
    }

    /// One `XREAD` after the last entry seen (waiting up to 1 s), and the
    /// listeners of each key read told.
    fn read(&self, conn: &mut dyn ConnectionLike) -> RedisResult<()> {
        let last = self.state().last_id.unwrap_or(StreamId::ZERO);
        let reply: Value = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(u64::try_from(BLOCK.as_millis()).unwrap_or(1000))
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(last.to_arg())
            .query(conn)?;
        let entries = stream_entries(&reply);
        let Some(newest) = entries.iter().map(|(id, _)| *id).max() else {
            return Ok(());
        };
        let told: Vec<EndedListener> = {
            let mut state = self.state();
            state.last_id = Some(newest.max(last));
            entries
                .iter()
                .filter_map(|(_, key)| key.as_ref().and_then(|k| state.listeners.get(k)))
                .flatten()
                .map(|(_, listener)| listener.clone())
                .collect()
        };
        observe::debug!(
            cache,
            entries = entries.len(),
            told = told.len(),
            "logouts written elsewhere: their flows consult the store"
        );
        for listener in told {
            listener.notify();
        }
        Ok(())
    }

    /// Tells every listener (entries may have been missed).
    fn notify_all(&self) {
        let all: Vec<EndedListener> = self
            .state()
            .listeners
            .values()
            .flatten()
            .map(|(_, listener)| listener.clone())
            .collect();
        for listener in all {
            listener.notify();
        }
    }
}

/// The pause before the `failures`-th reconnection: 100 ms doubling to
/// 5 s, less up to half at random (replicas do not reconnect in step).
fn backoff(failures: u32) -> Duration {
    let full = FIRST_BACKOFF
        .saturating_mul(1 << failures.saturating_sub(1).min(6))
        .min(MAX_BACKOFF);
    full.mul_f64(fastrand::f64().mul_add(0.5, 0.5))
}

/// The entries of an `XREAD` reply for one stream: each id with the value
/// of its `key` field. RESP2 (arrays) or RESP3 (a map) alike.
fn stream_entries(reply: &Value) -> Vec<(StreamId, Option<String>)> {
    let streams: Vec<&Value> = match reply {
        Value::Array(streams) => streams
            .iter()
            .filter_map(|s| match s {
                Value::Array(pair) if pair.len() == 2 => Some(&pair[1]),
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs.iter().map(|(_, entries)| entries).collect(),
        _ => Vec::new(),
    };
    streams
        .into_iter()
        .filter_map(|entries| match entries {
            Value::Array(entries) => Some(entries),
            _ => None,
        })
        .flatten()
        .filter_map(entry)
        .collect()
}

/// One entry, `[id, [field, value, ...]]`: its id and its `key` field.
fn entry(value: &Value) -> Option<(StreamId, Option<String>)> {
    let Value::Array(parts) = value else {
        return None;
    };
    let id = StreamId::parse(&text(parts.first()?)?)?;
    let key = match parts.get(1) {
        Some(Value::Array(fields)) => fields
            .chunks(2)
            .find(|pair| pair.len() == 2 && text(&pair[0]).as_deref() == Some("key"))
            .and_then(|pair| text(&pair[1])),
        Some(Value::Map(fields)) => fields
            .iter()
            .find(|(name, _)| text(name).as_deref() == Some("key"))
            .and_then(|(_, value)| text(value)),
        _ => None,
    };
    Some((id, key))
}

/// The id of the first entry of an `XRANGE`/`XREVRANGE` reply.
fn first_id(reply: &Value) -> Option<StreamId> {
    match reply {
        Value::Array(entries) => entries.first().and_then(entry).map(|(id, _)| id),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn ids_order_as_redis_orders_them() {
        let parse = |s| StreamId::parse(s).unwrap();
        assert!(parse("10-0") > parse("9-5"));
        assert!(parse("10-2") > parse("10-1"));
        assert_eq!(parse("7-3").to_arg(), "7-3");
        assert_eq!(StreamId::parse("nonsense"), None);
    }

    #[test]
    fn xread_replies_give_each_entry_and_its_key() {
        let e = |id: &str, key: &str| {
            Value::Array(vec![bulk(id), Value::Array(vec![bulk("key"), bulk(key)])])
        };
        let entries = Value::Array(vec![e("5-0", "a"), e("6-1", "b")]);
        let resp2 = Value::Array(vec![Value::Array(vec![bulk("s"), entries.clone()])]);
        let resp3 = Value::Map(vec![(bulk("s"), entries)]);
        for reply in [resp2, resp3] {
            let got = stream_entries(&reply);
            assert_eq!(
                got,
                vec![
                    (StreamId(5, 0), Some("a".to_owned())),
                    (StreamId(6, 1), Some("b".to_owned()))
                ]
            );
        }
        assert!(stream_entries(&Value::Nil).is_empty(), "a timeout");
    }

    #[test]
    fn backoff_grows_to_its_ceiling() {
        assert!(backoff(1) <= FIRST_BACKOFF && backoff(1) >= FIRST_BACKOFF / 2);
        assert!(backoff(40) <= MAX_BACKOFF && backoff(40) >= MAX_BACKOFF / 2);
    }
}
