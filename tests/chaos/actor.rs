//! The actors of one process (this one or a child): their instances, their
//! threads' loop, the faults of their caches, and the phases they go
//! through (chaos, settle, the last rounds, done).

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use spotify_auth::TokenCache;
use spotify_auth::testing::{CacheOp, FaultyCache};

use super::auth::{Call, Clients, Expected, Outcome, expected};
use super::caches::SharedCache;
use super::clock::unix_ms;
use super::instance::{Generation, Instance, Parts};
use super::plan::{ActorPlan, Settings};
use super::report::{Report, Reporter, Stats};

const CHAOS: u8 = 0;
const SETTLE: u8 = 1;
const FINAL: u8 = 2;
const DONE: u8 = 3;

/// The phase every actor of a process is in, and the last round asked for.
pub struct Control {
    phase: AtomicU8,
    round: AtomicU32,
    /// Held while a cache fault is given or the caches are healed, so that
    /// no fault lands after the healing.
    faults: Mutex<()>,
}

impl Control {
    pub fn new() -> Arc<Control> {
        Arc::new(Control {
            phase: AtomicU8::new(CHAOS),
            round: AtomicU32::new(0),
            faults: Mutex::new(()),
        })
    }

    fn phase(&self) -> u8 {
        self.phase.load(Ordering::SeqCst)
    }

    fn faults(&self) -> MutexGuard<'_, ()> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A faulty actor's cache, to steer.
type Faulty = Arc<FaultyCache<Arc<dyn TokenCache>>>;

/// The running actors of this process.
pub struct Actors {
    control: Arc<Control>,
    faulty: Vec<(Faulty, Arc<AtomicBool>)>,
    instances: Vec<Arc<Instance>>,
    threads: Vec<(String, Vec<JoinHandle<Stats>>)>,
    scheduler: Option<JoinHandle<()>>,
}

/// Where the actors' instances point and what they share.
pub struct Setup<'a> {
    /// This process's number (0: the test process).
    pub process: usize,
    pub accounts: &'a str,
    pub settings: &'a Settings,
    pub cache: &'a SharedCache,
    pub reporter: Reporter,
}

/// What the cache fault scheduler does to a faulty actor's cache.
enum Action {
    /// Fails the next `times` calls of `op`.
    Fail(CacheOp, usize),
    /// The cache goes down (every read and lock fails), or comes back.
    Down(bool),
}

