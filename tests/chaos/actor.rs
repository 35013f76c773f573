//! The actors of one process (this one or a child): their instances, their
//! threads' loop, the faults of their caches, and the phases they go
//! through (chaos, settle, the last rounds, done).

use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use spotify_auth::TokenCache;
use spotify_auth::testing::{CacheOp, FaultyCache};

use super::auth::{Auth, Call, Expected, Outcome, expected};
use super::caches::{Recording, SharedCache};
use super::plan::{ActorPlan, Settings};
use super::report::{Report, Reporter, Stats};
use crate::common::Mode;

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
    faulty: Vec<Faulty>,
    threads: Vec<(String, Vec<JoinHandle<Stats>>)>,
    scheduler: Option<JoinHandle<()>>,
}

/// Where the actors' instances point and what they share.
pub struct Setup<'a> {
    pub accounts: &'a str,
    pub settings: &'a Settings,
    pub cache: &'a SharedCache,
    pub reporter: Reporter,
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
        let mut faulty = Vec::new();
        let mut schedule = Vec::new();
        let mut threads = Vec::new();
        for plan in plans {
            let base = setup.cache.handle();
            let inner: Arc<dyn TokenCache> = if plan.faulty {
                let cache: Faulty = Arc::new(FaultyCache::new(base));
                for fault in &plan.cache_faults {
                    schedule.push((fault.at_ms, Arc::clone(&cache), op(&fault.op), fault.times));
                }
                faulty.push(Arc::clone(&cache));
                cache
            } else {
                base
            };
            let cache = Recording::new(inner, &plan.id, setup.reporter.clone());
            let auth = Arc::new(Auth::new(
                Mode::from_name(&plan.mode),
                setup.accounts,
                setup.settings,
                cache,
                runtime.clone(),
            ));
            let handles = (0..plan.threads)
                .map(|t| {
                    let thread = Thread {
                        name: format!("{}t{t}", plan.id),
                        auth: Arc::clone(&auth),
                        plan: plan.clone(),
                        rng: fastrand::Rng::with_seed(plan.seed ^ (t as u64 + 1)),
                        control: Arc::clone(&control),
                        reporter: setup.reporter.clone(),
                        stats: Stats::default(),
                        last_relogin: None,
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
                for (at_ms, cache, op, times) in schedule {
                    let at = started + Duration::from_millis(at_ms);
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                    let _held = control.faults();
                    if control.phase() != CHAOS {
                        return;
                    }
                    cache.fail_next(op, times);
                }
            })
        };
        Actors {
            control,
            faulty,
            threads,
            scheduler: Some(scheduler),
        }
    }

    /// Chaos over: failing caches heal and calls are plain from now on.
    pub fn settle(&self) {
        let _held = self.control.faults();
        self.control.phase.store(SETTLE, Ordering::SeqCst);
        for cache in &self.faulty {
            cache.heal_all();
        }
    }

    /// Every thread makes one more call and reports it as round `round`.
    pub fn final_round(&self, round: u32) {
        self.control.round.store(round, Ordering::SeqCst);
        self.control.phase.store(FINAL, Ordering::SeqCst);
    }

    /// Stops the threads and reports each actor's counts (and any panic).
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
    auth: Arc<Auth>,
    plan: ActorPlan,
    rng: fastrand::Rng,
    control: Arc<Control>,
    reporter: Reporter,
    stats: Stats,
    last_relogin: Option<Instant>,
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
                    let result = match self.auth.call(Call::Get, None) {
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
                _ => return self.stats,
            }
        }
    }

    /// One call: during the chaos, sometimes a forced refresh, and (async)
    /// sometimes cancelled.
    fn chaos_call(&mut self, chaos: bool) {
        let call = if chaos && self.rng.u32(0..100) < self.plan.force_percent {
            self.stats.forced += 1;
            Call::Force
        } else {
            Call::Get
        };
        let cancel = (chaos && self.rng.u32(0..100) < self.plan.cancel_percent)
            .then(|| Duration::from_millis(self.rng.u64(0..=40)));
        self.stats.calls += 1;
        let error = match self.auth.call(call, cancel) {
            Outcome::Done(Ok(_)) => {
                self.stats.ok += 1;
                None
            }
            Outcome::Done(Err(e)) => Some(e),
            Outcome::Cancelled => {
                self.stats.cancelled += 1;
                None
            }
        };
        if self.auth.cache_write_error().is_some() {
            self.stats.unsaved_seen += 1;
        }
        let Some(e) = error else {
            return;
        };
        match expected(&e, self.plan.faulty) {
            Expected::LoginEnded => {
                if matches!(e, spotify_auth::Error::NotAuthorized) {
                    self.stats.not_authorized += 1;
                } else {
                    self.stats.reauthorization_required += 1;
                }
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
            Expected::Transient => self.stats.transient += 1,
            Expected::Cache => self.stats.cache_errors += 1,
            Expected::No => self.reporter.send(Report::Unexpected {
                actor: self.name.clone(),
                what: format!("{e} ({e:?})"),
            }),
        }
    }
}
