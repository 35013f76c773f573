//! An actor's `AuthorizationCode`, in generations: a rebuilding actor
//! closes its instance (`close()`), drops its runtime (its own) and builds
//! a new instance on the same cache, as a service restarting would.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use spotify_auth::TokenCache;

use super::auth::{Auth, Call, Clients, Outcome};
use super::caches::{Recording, Seen};
use super::plan::{ActorPlan, Settings};
use super::report::{Report, Reporter};
use crate::common::Mode;

/// One generation of an actor's instance.
pub struct Generation {
    /// The actor's id, then `{id}.{n}` for the n-th rebuild: the name its
    /// reports carry (each generation is an instance of its own).
    pub name: String,
    auth: Auth,
    /// What it learnt through its cache.
    pub seen: Arc<Seen>,
}

impl Generation {
    pub fn call(&self, call: Call, cancel_after: Option<std::time::Duration>) -> Outcome {
        let _span = super::trace::call_span(&self.name).entered();
        self.auth.call(call, cancel_after)
    }

    pub fn cache_write_error(&self) -> Option<spotify_auth::Error> {
        self.auth.cache_write_error()
    }
}

/// What an instance is built from.
pub struct Parts {
    pub accounts: String,
    pub settings: Settings,
    /// The actor's cache (a `FaultyCache` around the shared one, or it).
    pub cache: Arc<dyn TokenCache>,
    pub reporter: Reporter,
    pub clients: Clients,
    /// The process's runtime, for async actors that do not rebuild.
    pub runtime: Option<Arc<tokio::runtime::Runtime>>,
}

/// An actor's instance, rebuilt now and then when its plan says so.
pub struct Instance {
    plan: ActorPlan,
    parts: Parts,
    current: RwLock<Option<Generation>>,
    rebuilds: AtomicU32,
}

impl Instance {
    pub fn new(plan: &ActorPlan, parts: Parts) -> Instance {
        let instance = Instance {
            plan: plan.clone(),
            parts,
            current: RwLock::new(None),
            rebuilds: AtomicU32::new(0),
        };
        *instance.write() = Some(instance.build(plan.id.clone()));
        instance
    }

    fn build(&self, name: String) -> Generation {
        let mode = Mode::from_name(&self.plan.mode);
        let own_runtime = self.plan.rebuilds;
        let runtime = if own_runtime {
            // Its own runtime, dropped with the instance.
            Some(Arc::new(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .unwrap(),
            ))
        } else {
            self.parts.runtime.clone()
        };
        let recording = Recording::new(
            Arc::clone(&self.parts.cache),
            &name,
            self.parts.reporter.clone(),
        );
        let seen = recording.seen();
        let own_clients;
        let clients = if own_runtime {
            own_clients = self.parts.clients.for_own_runtime();
            &own_clients
        } else {
            &self.parts.clients
        };
        let auth = Auth::with_clients(
            mode,
            &self.parts.accounts,
            &self.parts.settings,
            recording,
            runtime,
            clients,
        );
        Generation { name, auth, seen }
    }

    /// Runs `f` on the current generation (a rebuild waits for it).
    pub fn with<R>(&self, f: impl FnOnce(&Generation) -> R) -> R {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        f(current.as_ref().expect("an instance"))
    }

    /// Closes the current generation, drops it (and its runtime), reports
    /// what `close()` said, and builds the next one.
    pub fn rebuild(&self) {
        let mut current = self.write();
        let old = current.take().expect("an instance");
        let started = Instant::now();
        let result = old.auth.close().map_err(|e| format!("{e} ({e:?})"));
        self.parts.reporter.send(Report::Closed {
            actor: old.name.clone(),
            result,
            waited_ms: started.elapsed().as_millis() as u64,
        });
        let n = self.rebuilds.fetch_add(1, Ordering::SeqCst) + 1;
        *current = Some(self.build(format!("{}.{n}", self.plan.id)));
    }

    /// Closes the last generation, at the end.
    pub fn close(&self) {
        let Some(last) = self.write().take() else {
            return;
        };
        let started = Instant::now();
        let result = last.auth.close().map_err(|e| format!("{e} ({e:?})"));
        self.parts.reporter.send(Report::Closed {
            actor: last.name.clone(),
            result,
            waited_ms: started.elapsed().as_millis() as u64,
        });
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<Generation>> {
        self.current.write().unwrap_or_else(PoisonError::into_inner)
    }
}
