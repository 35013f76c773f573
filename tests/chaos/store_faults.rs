//! Faults of the shared store itself, on the seed's schedule: its data lost
//! (Redis `FLUSHALL`, the token key evicted with `DEL`, the token file
//! removed by hand) and its lease lapsing (the Redis lock key deleted while
//! a refresh is in flight; a child process holding the lock paused past the
//! lock's TTL). Each is recorded in the ledger as a [`StoreEvent`]: what it
//! may cost is in `allowance`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use spotify_auth::testing::{FakeSpotify, Fault};

use super::ledger::{self, StoreEvent};
use super::plan::{Settings, Storage};

/// One store fault.
#[derive(Clone, Debug)]
pub enum Kind {
    /// Redis `FLUSHALL`: the token and the lock go.
    Flush,
    /// Redis `DEL` of the token key (an eviction).
    Evict,
    /// The token file removed by hand.
    RemoveFile,
    /// The next refresh request is held this long at the fake (`Delay`);
    /// while it is, the Redis lock key is deleted.
    DeleteLock { delay_ms: u64 },
    /// The next refresh request is held `delay_ms` at the fake; the child
    /// process that sent it is stopped (`SIGSTOP`) for `pause_ms`, longer
    /// than the lock's TTL and shorter than the request's timeout. Nothing
    /// happens when it came from this process.
    Pause { delay_ms: u64, pause_ms: u64 },
}

/// A store fault at `at` after the start.
#[derive(Clone, Debug)]
pub struct StoreFault {
    pub at: Duration,
    pub kind: Kind,
}

impl Kind {
    /// Whether it loses the store's data.
    fn loses_data(&self) -> bool {
        matches!(self, Kind::Flush | Kind::Evict | Kind::RemoveFile)
    }
}

/// The schedule of store faults: data lost about every 2.5 s; for Redis,
/// a lock deleted under a refresh about every 3 s, and a holder paused
/// about every 4 s (when the seed's timeout leaves room for a pause longer
/// than the TTL).
pub fn schedule(
    rng: &mut fastrand::Rng,
    storage: Storage,
    seconds: f64,
    settings: &Settings,
) -> Vec<StoreFault> {
    let mut count = |per_second: f64| (seconds * per_second * (0.5 + rng.f64())).round() as usize;
    let (losses, deletes, pauses) = match storage {
        Storage::File => (count(0.4), 0, 0),
        Storage::Redis => (count(0.4), count(0.33), count(0.25)),
    };
    let ttl = settings.lock_ttl_ms;
    let pause_fits = settings.timeout_ms >= ttl + 450;
    let mut faults = Vec::new();
    let at = |rng: &mut fastrand::Rng| Duration::from_secs_f64(seconds * rng.f64());
    for _ in 0..losses {
        let kind = match storage {
            Storage::File => Kind::RemoveFile,
            Storage::Redis if rng.bool() => Kind::Flush,
            Storage::Redis => Kind::Evict,
        };
        let fault = StoreFault { at: at(rng), kind };
        if data_loss_on() {
            faults.push(fault);
        }
    }
    for _ in 0..deletes {
        let delay_ms = rng.u64(20..=settings.timeout_ms.saturating_sub(300).max(21));
        let fault = StoreFault {
            at: at(rng),
            kind: Kind::DeleteLock { delay_ms },
        };
        if lapses_on() {
            faults.push(fault);
        }
    }
    for _ in 0..pauses {
        let pause_ms = ttl + rng.u64(150..=250);
        let fault = StoreFault {
            at: at(rng),
            kind: Kind::Pause {
                delay_ms: rng.u64(20..=120),
                pause_ms,
            },
        };
        if lapses_on() && pause_fits && pause_ms + 200 <= settings.timeout_ms {
            faults.push(fault);
        }
    }
    faults.sort_by_key(|f| f.at);
    faults
}

/// Whether the store may lose its data: `CHAOS_DATA_LOSS=0` turns that
/// off (the rest of the plan stays the same), to explore the other faults
/// alone.
fn data_loss_on() -> bool {
    std::env::var("CHAOS_DATA_LOSS").map_or(true, |v| v.trim() != "0")
}

/// Whether leases lapse (a lock deleted, a holder paused):
/// `CHAOS_LAPSES=0` turns that off (the rest of the plan stays the same).
/// A `FLUSHALL` deletes the lock too: it is a data loss.
fn lapses_on() -> bool {
    std::env::var("CHAOS_LAPSES").map_or(true, |v| v.trim() != "0")
}

/// Where the driver reaches the store.
pub enum Target {
    File(PathBuf),
    #[cfg(feature = "redis")]
    Redis {
        conn: redis::Connection,
        key: String,
    },
}

/// What the driver needs besides the store.
pub struct Context {
    pub server: Arc<FakeSpotify>,
    pub ledger: ledger::Shared,
    /// `(process, pid)` of every child.
    pub children: Vec<(usize, u32)>,
    /// No data is lost this long after a logout ended (see the module docs
    /// of `tests/chaos/mod.rs`).
    pub quiet_after_logout: Duration,
    /// How many of the fake's requests the driver has looked at.
    pub seen: usize,
}

/// Runs the schedule until stopped.
pub struct Driver {
    stopped: Arc<Mutex<bool>>,
    thread: JoinHandle<()>,
}

impl Driver {
    pub fn spawn(
        mut target: Target,
        mut context: Context,
        faults: &[StoreFault],
        start: Instant,
    ) -> Driver {
        let stopped = Arc::new(Mutex::new(false));
        let faults = faults.to_vec();
        let thread = {
            let stopped = Arc::clone(&stopped);
            std::thread::spawn(move || {
                for fault in faults {
                    if !wait_until(start + fault.at, &stopped) {
                        return;
                    }
                    run(&mut target, &mut context, &fault.kind, &stopped);
                }
            })
        };
        Driver { stopped, thread }
    }

