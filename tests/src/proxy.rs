//! A TCP proxy in front of a registry that can slow responses down and cut connections, so
//! that tests against a *real* registry can interrupt a download (Ctrl+C, resume with
//! `Range`, token expiry while bytes are still flowing) or make every connection fail.
//!
//! It forwards bytes without looking at them, so TLS passes through unchanged (the server
//! certificate is valid for `127.0.0.1`, whatever the port). Point clients at
//! [`TcpProxy::host`] instead of the registry's host.
//!
//! ```no_run
//! use imgpull_tests::proxy::TcpProxy;
//! use imgpull_tests::real::{RegistryConfig, RegistryServer};
//!
//! # fn main() -> Result<(), imgpull_tests::HarnessError> {
//! let server = RegistryServer::start(RegistryConfig::tls())?;
//! let proxy = TcpProxy::start(server.addr())?;
//! proxy.set_rate(Some(512 << 10)); // 512 KiB/s from registry to client, per connection
//! proxy.cut_connections(1, 100_000); // the next connection dies after 100 000 bytes
//! println!("pull from {}/repo:tag", proxy.host());
//! # Ok(()) }
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Result, io_context};

/// Bytes copied per read; also the granularity of throttling and cutting.
const CHUNK: usize = 16 * 1024;

/// A running proxy; stopped, with every open connection shut down, on drop.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    stop: AtomicBool,
    /// Bytes per second from upstream to client, per connection; 0 = unlimited.
    rate: AtomicU64,
    /// How many more connections to cut.
    cuts_left: AtomicUsize,
    /// After how many upstream-to-client bytes a cut connection is closed.
    cut_after: AtomicU64,
    connections: AtomicUsize,
    cut_count: AtomicUsize,
    bytes_down: AtomicU64,
    open: Mutex<Vec<TcpStream>>,
}

impl TcpProxy {
    /// Listens on a free `127.0.0.1` port and forwards every connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(io_context("binding the proxy to 127.0.0.1:0"))?;
        let addr = listener
            .local_addr()
            .map_err(io_context("reading the proxy's address"))?;
        let shared = Arc::new(Shared {
            upstream,
            stop: AtomicBool::new(false),
            rate: AtomicU64::new(0),
            cuts_left: AtomicUsize::new(0),
            cut_after: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
            cut_count: AtomicUsize::new(0),
            bytes_down: AtomicU64::new(0),
            open: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("imgpull-test-proxy-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &accept_shared))
            .map_err(io_context("starting the proxy thread"))?;
        Ok(Self {
            addr,
            shared,
            thread: Some(thread),
        })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT` of the proxy, to use in image references instead of the registry's.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Limits the registry-to-client direction of each connection to `bytes_per_second`
    /// (`None` = unlimited). Takes effect immediately, also on open connections.
    pub fn set_rate(&self, bytes_per_second: Option<u64>) {
        self.shared
            .rate
            .store(bytes_per_second.unwrap_or(0), Ordering::SeqCst);
    }

    /// Arms `count` cuts (use `usize::MAX` for every connection): each of the next `count`
    /// connections to carry registry-to-client data from now on (new or already open) is
    /// closed after `after_bytes` more bytes. `after_bytes = 0` fails them at once (a TLS
    /// handshake, a request) — a registry that is reachable but always breaks.
    pub fn cut_connections(&self, count: usize, after_bytes: u64) {
        self.shared.cut_after.store(after_bytes, Ordering::SeqCst);
        self.shared.cuts_left.store(count, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Connections cut so far.
    pub fn cut_count(&self) -> usize {
        self.shared.cut_count.load(Ordering::SeqCst)
    }

    /// Bytes forwarded from the registry to clients so far.
    pub fn bytes_down(&self) -> u64 {
        self.shared.bytes_down.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag; if that fails, leave the thread
        // detached rather than hang in drop.
        let woken = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(thread) = self.thread.take().filter(|_| woken) {
            let _joined = thread.join();
        }
        for stream in self
            .shared
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            let _closed = stream.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(client) = client else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let shared = Arc::clone(shared);
        // A connection that cannot be set up only fails its own client.
        let _detached = std::thread::Builder::new().spawn(move || {
            let _outcome = forward(&client, &shared);
        });
    }
}

/// Copies both directions of one connection until either side closes.
fn forward(client: &TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    let server = TcpStream::connect(shared.upstream)?;
    {
        let mut open = shared.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.push(client.try_clone()?);
        open.push(server.try_clone()?);
    }
    let (mut client_read, mut server_write) = (client.try_clone()?, server.try_clone()?);
    let upload = std::thread::Builder::new().spawn(move || {
        let _copied = io::copy(&mut client_read, &mut server_write);
        let _closed = server_write.shutdown(Shutdown::Write);
    })?;
    let result = download(&server, client, shared);
    let _closed = client.shutdown(Shutdown::Both);
    let _closed = server.shutdown(Shutdown::Both);
    let _joined = upload.join();
    result
}

impl Shared {
    /// Claims one of the armed cuts, if any are left.
    fn claim_cut(&self) -> bool {
        self.cuts_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }
}

/// Copies registry-to-client bytes, throttled and cut as configured.
///
/// A connection claims an armed cut when it next carries data (so an idle pooled connection
/// is not cut, and a connection opened before arming can be) and is closed once `cut_after`
/// more bytes have gone through.
fn download(mut server: &TcpStream, mut client: &TcpStream, shared: &Shared) -> io::Result<()> {
    let mut buffer = vec![0_u8; CHUNK];
    let mut sent = 0_u64;
    let mut cut_at: Option<u64> = None;
    loop {
        let read = server.read(&mut buffer)?;
        if read == 0 {
            return Ok(());
        }
        if cut_at.is_none() && shared.claim_cut() {
            cut_at = Some(sent + shared.cut_after.load(Ordering::SeqCst));
        }
        let allowed = cut_at.map_or(read, |at| {
            usize::try_from(at - sent).map_or(read, |left| left.min(read))
        });
        let chunk_started = Instant::now();
        client.write_all(&buffer[..allowed])?;
        sent += allowed as u64;
        shared
            .bytes_down
            .fetch_add(allowed as u64, Ordering::SeqCst);
        if cut_at.is_some_and(|at| sent >= at) {
            shared.cut_count.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        // Pace each chunk by the current rate, so that a rate set while a (reused)
        // connection is open applies from then on.
        let rate = shared.rate.load(Ordering::SeqCst);
        if rate > 0 {
            let due = Duration::from_secs_f64(allowed as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(chunk_started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
}
