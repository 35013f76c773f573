//! The public loopback port: a byte-for-byte relay in front of the `tiny_http`
//! server, so that the fake server can really close a client's connection.
//!
//! `tiny_http` keeps a connection open for the next request after a response
//! and offers no way to close it, so a "dropped connection" fault would leave
//! the client waiting for its timeout. The relay owns the client's socket:
//! hanging up shuts the relay's side towards `tiny_http` for writing, `tiny_http`
//! then ends that connection, and once everything already written has been
//! relayed the client's socket is closed. The client sees the bytes written so
//! far (possibly none) and then end-of-stream, never a complete response.
//!
//! The relay parses nothing; it only copies bytes.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

/// The relayed connections, keyed by the relay's local address towards
/// `tiny_http` (what `tiny_http` reports as the request's remote address).
#[derive(Default)]
pub(crate) struct Connections {
    open: Mutex<HashMap<SocketAddr, Relayed>>,
    /// Client connections accepted so far.
    accepted: AtomicUsize,
}

struct Relayed {
    client: TcpStream,
    backend: TcpStream,
}

impl Connections {
    /// How many client connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Closes the connection that carried a request once what was already
    /// written to it has reached the client.
    pub fn hang_up(&self, backend_peer: SocketAddr) {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(relayed) = open.get(&backend_peer) {
            // No more requests towards tiny_http: it ends the connection and
            // closes its socket, the relay forwards what is left, then closes
            // the client's socket.
            let _ = relayed.backend.shutdown(Shutdown::Write);
            let _ = relayed.client.shutdown(Shutdown::Read);
        }
    }

    fn insert(&self, key: SocketAddr, client: &TcpStream, backend: &TcpStream) -> io::Result<()> {
        let relayed = Relayed {
            client: client.try_clone()?,
            backend: backend.try_clone()?,
        };
        self.lock().insert(key, relayed);
        Ok(())
    }

    fn remove(&self, key: SocketAddr) {
        if let Some(relayed) = self.lock().remove(&key) {
            let _ = relayed.client.shutdown(Shutdown::Both);
            let _ = relayed.backend.shutdown(Shutdown::Both);
        }
    }

    /// Closes every connection at once (server shutdown).
    fn close_all(&self) {
        for (_, relayed) in self.lock().drain() {
            let _ = relayed.client.shutdown(Shutdown::Both);
            let _ = relayed.backend.shutdown(Shutdown::Both);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Relayed>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The listening relay. Dropping it stops accepting, frees the port and closes
/// every open connection.
pub(crate) struct Relay {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<Connections>,
    accept: Option<JoinHandle<()>>,
}

impl Relay {
    /// Binds `127.0.0.1:0` and relays each accepted connection to `backend`.
    pub fn start(backend: SocketAddr, connections: Arc<Connections>) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let stop = Arc::clone(&stop);
            let connections = Arc::clone(&connections);
            thread::Builder::new()
                .name("fake-spotify-accept".into())
                .spawn(move || accept_loop(&listener, backend, &stop, &connections))?
        };
        Ok(Self {
            addr,
            stop,
            connections,
            accept: Some(accept),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept call; the loop sees `stop` and returns, dropping the
        // listener (and so freeing the port) before the join returns.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        self.connections.close_all();
    }
}

fn accept_loop(
    listener: &TcpListener,
    backend: SocketAddr,
    stop: &AtomicBool,
    connections: &Arc<Connections>,
) {
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match client {
            // A connection that cannot be relayed is simply closed.
            Ok(client) => {
                connections.accepted.fetch_add(1, Ordering::SeqCst);
                drop(relay(client, backend, connections));
            }
            // Out of descriptors or similar: do not spin.
            Err(_) => thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

fn relay(client: TcpStream, backend: SocketAddr, connections: &Arc<Connections>) -> io::Result<()> {
    let backend = TcpStream::connect(backend)?;
    let _ = client.set_nodelay(true);
    let _ = backend.set_nodelay(true);
    let key = backend.local_addr()?;
    connections.insert(key, &client, &backend)?;
    spawn_copies(client, backend, key, connections).inspect_err(|_| connections.remove(key))
}

fn spawn_copies(
    client: TcpStream,
    backend: TcpStream,
    key: SocketAddr,
    connections: &Arc<Connections>,
) -> io::Result<()> {
    let (client_read, backend_write) = (client.try_clone()?, backend.try_clone()?);
    thread::Builder::new()
        .name("fake-spotify-upstream".into())
        .spawn(move || {
            copy(client_read, &backend_write);
            // The client sent all it will send: tell tiny_http.
            let _ = backend_write.shutdown(Shutdown::Write);
        })?;

    let connections = Arc::clone(connections);
    thread::Builder::new()
        .name("fake-spotify-downstream".into())
        .spawn(move || {
            copy(backend, &client);
            // tiny_http closed the connection (or the client went away).
            connections.remove(key);
        })?;
    Ok(())
}

/// Copies until end-of-stream or an error on either side.
fn copy(mut from: TcpStream, mut to: &TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
