//! An exclusive Web Lock (`navigator.locks.request`) as a
//! [`LockFuture`]: held until its [`CacheLock`] is dropped, by every page
//! and worker of the origin, and released by the browser when the page
//! holding it goes away (a closed tab never leaves it held).
//!
//! web-sys has bindings for the Web Locks API only behind
//! `--cfg=web_sys_unstable_apis`, a flag every application would have to
//! set: the one method used is bound here instead.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use send_wrapper::SendWrapper;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use super::js_failure;
use crate::cache::LockFuture;
use crate::{CacheLock, Error, Result};

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks`.
    type LockManager;

    /// `navigator.locks.request(name, options, callback)`: calls `callback`
    /// with the lock (or `null` when `ifAvailable` and someone holds it),
    /// holds it until the promise the callback returns settles.
    #[wasm_bindgen(method, js_name = request)]
    fn request(this: &LockManager, name: &str, options: &Object, callback: &Function) -> Promise;
}

/// `navigator.locks` of this page or worker.
fn lock_manager() -> Result<LockManager> {
    let navigator = Reflect::get(&js_sys::global(), &JsValue::from_str("navigator"))
        .ok()
        .filter(JsValue::is_object);
    let locks = navigator
        .and_then(|n| Reflect::get(&n, &JsValue::from_str("locks")).ok())
        .filter(JsValue::is_object);
    locks.map(JsCast::unchecked_into).ok_or_else(|| {
        super::unavailable(
            "navigator.locks (the Web Locks API) is not available here: it needs a secure \
             context (https, or http on 127.0.0.1 or localhost) and a browser from 2022 or later",
        )
    })
}

/// Whether this page or worker has the Web Locks API.
pub(super) fn available() -> Result<()> {
    lock_manager().map(drop)
}

/// What the lock's callback tells the waiting future: the lock's release
/// function, or `None` when it was not waited for and is held elsewhere.
type Granted = Result<Option<Function>>;

/// Takes the exclusive Web Lock `name`, waiting for another holder when
/// `wait`; else `Ok(None)` when someone holds it. The future is `Send` for
/// the flow's bounds; it lives on this thread (see `asynchronous/wasm.rs`).
pub(super) fn take(name: String, wait: bool) -> LockFuture {
    Box::pin(SendWrapper::new(async move {
        let (sender, receiver) = tokio::sync::oneshot::channel::<Granted>();
        let sender = Rc::new(RefCell::new(Some(sender)));
        let locks = lock_manager()?;

        // The promise the lock is held for, and its resolve function (the
        // release). The executor runs before the constructor returns.
        let mut release: Option<Function> = None;
        let held = Promise::new(&mut |resolve, _reject| release = Some(resolve));
        let release = release.expect("a Promise runs its executor at once");

        let granted = Rc::clone(&sender);
        let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
            let answer = if lock.is_null() {
                Ok(None)
            } else {
                Ok(Some(release))
            };
            let told = granted
                .borrow_mut()
                .take()
                .is_some_and(|sender| sender.send(answer).is_ok());
            if told && !lock.is_null() {
                // Held until the guard calls `release`.
                held.into()
            } else {
                // No one is waiting any more (the caller's future was
                // dropped): the lock is given back at once.
                JsValue::UNDEFINED
            }
        });

        let options = Object::new();
        Reflect::set(
            &options,
            &JsValue::from_str("ifAvailable"),
            &JsValue::from_bool(!wait),
        )
        .map_err(|e| js_failure("navigator.locks.request", &e))?;
        let settled = locks.request(&name, &options, callback.unchecked_ref());
        // A request the browser refuses (a name it rejects, a page being
        // unloaded) rejects its promise without calling the callback.
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = wasm_bindgen_futures::JsFuture::from(settled).await
                && let Some(sender) = sender.borrow_mut().take()
            {
                let _ = sender.send(Err(js_failure("navigator.locks.request", &e)));
            }
        });

        match receiver.await {
            Ok(Ok(Some(release))) => Ok(Some(CacheLock::new(WebLockGuard(SendWrapper::new(
                release,
            ))))),
            Ok(Ok(None)) => Ok(None),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::cache(
                "the browser dropped a Web Lock request without an answer",
            )),
        }
    }))
}

/// A held Web Lock: released when dropped (on the thread that took it).
struct WebLockGuard(SendWrapper<Function>);

impl Drop for WebLockGuard {
    fn drop(&mut self) {
        let _ = self.0.call0(&JsValue::UNDEFINED);
    }
}
