//! The loopback callback server used by `authorize_local` in both modes.
