//! A fault-injecting TCP proxy, placed between sealdrop and a store (S3, Redis) to make
//! that store slow, silent, rude or absent on demand.
//!
//! The proxy listens on a free `127.0.0.1` port and forwards every connection to its
//! upstream, byte for byte, on a Tokio runtime of its own thread, so it serves blocking
//! and async tests alike. Faults are changed from any thread while traffic flows, and
//! apply to the connections already open as well as to new ones:
//!
//! | method | effect |
//! |---|---|
//! | [`FaultProxy::latency`] | the first bytes after a pause wait this long (each exchange, both ways) |
//! | [`FaultProxy::bandwidth`] | each direction of each connection is capped to this rate |
//! | [`FaultProxy::stall`] | no byte moves for this long (connections stay open) |
//! | [`FaultProxy::reset_after`] | a connection is reset (RST) once it has carried this many bytes |
//! | [`FaultProxy::reset_all`] | every open connection is reset now |
//! | [`FaultProxy::refuse`] | the port is closed (connections refused) and open ones reset |
//! | [`FaultProxy::down_for`] | [`FaultProxy::refuse`], then back after this long |
//! | [`FaultProxy::heal`] | no fault: forwards faithfully again |
//!
//! Dropping the proxy closes its port and every connection.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// The faults in force. Every field at its default is a faithful proxy.
#[derive(Debug, Clone, Default)]
struct Faults {
    latency: Duration,
    /// Bytes per second per direction of a connection.
    bandwidth: Option<u64>,
    stalled_until: Option<Instant>,
    reset_after: Option<u64>,
    /// Closed (refusing connections) until this instant, or for good with `None` inside.
    down_until: Option<Option<Instant>>,
    /// Bumped to reset every open connection.
    kill_epoch: u64,
}

impl Faults {
    fn is_down(&self, now: Instant) -> bool {
        match self.down_until {
            Some(None) => true,
            Some(Some(until)) => now < until,
            None => false,
        }
    }
}

/// What the proxy counted.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    resets: AtomicU64,
    bytes: AtomicU64,
}

/// A TCP proxy with injectable faults. See the [module docs](self).
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    faults: watch::Sender<Faults>,
    counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a faithful proxy to `upstream` on a free port.
    pub fn start(upstream: SocketAddr) -> Self {
        let port = crate::free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let (faults, faults_rx) = watch::channel(Faults::default());
        let counters = Arc::new(Counters::default());
        let (stop, stop_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{port}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the fault proxy's runtime");
                rt.block_on(async move {
                    let listener = bind(addr).await.expect("the fault proxy's port");
                    ready_tx.send(()).expect("the test waits for the proxy");
                    tokio::select! {
                        () = accept_loop(listener, addr, upstream, faults_rx, thread_counters) => {}
                        _ = stop_rx => {}
                    }
                });
            })
            .expect("the fault proxy's thread");
        ready_rx.recv().expect("the fault proxy started");
        Self {
            addr,
            faults,
            counters,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The address to give the client instead of the upstream's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Delays each exchange by `delay` (the first bytes after a pause), in both directions.
    pub fn latency(&self, delay: Duration) {
        self.faults.send_modify(|f| f.latency = delay);
    }

    /// Caps each direction of each connection to `bytes_per_second`.
    pub fn bandwidth(&self, bytes_per_second: u64) {
        self.faults
            .send_modify(|f| f.bandwidth = Some(bytes_per_second.max(1)));
    }

    /// Moves no byte for `duration` from now, on open and new connections.
    pub fn stall(&self, duration: Duration) {
        self.faults
            .send_modify(|f| f.stalled_until = Some(Instant::now() + duration));
    }

    /// Resets each connection once it has carried `bytes` (both directions counted).
    pub fn reset_after(&self, bytes: u64) {
        self.faults.send_modify(|f| f.reset_after = Some(bytes));
    }

    /// Resets every open connection now.
    pub fn reset_all(&self) {
        self.faults.send_modify(|f| f.kill_epoch += 1);
    }

    /// Closes the port (connections are refused) and resets open connections, until
    /// [`FaultProxy::heal`].
    pub fn refuse(&self) {
        self.faults.send_modify(|f| {
            f.down_until = Some(None);
            f.kill_epoch += 1;
        });
    }

    /// Like [`FaultProxy::refuse`] for `duration`, then open again by itself.
    pub fn down_for(&self, duration: Duration) {
        self.faults.send_modify(|f| {
            f.down_until = Some(Some(Instant::now() + duration));
            f.kill_epoch += 1;
        });
    }

    /// Removes every fault.
    pub fn heal(&self) {
        self.faults.send_modify(|f| {
            let epoch = f.kill_epoch;
            *f = Faults {
                kill_epoch: epoch,
                ..Faults::default()
            };
        });
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }

    /// Connections reset by a fault so far.
    pub fn resets(&self) -> u64 {
        self.counters.resets.load(Ordering::Relaxed)
    }

    /// Bytes forwarded so far (both directions).
    pub fn bytes(&self) -> u64 {
        self.counters.bytes.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds `addr`, retrying: the port was just released (by us or by a test). Retried for
/// as long as [`crate::wait::EVENTUALLY`], not a few seconds: the old listener may take a
/// while to go on a loaded machine.
async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let deadline = Instant::now() + crate::wait::EVENTUALLY;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    mut faults: watch::Receiver<Faults>,
    counters: Arc<Counters>,
) {
    let mut listener = Some(listener);
    loop {
        let down = faults.borrow().is_down(Instant::now());
        if down {
            // Closed: no listener, so connecting is refused by the kernel.
            listener = None;
            let until = faults.borrow().down_until.flatten();
            match until {
                Some(until) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(until.into()) => {}
                        _ = faults.changed() => {}
                    }
                }
                None => {
                    if faults.changed().await.is_err() {
                        return;
                    }
                }
            }
            continue;
        }
        let current = match listener.take() {
            Some(l) => l,
            None => match bind(addr).await {
                Ok(l) => l,
                Err(_) => return,
            },
        };
        tokio::select! {
            accepted = current.accept() => {
                if let Ok((client, _)) = accepted {
                    counters.connections.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(connection(client, upstream, faults.clone(), counters.clone()));
                }
            }
            changed = faults.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        listener = Some(current);
    }
}

