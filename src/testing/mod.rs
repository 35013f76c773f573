//! A fake Spotify accounts server on loopback, for offline tests and examples.