impl Actors {
    /// Builds every actor of `plans` and starts its threads and the cache
    /// fault schedule, from now.
    pub fn start(plans: &[ActorPlan], setup: &Setup) -> Actors {
        let control = Control::new();
        let runtime = plans.iter().any(|p| p.mode == "async").then(|| {
            Arc::new(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap(),
            )
        });
        let started = Instant::now();
        let clients = Clients::for_process(setup.process);
        let mut faulty = Vec::new();
        let mut schedule = Vec::new();
        let mut threads = Vec::new();
        let mut instances = Vec::new();
        for plan in plans {
            let base = setup.cache.handle();
            let down = Arc::new(AtomicBool::new(false));
            let cache: Arc<dyn TokenCache> = if plan.faulty {
                let cache: Faulty = Arc::new(FaultyCache::new(base));
                for fault in &plan.cache_faults {
                    let action = Action::Fail(op(&fault.op), fault.times);
                    schedule.push((fault.at_ms, Arc::clone(&cache), Arc::clone(&down), action));
                }
                for window in &plan.down {
                    for (at, on) in [(window.at_ms, true), (window.at_ms + window.len_ms, false)] {
                        schedule.push((
                            at,
                            Arc::clone(&cache),
                            Arc::clone(&down),
                            Action::Down(on),
                        ));
                    }
                }
                faulty.push((Arc::clone(&cache), Arc::clone(&down)));
                cache
            } else {
                base
            };
            let parts = Parts {
                accounts: setup.accounts.to_owned(),
                settings: setup.settings.clone(),
                cache,
                reporter: setup.reporter.clone(),
                clients: clients.clone(),
                runtime: runtime.clone(),
            };
            let instance = Arc::new(Instance::new(plan, parts));
            instances.push(Arc::clone(&instance));
            let handles = (0..plan.threads)
                .map(|t| {
                    let thread = Thread {
                        name: format!("{}t{t}", plan.id),
                        instance: Arc::clone(&instance),
                        plan: plan.clone(),
                        rng: fastrand::Rng::with_seed(plan.seed ^ (t as u64 + 1)),
                        control: Arc::clone(&control),
                        reporter: setup.reporter.clone(),
                        stats: Stats::default(),
                        last_relogin: None,
                        down: Arc::clone(&down),
                        run: None,
                    };
                    std::thread::Builder::new()
                        .name(thread.name.clone())
                        .spawn(move || thread.run())
                        .unwrap()
                })
                .collect();
            threads.push((plan.id.clone(), handles));
        }
        schedule.sort_by_key(|(at, ..)| *at);
        let scheduler = {
            let control = Arc::clone(&control);
            std::thread::spawn(move || {
                for (at_ms, cache, down, action) in schedule {
                    let at = started + Duration::from_millis(at_ms);
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                    let _held = control.faults();
                    if control.phase() != CHAOS {
                        return;
                    }
                    match action {
                        Action::Fail(op, times) => cache.fail_next(op, times),
                        Action::Down(true) => {
                            cache.fail_always(CacheOp::Read);
                            cache.fail_always(CacheOp::Lock);
                            down.store(true, Ordering::SeqCst);
                        }
                        Action::Down(false) => {
                            down.store(false, Ordering::SeqCst);
                            cache.heal(CacheOp::Read);
                            cache.heal(CacheOp::Lock);
                        }
                    }
                }
            })
        };
        Actors {
            control,
            faulty,
            instances,
            threads,
            scheduler: Some(scheduler),
        }
    }

    /// Chaos over: failing caches heal and calls are plain from now on.
    pub fn settle(&self) {
        let _held = self.control.faults();
        self.control.phase.store(SETTLE, Ordering::SeqCst);
        for (cache, down) in &self.faulty {
            down.store(false, Ordering::SeqCst);
            cache.heal_all();
        }
    }

    /// Every thread makes one more call and reports it as round `round`.
    pub fn final_round(&self, round: u32) {
        self.control.round.store(round, Ordering::SeqCst);
        self.control.phase.store(FINAL, Ordering::SeqCst);
    }

    /// Stops the threads, closes the instances, and reports each actor's
    /// counts (and any panic).
    pub fn finish(mut self, reporter: &Reporter) {
        self.control.phase.store(DONE, Ordering::SeqCst);
        if let Some(scheduler) = self.scheduler.take() {
            let _ = scheduler.join();
        }
        for (actor, handles) in std::mem::take(&mut self.threads) {
            let mut stats = Stats::default();
            for handle in handles {
                match handle.join() {
                    Ok(s) => stats.add(&s),
                    Err(panic) => reporter.send(Report::Unexpected {
                        actor: actor.clone(),
                        what: format!("a thread panicked: {}", panic_message(&panic)),
                    }),
                }
            }
            reporter.send(Report::Stats { actor, stats });
        }
        for instance in std::mem::take(&mut self.instances) {
            instance.close();
        }
    }
}

impl Drop for Actors {
    fn drop(&mut self) {
        // On a failure elsewhere: let the threads end.
        self.control.phase.store(DONE, Ordering::SeqCst);
    }
}

fn op(name: &str) -> CacheOp {
    match name {
        "set" => CacheOp::WriteToken,
        "get" => CacheOp::Read,
        "lock" => CacheOp::Lock,
        other => panic!("unknown cache op {other}"),
    }
}

pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(not a string)".to_owned()
    }
}

/// One thread of an actor.
struct Thread {
    name: String,
    instance: Arc<Instance>,
    plan: ActorPlan,
    rng: fastrand::Rng,
    control: Arc<Control>,
    reporter: Reporter,
    stats: Stats,
    last_relogin: Option<Instant>,
    /// Set while the actor's cache is down.
    down: Arc<AtomicBool>,
    /// The token this thread has been handing out, not reported yet.
    run: Option<Run>,
}

