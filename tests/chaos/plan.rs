//! What a seed decides: the settings, the processes and their actors, and
//! the schedule of faults.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use spotify_auth::testing::Fault;

use super::store_faults::{self, StoreFault};
use crate::common::Mode;

/// Where the actors share their token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Storage {
    File,
    Redis,
}

impl Storage {
    pub fn name(self) -> &'static str {
        match self {
            Storage::File => "file",
            Storage::Redis => "redis",
        }
    }

    /// The name of the test that runs it, for replay commands.
    pub fn test_name(self) -> &'static str {
        match self {
            Storage::File => "chaos_with_a_shared_file_cache",
            Storage::Redis => "chaos_with_a_shared_redis_key",
        }
    }
}

/// The library settings every actor uses.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    pub timeout_ms: u64,
    pub margin_secs: u64,
    pub max_retries: u32,
    /// The most a retry waits (the backoff hook's answer), in ms.
    pub backoff_ms: u64,
    /// The Redis lock TTL, in ms.
    pub lock_ttl_ms: u64,
}

impl Settings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// A cache operation a faulty actor's cache fails, from `at_ms` after the
/// start, `times` times.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CacheFault {
    pub at_ms: u64,
    /// `set`, `get` or `lock`.
    pub op: String,
    pub times: usize,
}

/// A window, from `at_ms` after the start, `len_ms` long, in which a faulty
/// actor's cache is down: every read and lock fails.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Window {
    pub at_ms: u64,
    pub len_ms: u64,
}

/// One `AuthorizationCode` and the threads that use it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActorPlan {
    /// `p{process}a{index}`.
    pub id: String,
    /// `blocking` or `async`.
    pub mode: String,
    pub threads: usize,
    /// Its cache is wrapped in a `FaultyCache`.
    pub faulty: bool,
    pub cache_faults: Vec<CacheFault>,
    /// Faulty: the windows in which its cache is down.
    pub down: Vec<Window>,
    /// Async, not faulty: sometimes cancels a forced refresh, closes the
    /// instance, drops its runtime (its own) and builds a new instance.
    pub rebuilds: bool,
    /// Async: the share of calls cancelled by a timeout, in percent.
    pub cancel_percent: u32,
    /// The share of calls that are `force_refresh`, in percent.
    pub force_percent: u32,
    /// The pause between two calls, at most, in ms.
    pub pause_ms: u64,
    /// Seeds the actor's own choices.
    pub seed: u64,
}

/// A server fault injected at `at` after the start.
#[derive(Clone, Debug)]
pub struct ServerFault {
    pub at: Duration,
    pub fault: Fault,
    pub times: usize,
}

/// Everything a seed decides.
#[derive(Clone, Debug)]
pub struct Plan {
    pub seed: u64,
    pub storage: Storage,
    pub seconds: f64,
    pub expires_in: u64,
    pub settings: Settings,
    /// `processes[0]` is this process; the others are children.
    pub processes: Vec<Vec<ActorPlan>>,
    pub server_faults: Vec<ServerFault>,
    /// When the coordinator logs out, after the start.
    pub logouts: Vec<Duration>,
    /// Whether relogins go through a real code exchange (else a minted
    /// token), in the order they happen; cycled.
    pub exchange_logins: Vec<bool>,
    /// How each exchange login exchanges its code (once, twice at once,
    /// again moments later, or both); cycled.
    pub doubles: Vec<Double>,
    /// The faults of the shared store itself.
    pub store_faults: Vec<StoreFault>,
}

/// How the coordinator exchanges a login's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Double {
    Once,
    /// Twice at once (two threads or tasks on one instance).
    Concurrent,
    /// Once, then again moments later.
    Later,
    /// Twice at once, then again moments later.
    Both,
}