    /// No store fault from now on; one under way (a pause) ends first.
    pub fn stop(self) {
        *self.stopped.lock().unwrap() = true;
        let _ = self.thread.join();
    }
}

/// Sleeps until `at`; false when stopped meanwhile.
fn wait_until(at: Instant, stopped: &Mutex<bool>) -> bool {
    loop {
        if *stopped.lock().unwrap() {
            return false;
        }
        let left = at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}

fn run(target: &mut Target, context: &mut Context, kind: &Kind, stopped: &Mutex<bool>) {
    if kind.loses_data() {
        return lose_data(target, context, kind);
    }
    let (what, start) = match kind {
        Kind::DeleteLock { delay_ms } => {
            if held_refresh(context, *delay_ms, stopped).is_none() {
                return;
            }
            let start = Instant::now();
            if !delete_lock(target) {
                return;
            }
            ("lock deleted under a refresh", start)
        }
        Kind::Pause { delay_ms, pause_ms } => {
            let Some(agent) = held_refresh(context, *delay_ms, stopped) else {
                return;
            };
            let Some(pid) = sender(&agent, &context.children) else {
                return;
            };
            let paused = Paused::stop(pid);
            let start = Instant::now();
            std::thread::sleep(Duration::from_millis(*pause_ms));
            drop(paused);
            ("holder paused past the TTL", start)
        }
        _ => unreachable!("a data loss"),
    };
    ledger::lock(&context.ledger).store_events.push(StoreEvent {
        what,
        start,
        end: Instant::now(),
        loss: false,
        lapse: true,
    });
}

/// Loses the store's data. The loss is in the ledger before it is made
/// (the watcher may see it at once), and taken back when there was
/// nothing to lose.
fn lose_data(target: &mut Target, context: &Context, kind: &Kind) {
    if near_a_logout(context) {
        return;
    }
    let what = match kind {
        Kind::RemoveFile => "file removed",
        Kind::Flush => "FLUSHALL",
        _ => "token key evicted",
    };
    let index = {
        let mut ledger = ledger::lock(&context.ledger);
        let now = Instant::now();
        ledger.store_events.push(StoreEvent {
            what,
            start: now,
            end: now,
            loss: true,
            // A `FLUSHALL` deletes the lock too.
            lapse: matches!(kind, Kind::Flush),
        });
        ledger.store_events.len() - 1
    };
    let lost = match (kind, &mut *target) {
        (Kind::RemoveFile, Target::File(path)) => std::fs::remove_file(&*path).is_ok(),
        #[cfg(feature = "redis")]
        (Kind::Flush, Target::Redis { conn, .. }) => {
            let _: () = redis::cmd("FLUSHALL").query(conn).unwrap();
            true
        }
        #[cfg(feature = "redis")]
        (Kind::Evict, Target::Redis { conn, key }) => {
            let removed: i64 = redis::cmd("DEL").arg(&*key).query(conn).unwrap();
            removed == 1
        }
        _ => panic!("store fault {kind:?} does not apply to this storage"),
    };
    let mut ledger = ledger::lock(&context.ledger);
    if lost {
        ledger.store_events[index].end = Instant::now();
    } else {
        ledger.store_events.remove(index);
    }
}

/// Deletes the Redis lock key; false when it was not held.
fn delete_lock(target: &mut Target) -> bool {
    #[cfg(feature = "redis")]
    if let Target::Redis { conn, key } = target {
        let removed: i64 = redis::cmd("DEL")
            .arg(format!("{key}:lock"))
            .query(conn)
            .unwrap();
        return removed == 1;
    }
    let _ = target;
    panic!("only a Redis lock can be deleted")
}

/// Whether a logout is running or ended less than the quiet time ago.
fn near_a_logout(context: &Context) -> bool {
    let now = Instant::now();
    ledger::lock(&context.ledger).logouts.iter().any(|l| {
        l.end
            .is_none_or(|end| now < end + context.quiet_after_logout)
    })
}

/// Holds the next token request `delay_ms` at the fake and waits (up to
/// 3 s) for a refresh request that a `Delay` holds: its `User-Agent` (the
/// sender's process), once it has arrived.
fn held_refresh(context: &mut Context, delay_ms: u64, stopped: &Mutex<bool>) -> Option<String> {
    let server = Arc::clone(&context.server);
    context.seen += server.requests_since(context.seen).len();
    server.inject(Fault::Delay(Duration::from_millis(delay_ms)), 1);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && !*stopped.lock().unwrap() {
        let new = server.requests_since(context.seen);
        context.seen += new.len();
        let held = new.iter().find(|r| {
            r.form_param("grant_type") == Some("refresh_token")
                && matches!(r.fault, Some(Fault::Delay(_)))
        });
        if let Some(request) = held {
            return Some(request.header("user-agent").unwrap_or_default().to_owned());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// The pid of the child whose actors send `agent` (`chaos-p{n}`).
fn sender(agent: &str, children: &[(usize, u32)]) -> Option<u32> {
    let process: usize = agent.strip_prefix(super::AGENT_PREFIX)?.parse().ok()?;
    children
        .iter()
        .find(|(p, _)| *p == process)
        .map(|(_, pid)| *pid)
}

/// A child stopped with `SIGSTOP`, continued when dropped (whatever
/// happens meanwhile).
struct Paused(u32);

impl Paused {
    fn stop(pid: u32) -> Paused {
        signal("-STOP", pid);
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        signal("-CONT", self.0);
    }
}

fn signal(which: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([which, &pid.to_string()])
        .status();
}
