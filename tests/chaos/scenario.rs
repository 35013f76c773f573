//! One seed of one scenario, start to verdict.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use spotify_auth::testing::{FakeSpotify, Fault};

use super::actor::{Actors, Setup};
use super::auth::Auth;
use super::caches::{CacheSpec, Recording, SharedCache};
use super::child::{ChildProcess, ChildSpec};
use super::coordinator::{Command, Coordinator};
use super::ledger::{self, Ledger};
use super::plan::{Plan, ServerFault, Storage};
use super::report::{Report, Reporter};
use super::watcher::{self, Source, short};
use super::{ID, REDIRECT, SECRET, verdict};
use crate::common::Mode;

/// The most the harness waits for children to answer.
const PATIENCE: Duration = Duration::from_secs(30);

/// Last rounds made before giving up on an agreement.
const ROUNDS: u32 = 5;

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
    let timeout = plan.settings.timeout();
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
    let coordinator_cache = Recording {
        inner: shared.handle(),
        actor: "coordinator".to_owned(),
        reporter: reporter.clone(),
    };
    let mut coordinator = Coordinator {
        server: Arc::clone(&server),
        cache: shared.handle(),
        auth: Auth::new(
            coordinator_mode,
            server.url(),
            &plan.settings,
            coordinator_cache,
            coordinator_runtime,
        ),
        ledger: Arc::clone(&ledger),
        exchange_logins: plan.exchange_logins.clone(),
        logouts: plan.logouts.clone(),
        lineages: 0,
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
    let setup = Setup {
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
    let pump = Pump {
        coordinator: Some(commands.clone()),
        ..pump
    };
    pump.run_for(Duration::from_secs_f64(seconds));

    // Settle: no faults, healed caches, plain calls for a token lifetime
    // and more.
    faults.stop(&server);
    actors.settle();
    for child in &mut children {
        child.command("settle");
    }
    let _ = commands.send(Command::Settle);
    let settled_at = Instant::now();
    pump.run_for(Duration::from_millis(plan.expires_in * 1000 + 1500));
    let settle_end = Instant::now();

    // The last calls, together.
    let threads = plan.threads();
    let mut agreement = None;
    for round in 1..=ROUNDS {
        actors.final_round(round);
        for child in &mut children {
            child.command(&format!("final {round}"));
        }
        let answered = pump.until(PATIENCE, |l| {
            l.finals.get(&round).map_or(0, Vec::len) == threads.len()
        });
        let mut ledger = ledger::lock(&ledger);
        let results = ledger.finals.get(&round).cloned().unwrap_or_default();
        if !answered {
            let missing: Vec<&String> = threads
                .iter()
                .filter(|t| !results.iter().any(|(r, _)| r == *t))
                .collect();
            ledger.violations.push(format!(
                "assertion 4: round {round}: no last call from {missing:?} in {PATIENCE:?}"
            ));
            break;
        }
        let errors: Vec<String> = results
            .iter()
            .filter_map(|(thread, r)| r.as_ref().err().map(|e| format!("{thread}: {e}")))
            .collect();
        if !errors.is_empty() {
            ledger.violations.push(format!(
                "assertion 4: round {round}: last calls failed: {errors:?}"
            ));
            break;
        }
        let first = results[0].1.clone().unwrap();
        if results.iter().all(|(_, r)| *r.as_ref().unwrap() == first) {
            if !server.access_token_is_live(&first) {
                ledger.violations.push(format!(
                    "assertion 4: round {round}: everyone has {}, which the fake does not \
                     take",
                    short(&first)
                ));
            }
            agreement = Some(round);
            break;
        }
        if round == ROUNDS {
            let tokens: Vec<String> = results
                .iter()
                .map(|(thread, r)| format!("{thread}: {}", short(r.as_ref().unwrap())))
                .collect();
            ledger.violations.push(format!(
                "assertion 4: the sharers of the cache never agreed on a token in {ROUNDS} \
                 rounds; the last: {tokens:?}"
            ));
        }
        drop(ledger);
        std::thread::sleep(Duration::from_millis(100 + 100 * u64::from(round)));
    }

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
    let records = verdict::Records::gather(&server, timeout);
    let ledger = ledger::lock(&ledger);
    let mut violations = ledger.violations.clone();
    let mut known = Vec::new();
    let strict = std::env::var_os("CHAOS_STRICT").is_some();
    for v in verdict::check(&records, &ledger, timeout) {
        match v.known {
            Some(issue) if !strict => {
                known.push(format!("{} [known library issue: {issue}]", v.text))
            }
            Some(issue) => violations.push(format!("{} [known library issue: {issue}]", v.text)),
            None => violations.push(v.text),
        }
    }
    violations.extend(ledger.unexpected.iter().map(|u| format!("unexpected: {u}")));
    let mut summary = summary(
        &records,
        &ledger,
        &watched,
        &server,
        agreement,
        settled_at - start,
        Duration::from_millis(plan.settings.lock_ttl_ms),
    );
    let _ = write!(
        summary,
        "\n  time: start {:.1} s, chaos {:.1} s, settle {:.1} s, last calls {:.1} s, stop {:.1} s",
        (start - began).as_secs_f64(),
        (settled_at - start).as_secs_f64(),
        (settle_end - settled_at).as_secs_f64(),
        (finals_done - settle_end).as_secs_f64(),
        (stopped - finals_done).as_secs_f64(),
    );
    if !known.is_empty() {
        let _ = write!(
            summary,
            "\n  KNOWN LIBRARY ISSUE: {} violation(s) of assertions 1-2 are instances of a \
             known library issue (CHAOS_STRICT=1 fails on them):",
            known.len()
        );
        for k in &known {
            let _ = write!(summary, "\n  - {k}");
        }
    }
    let verbose = std::env::var_os("CHAOS_VERBOSE").is_some();
    if verbose {
        eprintln!(
            "history (ms from the start):\n{}",
            verdict::history(&records, &ledger, start, &violations, true)
        );
    }
    if violations.is_empty() {
        eprintln!("chaos {}: seed {seed} passed\n{summary}", storage.name());
        return;
    }
    let mut message = format!(
        "chaos {}: seed {seed} FAILED: {} violation(s)\n  replay: {}\n{plan}\n",
        storage.name(),
        violations.len(),
        plan.replay()
    );
    for v in &violations {
        let _ = writeln!(message, "- {v}");
    }
    let _ = write!(
        message,
        "history (ms from the start):\n{}{summary}\n  seed {seed}, replay: {}",
        verdict::history(&records, &ledger, start, &violations, false),
        plan.replay()
    );
    panic!("{message}");
}

/// The counts of a run.
fn summary(
    records: &verdict::Records,
    ledger: &Ledger,
    watched: &watcher::Watched,
    server: &FakeSpotify,
    agreement: Option<u32>,
    chaos: Duration,
    lock_ttl: Duration,
) -> String {
    let uses: usize = records.uses.values().map(Vec::len).sum();
    let unheard: usize = records
        .uses
        .values()
        .flatten()
        .filter(|u| u.unheard)
        .count();
    let failed_logins = ledger.logins.iter().filter(|l| l.error.is_some()).count();
    let slow = records
        .uses
        .values()
        .flatten()
        .filter(|u| match u.fault {
            Some(Fault::Delay(d) | Fault::DelayResponse(d)) => d > lock_ttl,
            _ => false,
        })
        .count();
    let failed_writes: usize = ledger
        .writes
        .values()
        .flatten()
        .filter(|(_, error)| error.is_some())
        .count();
    let s = &ledger.stats;
    format!(
        "  {:.1} s of chaos: {} token requests, {} refresh tokens issued, {} processed refreshes \
         ({} unheard), {} refreshes answered by a fault, {} faults injected; {} logins ({} failed), \
         {} logouts, {} relogin requests, {} failed cache writes, {} refreshes slower than the \
         lock TTL\n  \
         calls {} (ok {}, forced {}, cancelled {}, ReauthorizationRequired {}, NotAuthorized {}, \
         transient {}, cache errors {}, with an unsaved token {})\n  \
         watcher: {} reads, {} changes, {} without a token; last calls agreed in round {:?}",
        chaos.as_secs_f64(),
        server.token_request_count(),
        records.tokens.len(),
        uses,
        unheard,
        records.unprocessed,
        ledger.faults_injected,
        ledger.logins.len(),
        failed_logins,
        ledger.logouts.len(),
        ledger.relogin_requests,
        failed_writes,
        slow,
        s.calls,
        s.ok,
        s.forced,
        s.cancelled,
        s.reauthorization_required,
        s.not_authorized,
        s.transient,
        s.cache_errors,
        s.unsaved_seen,
        watched.reads,
        watched.changes,
        watched.missing,
        agreement
    )
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

/// Takes the reports in, records them, and passes login requests to the
/// coordinator.
struct Pump {
    reports: Receiver<Report>,
    ledger: ledger::Shared,
    coordinator: Option<Sender<Command>>,
}

impl Pump {
    fn take(&self, report: Report) {
        if let (Report::Relogin { .. }, Some(coordinator)) = (&report, &self.coordinator) {
            let _ = coordinator.send(Command::Relogin);
        }
        ledger::lock(&self.ledger).record(report);
    }

    fn run_for(&self, duration: Duration) {
        let _ = self.until(duration, |_| false);
    }

    /// Takes reports until `done` holds (true) or `limit` passed (false).
    fn until(&self, limit: Duration, done: impl Fn(&Ledger) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if done(&ledger::lock(&self.ledger)) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self
                .reports
                .recv_timeout(left.min(Duration::from_millis(50)))
            {
                Ok(report) => self.take(report),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return done(&ledger::lock(&self.ledger));
                }
            }
        }
    }

    /// Takes what is left, once every reporter has stopped.
    fn drain(&self) {
        while let Ok(report) = self.reports.try_recv() {
            self.take(report);
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