/// A token handed out by one generation in consecutive calls.
struct Run {
    generation: String,
    token: String,
    first_ms: u64,
    last_ms: u64,
    /// When the first call that returned it ended.
    first_end_ms: u64,
    seen: Arc<super::caches::Seen>,
}

/// How one call went, for the thread's books.
struct Made {
    generation: String,
    start_ms: u64,
    end_ms: u64,
    outcome: Outcome,
    /// The access token the instance held after the call (the one it
    /// read or wrote last).
    last_token: Option<String>,
    last_refresh: Option<String>,
}

impl Thread {
    fn run(mut self) -> Stats {
        let mut last_round = 0;
        loop {
            match self.control.phase() {
                phase @ (CHAOS | SETTLE) => {
                    self.chaos_call(phase == CHAOS);
                    let pause = self.rng.u64(0..=self.plan.pause_ms);
                    std::thread::sleep(Duration::from_millis(pause));
                }
                FINAL => {
                    let round = self.control.round.load(Ordering::SeqCst);
                    if round == last_round {
                        std::thread::sleep(Duration::from_millis(1));
                        continue;
                    }
                    last_round = round;
                    let made = self.make(Call::Get, None);
                    let result = match made.outcome {
                        Outcome::Done(Ok(token)) => Ok(token),
                        Outcome::Done(Err(e)) => Err(format!("{e} ({e:?})")),
                        Outcome::Cancelled => Err("cancelled".to_owned()),
                    };
                    self.reporter.send(Report::Final {
                        round,
                        thread: self.name.clone(),
                        result,
                    });
                }
                _ => {
                    self.flush_run();
                    return self.stats;
                }
            }
        }
    }

    /// Makes one call on the current generation; notes what it handed out.
    fn make(&mut self, call: Call, cancel: Option<Duration>) -> Made {
        let start_ms = unix_ms();
        let (generation, outcome, last_token, last_refresh, seen) =
            self.instance.with(|g: &Generation| {
                let outcome = g.call(call, cancel);
                (
                    g.name.clone(),
                    outcome,
                    g.seen.latest(),
                    g.seen.latest_refresh(),
                    Arc::clone(&g.seen),
                )
            });
        let end_ms = unix_ms();
        if let Outcome::Done(Ok(token)) = &outcome {
            self.served(&generation, token, start_ms, end_ms, seen);
        }
        Made {
            generation,
            start_ms,
            end_ms,
            outcome,
            last_token,
            last_refresh,
        }
    }

    /// Notes `token`, handed out by `generation` in a call from `start_ms`.
    fn served(
        &mut self,
        generation: &str,
        token: &str,
        start_ms: u64,
        end_ms: u64,
        seen: Arc<super::caches::Seen>,
    ) {
        if let Some(run) = &mut self.run
            && run.generation == generation
            && run.token == token
        {
            run.last_ms = start_ms;
            return;
        }
        self.flush_run();
        self.run = Some(Run {
            generation: generation.to_owned(),
            token: token.to_owned(),
            first_ms: start_ms,
            last_ms: start_ms,
            first_end_ms: end_ms,
            seen,
        });
    }

    fn flush_run(&mut self) {
        if let Some(run) = self.run.take() {
            let known_ms = run
                .seen
                .known_since(&run.token)
                .map_or(run.first_end_ms, |k| k.min(run.first_end_ms));
            self.reporter.send(Report::Served {
                actor: run.generation,
                token: run.token,
                first_ms: run.first_ms,
                last_ms: run.last_ms,
                known_ms,
            });
        }
    }