/// Why a connection ends.
enum End {
    /// Both directions finished.
    Clean,
    /// A fault (or a failed upstream) ends it with a reset.
    Reset,
}

async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    mut faults: watch::Receiver<Faults>,
    counters: Arc<Counters>,
) {
    let epoch = faults.borrow().kill_epoch;
    let Ok(server) = TcpStream::connect(upstream).await else {
        reset(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let carried = AtomicU64::new(0);
    let (mut client_r, mut client_w) = client.into_split();
    let (mut server_r, mut server_w) = server.into_split();
    let end = {
        let up = pump(
            &mut client_r,
            &mut server_w,
            faults.clone(),
            &carried,
            &counters,
        );
        let down = pump(
            &mut server_r,
            &mut client_w,
            faults.clone(),
            &carried,
            &counters,
        );
        let both = async {
            let (a, b) = tokio::join!(up, down);
            if a.is_ok() && b.is_ok() {
                End::Clean
            } else {
                End::Reset
            }
        };
        let killed = async {
            loop {
                if faults.borrow_and_update().kill_epoch != epoch {
                    return;
                }
                if faults.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            end = both => end,
            () = killed => End::Reset,
        }
    };
    if let End::Reset = end {
        counters.resets.fetch_add(1, Ordering::Relaxed);
        reset(client_w.as_ref());
        reset(server_w.as_ref());
    }
}

/// Makes the socket's close send a RST instead of a FIN.
fn reset(stream: &TcpStream) {
    #[allow(
        deprecated,
        reason = "a zero linger never blocks: it only turns FIN into RST"
    )]
    let _ = stream.set_linger(Some(Duration::ZERO));
}

/// Copies one direction, applying the faults to each chunk. `Err` means reset.
async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    mut faults: watch::Receiver<Faults>,
    carried: &AtomicU64,
    counters: &Counters,
) -> Result<(), ()> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut last = Instant::now() - Duration::from_secs(3600);
    loop {
        let want = match faults.borrow().bandwidth {
            // At most a tenth of a second of traffic per chunk, so the cap is smooth.
            Some(rate) => usize::try_from(rate / 10)
                .unwrap_or(usize::MAX)
                .clamp(1, buf.len()),
            None => buf.len(),
        };
        let n = match from.read(&mut buf[..want]).await {
            Ok(0) => {
                let _ = to.shutdown().await;
                return Ok(());
            }
            Ok(n) => n,
            Err(_) => return Err(()),
        };
        loop {
            let until = faults.borrow().stalled_until;
            match until {
                Some(until) if Instant::now() < until => {
                    // Until the stall ends, or the faults change (healed).
                    tokio::select! {
                        () = tokio::time::sleep_until(until.into()) => {}
                        changed = faults.changed() => {
                            if changed.is_err() {
                                return Err(());
                            }
                        }
                    }
                }
                _ => break,
            }
        }
        let (latency, reset_after, bandwidth) = {
            let f = faults.borrow();
            (f.latency, f.reset_after, f.bandwidth)
        };
        // Latency delays each exchange (the first bytes after a pause), not every chunk
        // of a stream, which would turn it into a bandwidth cap.
        if !latency.is_zero() && last.elapsed() >= latency {
            tokio::time::sleep(latency).await;
        }
        let len = n as u64;
        let before = carried.fetch_add(len, Ordering::SeqCst);
        if let Some(limit) = reset_after
            && before + len > limit
        {
            // Forward what fits under the limit, then reset: the peer sees a cut stream.
            let fits = usize::try_from(limit.saturating_sub(before))
                .unwrap_or(n)
                .min(n);
            let _ = to.write_all(&buf[..fits]).await;
            return Err(());
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return Err(());
        }
        counters.bytes.fetch_add(len, Ordering::Relaxed);
        last = Instant::now();
        if let Some(rate) = bandwidth {
            tokio::time::sleep(Duration::from_secs_f64(len as f64 / rate as f64)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait;
    use std::io::{Read, Write};
    use std::net::TcpStream as StdStream;

    /// An upstream that echoes everything back.
    fn echo() -> (SocketAddr, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 8192];
                    loop {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if stream.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        (addr, thread)
    }

    fn round_trip(proxy: &FaultProxy, bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut s = StdStream::connect(proxy.addr())?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(bytes)?;
        let mut back = vec![0u8; bytes.len()];
        s.read_exact(&mut back)?;
        Ok(back)
    }

    #[test]
    fn every_fault_does_what_it_says() {
        let (upstream, _echo) = echo();
        let proxy = FaultProxy::start(upstream);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(round_trip(&proxy, &data).unwrap(), data, "faithful");

        proxy.latency(Duration::from_millis(200));
        let t = Instant::now();
        assert_eq!(round_trip(&proxy, b"ping").unwrap(), b"ping");
        assert!(
            t.elapsed() >= Duration::from_millis(400),
            "latency both ways"
        );
        proxy.heal();

        proxy.bandwidth(100_000);
        let t = Instant::now();
        assert_eq!(round_trip(&proxy, &data).unwrap(), data);
        assert!(
            t.elapsed() >= Duration::from_millis(900),
            "capped: {:?}",
            t.elapsed()
        );
        proxy.heal();

        proxy.stall(Duration::from_millis(700));
        let t = Instant::now();
        assert_eq!(round_trip(&proxy, b"ping").unwrap(), b"ping");
        assert!(t.elapsed() >= Duration::from_millis(600), "stalled");

        proxy.reset_after(1000);
        let err = round_trip(&proxy, &data).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::BrokenPipe
            ),
            "{err}"
        );
        proxy.heal();

        let mut open = StdStream::connect(proxy.addr()).unwrap();
        open.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        open.read_exact(&mut one).unwrap();
        proxy.reset_all();
        std::thread::sleep(Duration::from_millis(100));
        let mut rest = [0u8; 1];
        assert!(!matches!(open.read(&mut rest), Ok(1)), "reset");

        // The proxy closes and reopens its port on its own thread: each change is awaited
        // (a loaded machine may take a while to get there), then checked.
        proxy.refuse();
        let refused = wait::until("the port closes", wait::EVENTUALLY, || {
            StdStream::connect(proxy.addr()).err()
        });
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        proxy.heal();
        let back = wait::until("the port reopens", wait::EVENTUALLY, || {
            round_trip(&proxy, b"back")
        });
        assert_eq!(back, b"back");

        // Down for a while (long enough to see it closed on a loaded machine), then back
        // by itself: not before its time, and eventually.
        let down = Duration::from_secs(5);
        let downed = Instant::now();
        proxy.down_for(down);
        wait::until("the port closes", down, || {
            StdStream::connect(proxy.addr()).is_err()
        });
        let up = wait::until(
            "the port reopens by itself",
            down + wait::EVENTUALLY,
            || round_trip(&proxy, b"up"),
        );
        assert_eq!(up, b"up");
        assert!(
            downed.elapsed() >= down,
            "back after {:?}",
            downed.elapsed()
        );
        assert!(proxy.resets() >= 2);
        assert!(proxy.connections() >= 6);
    }
}
