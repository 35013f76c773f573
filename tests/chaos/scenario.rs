//! One seed of one scenario, start to verdict.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use spotify_auth::testing::FakeSpotify;

use super::actor::{Actors, Setup};
use super::auth::{Auth, Clients};
use super::caches::{CacheSpec, Recording, SharedCache};
use super::child::{ChildProcess, ChildSpec};
use super::coordinator::{Command, Coordinator};
use super::ledger::{self, Ledger};
use super::plan::{Plan, ServerFault, Storage};
use super::pump::Pump;
use super::report::{Report, Reporter};
use super::store_faults::{self, Target};
use super::summary::{self, Times};
use super::watcher::{self, Source};
use super::{ID, REDIRECT, SECRET, last_calls};
use crate::common::Mode;

/// The most the harness waits for children to start or end.
const PATIENCE: Duration = Duration::from_secs(30);

/// Runs one seed; panics with the seed, the replay command and every
/// violation when an assertion fails.
pub fn run(storage: Storage, seed: u64, seconds: f64) {
    let began = Instant::now();
    let plan = Plan::new(storage, seed, seconds);
    eprintln!(
        "chaos {}: seed {seed}\n{plan}\n  replay: {}",
        storage.name(),
        plan.replay()
    );
    let _watchdog = Watchdog::start(&plan);
    let server = Arc::new(
        FakeSpotify::builder()
            .client(ID, Some(SECRET))
            .redirect_uri(REDIRECT)
            .expires_in(plan.expires_in)
            .rotate_refresh_tokens(true)
            .start()
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let storage_guard = SharedStorage::start(storage, &dir, &plan);
    let spec = storage_guard.spec.clone();
    let shared = SharedCache::new(spec.clone());
    let ledger: ledger::Shared = Arc::new(Mutex::new(Ledger::default()));
    let (tx, rx) = mpsc::channel::<Report>();
    let reporter = Reporter::Channel(tx.clone());

    // The first login, before anyone starts.
    let modes = Mode::all();
    let coordinator_mode = modes[seed as usize % modes.len()];
    let coordinator_runtime = (coordinator_mode.name() == "async").then(|| {
        Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        )
    });
    let coordinator_cache = Recording::new(shared.handle(), "coordinator", reporter.clone());
    let mut coordinator = Coordinator {
        server: Arc::clone(&server),
        cache: shared.handle(),
        auth: Auth::with_clients(
            coordinator_mode,
            server.url(),
            &plan.settings,
            coordinator_cache,
            coordinator_runtime,
            &Clients::for_process(0),
        ),
        ledger: Arc::clone(&ledger),
        exchange_logins: plan.exchange_logins.clone(),
        doubles: plan.doubles.clone(),
        logouts: plan.logouts.clone(),
        lineages: 0,
        exchanges: 0,
    };
    coordinator.ensure_login();

    let mut children: Vec<ChildProcess> = plan
        .processes
        .iter()
        .enumerate()
        .skip(1)
        .map(|(process, actors)| {
            let spec = ChildSpec {
                process,
                accounts: server.url().to_owned(),
                cache: spec.clone(),
                settings: plan.settings.clone(),
                actors: actors.clone(),
            };
            ChildProcess::spawn(&spec, tx.clone())
        })
        .collect();
    let pump = Pump {
        reports: rx,
        ledger: Arc::clone(&ledger),
        coordinator: None,
    };
    let expected_children = children.len();
    if !pump.until(PATIENCE, |l| l.ready == expected_children) {
        panic!(
            "chaos {}: seed {seed}: the children did not start",
            storage.name()
        );
    }

    // Go.
    let stop_watching = Arc::new(AtomicBool::new(false));
    let watcher = watcher::spawn(
        storage_guard.source(),
        Arc::clone(&server),
        Arc::clone(&ledger),
        Arc::clone(&stop_watching),
    );
    let start = Instant::now();
    super::trace::line(
        "coordinator",
        format_args!("seed {seed}: the chaos starts (0 ms)"),
    );
    let setup = Setup {
        process: 0,
        accounts: server.url(),
        settings: &plan.settings,
        cache: &shared,
        reporter: reporter.clone(),
    };
    let actors = Actors::start(&plan.processes[0], &setup);
    for child in &mut children {
        child.command("go");
    }
    let (commands, command_rx) = mpsc::channel();
    let coordinator = coordinator.spawn(command_rx, start);
    let faults = FaultDriver::spawn(&server, &plan.server_faults, start, &ledger);
    let store_faults = store_faults::Driver::spawn(
        storage_guard.target(),
        store_faults::Context {
            server: Arc::clone(&server),
            ledger: Arc::clone(&ledger),
            children: children.iter().map(|c| (c.process, c.pid())).collect(),
            quiet_after_logout: Duration::from_millis(
                (plan.expires_in + plan.settings.margin_secs) * 1000 + 2000,
            ),
            seen: 0,
        },
        &plan.store_faults,
        start,
    );
    let pump = Pump {
        coordinator: Some(commands.clone()),
        ..pump
    };
    pump.run_for(Duration::from_secs_f64(seconds));

    // Settle: no faults, healed caches, plain calls for a token lifetime
    // and more.
    faults.stop(&server);
    store_faults.stop();
    actors.settle();
    for child in &mut children {
        child.command("settle");
    }
    let _ = commands.send(Command::Settle);
    let settled_at = Instant::now();
    pump.run_for(Duration::from_millis(plan.expires_in * 1000 + 1500));
    let settle_end = Instant::now();

    // The last calls, together.
    let agreement = last_calls::agree(&plan.threads(), &pump, &server, |round| {
        actors.final_round(round);
        for child in &mut children {
            child.command(&format!("final {round}"));
        }
    });

    // Done: everyone stops, then the verdict.
    let finals_done = Instant::now();
    actors.finish(&reporter);
    for child in &mut children {
        child.command("done");
    }
    let _ = commands.send(Command::Stop);
    let _ = coordinator.join();
    for child in children {
        if let Err(e) = child.wait(PATIENCE) {
            ledger::lock(&ledger).unexpected.push(e);
        }
    }
    stop_watching.store(true, Ordering::SeqCst);
    let watched = watcher.join().unwrap();
    drop((tx, reporter, commands, setup));
    pump.drain();
    let stopped = Instant::now();

    let times = Times {
        began,
        start,
        settled: settled_at,
        settle_end,
        finals_done,
        stopped,
    };
    summary::conclude(&plan, &server, &ledger, &watched, agreement, &times);
}