    /// One call: during the chaos, sometimes a forced refresh, (async)
    /// sometimes cancelled, and (a rebuilding actor) sometimes a forced
    /// refresh cancelled at once, then the instance closed and rebuilt.
    /// While the actor's cache is down, plain calls only.
    fn chaos_call(&mut self, chaos: bool) {
        let down = self.down.load(Ordering::SeqCst);
        // A forced refresh given up on after 0-3 ms (its request most
        // likely sent, its task running on), then `close()`, the runtime
        // dropped, and a new instance: the refresh's token must reach the
        // store.
        let rebuild = chaos && !down && self.plan.rebuilds && self.rng.u32(0..100) < 1;
        let call = if rebuild || chaos && !down && self.rng.u32(0..100) < self.plan.force_percent {
            self.stats.forced += 1;
            Call::Force
        } else {
            Call::Get
        };
        let cancel = if rebuild {
            Some(Duration::from_millis(self.rng.u64(0..=3)))
        } else {
            (chaos && !down && self.rng.u32(0..100) < self.plan.cancel_percent)
                .then(|| Duration::from_millis(self.rng.u64(0..=40)))
        };
        self.stats.calls += 1;
        if down {
            self.stats.down_calls += 1;
        }
        let made = self.make(call, cancel);
        let error = match made.outcome {
            Outcome::Done(Ok(_)) => {
                self.stats.ok += 1;
                None
            }
            Outcome::Done(Err(e)) => Some(e),
            Outcome::Cancelled => {
                self.stats.cancelled += 1;
                if rebuild {
                    self.flush_run();
                    self.instance.rebuild();
                    self.stats.rebuilt += 1;
                }
                None
            }
        };
        if self.instance.with(|g| g.cache_write_error().is_some()) {
            self.stats.unsaved_seen += 1;
        }
        let Some(e) = error else {
            return;
        };
        super::trace::line(
            &made.generation,
            format_args!("call {}..{} failed: {e:?}", made.start_ms, made.end_ms),
        );
        let kind = expected(&e, self.plan.faulty);
        if down && kind != Expected::LoginEnded {
            self.stats.down_errors += 1;
            self.reporter.send(Report::DownError {
                actor: made.generation.clone(),
                start_ms: made.start_ms,
                end_ms: made.end_ms,
                last_token: made.last_token.clone(),
                last_refresh: made.last_refresh.clone(),
                error: format!("{e} ({e:?})"),
            });
        }
        match kind {
            Expected::LoginEnded => {
                // It holds nothing now (a refusal it could not record
                // leaves no trace in its cache).
                self.instance.with(|g| g.seen.forget());
                if matches!(e, spotify_auth::Error::NotAuthorized) {
                    self.stats.not_authorized += 1;
                } else {
                    self.stats.reauthorization_required += 1;
                }
                self.reporter.send(Report::Ended {
                    actor: made.generation,
                    start_ms: made.start_ms,
                    end_ms: made.end_ms,
                    error: format!("{e:?}"),
                });
                // Ask for a login, at most every 50 ms, and do not spin.
                let due = self
                    .last_relogin
                    .is_none_or(|at| at.elapsed() > Duration::from_millis(50));
                if due {
                    self.last_relogin = Some(Instant::now());
                    self.reporter.send(Report::Relogin {
                        actor: self.name.clone(),
                        why: e.to_string(),
                    });
                }
                std::thread::sleep(Duration::from_millis(self.rng.u64(5..=20)));
            }
            Expected::Transient => {
                // A copy refused in a recovering store is forgotten (the
                // caller is told to try again): it holds nothing now.
                if matches!(e, spotify_auth::Error::StoreRecovering { .. }) {
                    self.instance.with(|g| g.seen.forget());
                }
                self.stats.transient += 1;
            }
            Expected::Cache => self.stats.cache_errors += 1,
            Expected::Lapse => {
                self.stats.lapse_errors += 1;
                self.reporter.send(Report::LapseError {
                    actor: made.generation,
                    start_ms: made.start_ms,
                    end_ms: made.end_ms,
                    error: format!("{e}"),
                });
            }
            Expected::No => self.reporter.send(Report::Unexpected {
                actor: self.name.clone(),
                what: format!("{e} ({e:?})"),
            }),
        }
    }
}