impl Plan {
    pub fn new(storage: Storage, seed: u64, seconds: f64) -> Plan {
        let mut rng = fastrand::Rng::with_seed(seed);
        let modes = Mode::all();
        let expires_in = rng.u64(1..=2);
        let settings = Settings {
            timeout_ms: rng.u64(1000..=1400),
            margin_secs: rng.u64(0..=1),
            max_retries: rng.u32(1..=4),
            backoff_ms: rng.u64(0..=2),
            // Below the slowest refreshes (a delayed answer, a timeout):
            // the lock's renewal must cover them. Not much lower: a renewal
            // thread (or redis-server) starved of CPU for a whole TTL on a
            // loaded machine lets the lock lapse (seen once at 265 ms).
            lock_ttl_ms: rng.u64(600..=900),
        };
        let children = rng.usize(2..=3);
        let processes = (0..=children)
            .map(|p| {
                let actors = rng.usize(2..=3);
                (0..actors)
                    .map(|a| actor(&mut rng, &modes, p, a, seconds))
                    .collect()
            })
            .collect();
        let server_faults = server_faults(&mut rng, seconds, settings.timeout());
        let logouts = (0..rng.usize(0..=1))
            .map(|_| Duration::from_secs_f64(seconds * (0.3 + 0.5 * rng.f64())))
            .collect();
        let exchange_logins = (0..8).map(|_| rng.bool()).collect();
        let doubles = (0..8)
            .map(|_| match rng.u32(0..4) {
                0 => Double::Once,
                1 => Double::Concurrent,
                2 => Double::Later,
                _ => Double::Both,
            })
            .collect();
        let store_faults = store_faults::schedule(&mut rng, storage, seconds, &settings);
        Plan {
            seed,
            storage,
            seconds,
            expires_in,
            settings,
            processes,
            server_faults,
            logouts,
            exchange_logins,
            doubles,
            store_faults,
        }
    }

    /// Every thread of every actor, as `{actor}t{thread}`.
    pub fn threads(&self) -> Vec<String> {
        self.processes
            .iter()
            .flatten()
            .flat_map(|a| (0..a.threads).map(move |t| format!("{}t{t}", a.id)))
            .collect()
    }

    /// The command that replays this seed.
    pub fn replay(&self) -> String {
        format!(
            "CHAOS_SEED={} CHAOS_SECONDS={} cargo test {} --test chaos -- --exact {} --nocapture",
            self.seed,
            self.seconds,
            features(),
            self.storage.test_name()
        )
    }
}

/// The feature flags of this build, as cargo takes them.
fn features() -> String {
    let mut on = Vec::new();
    if cfg!(feature = "blocking") {
        on.push("blocking");
    }
    if cfg!(feature = "async") {
        on.push("async");
    }
    if cfg!(feature = "redis") {
        on.push("redis");
    }
    format!("--no-default-features --features {}", on.join(","))
}