/// Ends the test process when a scenario hangs (a call that never
/// returns, a child that never answers), with the seed: a hang is a failure
/// too, and must not stall a CI run forever. Dropping it disarms it.
struct Watchdog(Option<Sender<()>>);

impl Watchdog {
    fn start(plan: &Plan) -> Watchdog {
        let limit = Duration::from_secs_f64(plan.seconds) + Duration::from_secs(180);
        let (disarm, disarmed) = mpsc::channel::<()>();
        let what = format!(
            "chaos {}: seed {} HUNG: not done {limit:?} after its start; replay: {}",
            plan.storage.name(),
            plan.seed,
            plan.replay()
        );
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = disarmed.recv_timeout(limit) {
                eprintln!("{what}");
                std::process::exit(101);
            }
        });
        Watchdog(Some(disarm))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(disarm) = self.0.take() {
            let _ = disarm.send(());
        }
    }
}

/// Injects the server faults on schedule until stopped.
struct FaultDriver {
    stopped: Arc<Mutex<bool>>,
    thread: JoinHandle<()>,
}

impl FaultDriver {
    fn spawn(
        server: &Arc<FakeSpotify>,
        faults: &[ServerFault],
        start: Instant,
        ledger: &ledger::Shared,
    ) -> FaultDriver {
        let stopped = Arc::new(Mutex::new(false));
        let thread = {
            let (server, faults, ledger, stopped) = (
                Arc::clone(server),
                faults.to_vec(),
                Arc::clone(ledger),
                Arc::clone(&stopped),
            );
            std::thread::spawn(move || {
                for fault in faults {
                    let at = start + fault.at;
                    while Instant::now() < at {
                        if *stopped.lock().unwrap() {
                            return;
                        }
                        let left = at.saturating_duration_since(Instant::now());
                        std::thread::sleep(left.min(Duration::from_millis(20)));
                    }
                    let stopped = stopped.lock().unwrap();
                    if *stopped {
                        return;
                    }
                    server.inject(fault.fault.clone(), fault.times);
                    ledger::lock(&ledger).faults_injected += fault.times;
                }
            })
        };
        FaultDriver { stopped, thread }
    }

    /// No fault from now on, pending ones forgotten.
    fn stop(self, server: &FakeSpotify) {
        {
            let mut stopped = self.stopped.lock().unwrap();
            *stopped = true;
            server.clear_faults();
        }
        let _ = self.thread.join();
    }
}

/// The shared storage of a scenario, and what keeps it alive (a Redis
/// server).
struct SharedStorage {
    spec: CacheSpec,
    #[cfg(feature = "redis")]
    redis: Option<crate::redis_support::RedisServer>,
}

impl SharedStorage {
    fn start(storage: Storage, dir: &tempfile::TempDir, plan: &Plan) -> SharedStorage {
        let _ = plan;
        match storage {
            Storage::File => SharedStorage {
                spec: CacheSpec::File {
                    path: dir.path().join("shared/token.json"),
                },
                #[cfg(feature = "redis")]
                redis: None,
            },
            #[cfg(feature = "redis")]
            Storage::Redis => {
                let redis = crate::redis_support::RedisServer::start();
                SharedStorage {
                    spec: CacheSpec::Redis {
                        url: redis.url(),
                        key: "chaos:token".to_owned(),
                        lock_ttl_ms: plan.settings.lock_ttl_ms,
                    },
                    redis: Some(redis),
                }
            }
            #[cfg(not(feature = "redis"))]
            Storage::Redis => panic!("the Redis scenario needs the redis feature"),
        }
    }

    /// Where the store faults are made.
    fn target(&self) -> Target {
        match &self.spec {
            CacheSpec::File { path } => Target::File(path.clone()),
            #[cfg(feature = "redis")]
            CacheSpec::Redis { key, .. } => Target::Redis {
                conn: self.redis.as_ref().unwrap().raw(),
                key: key.clone(),
            },
            #[cfg(not(feature = "redis"))]
            CacheSpec::Redis { .. } => unreachable!(),
        }
    }

    /// What the watcher reads.
    fn source(&self) -> Source {
        match &self.spec {
            CacheSpec::File { path } => Source::File(path.clone()),
            #[cfg(feature = "redis")]
            CacheSpec::Redis { key, .. } => {
                Source::Redis(self.redis.as_ref().unwrap().raw(), key.clone())
            }
            #[cfg(not(feature = "redis"))]
            CacheSpec::Redis { .. } => unreachable!(),
        }
    }
}
