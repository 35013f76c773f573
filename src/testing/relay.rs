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
///
/// A closed connection's port may be reused by the next one at once (Linux
/// reuses loopback ports in `TIME_WAIT`), before the closed one's relay
/// thread has removed its entry: each entry carries the number of its
/// connection, and a removal removes (and shuts) only its own. Without
/// that, a stale removal cut a live client connection mid-answer, and the
/// client (rightly) sent its request again.
#[derive(Default)]
pub(crate) struct Connections {
    open: Mutex<HashMap<SocketAddr, Relayed>>,
    /// Client connections accepted so far.
    accepted: AtomicUsize,
    /// The number of the next connection inserted.
    next: AtomicUsize,
}

struct Relayed {
    /// Which connection this is (see [`Connections`]).
    number: usize,
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

    /// Registers a connection; its number, for [`remove`](Self::remove).
    fn insert(
        &self,
        key: SocketAddr,
        client: &TcpStream,
        backend: &TcpStream,
    ) -> io::Result<usize> {
        let number = self.next.fetch_add(1, Ordering::SeqCst);
        let relayed = Relayed {
            number,
            client: client.try_clone()?,
            backend: backend.try_clone()?,
        };
        self.lock().insert(key, relayed);
        Ok(number)
    }

    /// Removes and shuts connection `number`, if `key` still names it.
    fn remove(&self, key: SocketAddr, number: usize) {
        let mut open = self.lock();
        if open.get(&key).is_some_and(|r| r.number == number)
            && let Some(relayed) = open.remove(&key)
        {
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
    let number = connections.insert(key, &client, &backend)?;
    spawn_copies(client, backend, (key, number), connections)
        .inspect_err(|_| connections.remove(key, number))
}

fn spawn_copies(
    client: TcpStream,
    backend: TcpStream,
    (key, number): (SocketAddr, usize),
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
            connections.remove(key, number);
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::Connections;

    /// A connected pair of loopback sockets.
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let one = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (other, _) = listener.accept().unwrap();
        (one, other)
    }

    /// A connection whose port a new one reused before its entry went: its
    /// late removal leaves the new connection open.
    #[test]
    fn a_stale_removal_does_not_cut_the_connection_that_reused_its_port() {
        let connections = Connections::default();
        let key = "127.0.0.1:40000".parse().unwrap();
        let (old_client, _old_peer) = pair();
        let (old_backend, _old_backend_peer) = pair();
        let old = connections.insert(key, &old_client, &old_backend).unwrap();
        let (new_client, mut new_peer) = pair();
        let (new_backend, _new_backend_peer) = pair();
        let new = connections.insert(key, &new_client, &new_backend).unwrap();
        assert_ne!(old, new);
        connections.remove(key, old);
        (&new_client).write_all(b"still open").unwrap();
        let mut buf = [0u8; 10];
        new_peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"still open");
        connections.remove(key, new);
        assert!(
            (&new_client).write_all(b"x").is_err(),
            "its own removal shuts it"
        );
    }
}