fn actor(
    rng: &mut fastrand::Rng,
    modes: &[Mode],
    process: usize,
    index: usize,
    seconds: f64,
) -> ActorPlan {
    let mode = modes[rng.usize(..modes.len())];
    let faulty = rng.u32(0..100) < 35 && cache_faults_on();
    let cache_faults = if faulty {
        let count = 1 + (seconds * rng.f64() * 1.5) as usize;
        (0..count)
            .map(|_| {
                let roll = rng.u32(0..100);
                let op = if roll < 70 {
                    "set"
                } else if roll < 85 {
                    "get"
                } else {
                    "lock"
                };
                CacheFault {
                    at_ms: (seconds * 1000.0 * rng.f64()) as u64,
                    op: op.to_owned(),
                    times: rng.usize(1..=3),
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let is_async = mode.name() == "async";
    let down = if faulty {
        (0..1 + (seconds * rng.f64() * 0.4) as usize)
            .map(|_| {
                let len_ms = rng.u64(300..=1500);
                let latest = ((seconds * 1000.0) as u64).saturating_sub(len_ms);
                Window {
                    at_ms: rng.u64(0..=latest),
                    len_ms,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let rebuilds = is_async && !faulty && rng.u32(0..100) < 50;
    ActorPlan {
        id: format!("p{process}a{index}"),
        mode: mode.name().to_owned(),
        threads: rng.usize(1..=2),
        faulty,
        cache_faults,
        down,
        rebuilds,
        cancel_percent: if is_async { rng.u32(5..=25) } else { 0 },
        force_percent: rng.u32(1..=6),
        pause_ms: rng.u64(2..=15),
        seed: rng.u64(..),
    }
}

/// Whether actors may get a faulty cache: `CHAOS_CACHE_FAULTS=0` turns that
/// off, to explore the other faults alone.
fn cache_faults_on() -> bool {
    std::env::var("CHAOS_CACHE_FAULTS").map_or(true, |v| v.trim() != "0")
}

/// A random schedule of server faults over the run: about four a second.
fn server_faults(rng: &mut fastrand::Rng, seconds: f64, timeout: Duration) -> Vec<ServerFault> {
    let count = (seconds * 4.0 * (0.5 + rng.f64())) as usize;
    let mut faults: Vec<ServerFault> = (0..count)
        .map(|_| {
            let at = Duration::from_secs_f64(seconds * rng.f64());
            let roll = rng.u32(0..100);
            let short = Duration::from_millis(rng.u64(20..=800));
            let (fault, times) = match roll {
                0..=19 => (
                    Fault::Status([500, 502, 503][rng.usize(..3)]),
                    rng.usize(1..=3),
                ),
                20..=29 => (Fault::rate_limited(rng.u64(0..=1)), rng.usize(1..=2)),
                30..=41 => (Fault::DropConnection, rng.usize(1..=2)),
                42..=47 => (Fault::TruncatedBody, 1),
                48..=61 => (Fault::LoseResponse, 1),
                62..=73 => (Fault::DelayResponse(short), 1),
                74..=79 => (
                    Fault::DelayResponse(timeout + Duration::from_millis(rng.u64(200..=600))),
                    1,
                ),
                _ => (Fault::Delay(short), 1),
            };
            ServerFault { at, fault, times }
        })
        .collect();
    faults.sort_by_key(|f| f.at);
    faults
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        writeln!(
            f,
            "  storage {}, {} s, expires_in {} s, margin {} s, timeout {} ms, max_retries {}, \
             backoff <= {} ms, lock TTL {} ms",
            self.storage.name(),
            self.seconds,
            self.expires_in,
            s.margin_secs,
            s.timeout_ms,
            s.max_retries,
            s.backoff_ms,
            s.lock_ttl_ms
        )?;
        for (p, actors) in self.processes.iter().enumerate() {
            let who = if p == 0 { "this process" } else { "child" };
            writeln!(f, "  process {p} ({who}):")?;
            for a in actors {
                write!(
                    f,
                    "    {} {} x{} threads, force {}%, cancel {}%, pause <= {} ms",
                    a.id, a.mode, a.threads, a.force_percent, a.cancel_percent, a.pause_ms
                )?;
                if a.faulty {
                    let faults: Vec<String> = a
                        .cache_faults
                        .iter()
                        .map(|c| format!("{}x{}@{}ms", c.op, c.times, c.at_ms))
                        .chain(
                            a.down
                                .iter()
                                .map(|w| format!("down {}ms@{}ms", w.len_ms, w.at_ms)),
                        )
                        .collect();
                    write!(f, ", faulty cache: {}", faults.join(" "))?;
                }
                if a.rebuilds {
                    write!(f, ", closes and rebuilds")?;
                }
                writeln!(f)?;
            }
        }
        let faults: Vec<String> = self
            .server_faults
            .iter()
            .map(|s| format!("{:?}x{}@{}ms", s.fault, s.times, s.at.as_millis()))
            .collect();
        writeln!(f, "  server faults: {}", faults.join(" "))?;
        let store: Vec<String> = self
            .store_faults
            .iter()
            .map(|s| format!("{:?}@{}ms", s.kind, s.at.as_millis()))
            .collect();
        writeln!(f, "  store faults: {}", store.join(" "))?;
        writeln!(f, "  exchanges: {:?}", self.doubles)?;
        let logouts: Vec<String> = self
            .logouts
            .iter()
            .map(|l| format!("{}ms", l.as_millis()))
            .collect();
        write!(f, "  logouts: [{}]", logouts.join(" "))
    }
}
