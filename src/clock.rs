//! The clock the library reads: std's on native targets; on wasm32, where
//! `std::time::{SystemTime, Instant}::now()` panic, the JavaScript clock
//! with the same API (`web-time`).

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use std::time::{Instant, SystemTime, UNIX_EPOCH};
#[cfg(target_arch = "wasm32")]
pub(crate) use web_time::{Instant, SystemTime, UNIX_EPOCH};
