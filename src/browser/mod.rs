//! The browser (wasm32, feature `async`).
