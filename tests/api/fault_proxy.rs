//! A TCP proxy that can cut a backend off: the app under test reaches
//! PostgreSQL or Redis through it, and [`FaultProxy::cut`] makes the backend
//! look stopped (every open connection closed, every new one closed as soon
//! as it is accepted) until [`FaultProxy::restore`].
//!
//! Bounded: the proxy lives as long as its value; dropping it aborts the
//! accept loop and with it every connection it forwards.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How long `cut` waits for the forwarded connections to close.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

pub struct FaultProxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    open: watch::Sender<usize>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Listen on 127.0.0.1:0 and forward every connection to `target`
    /// (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (cut, _) = watch::channel(false);
        let (open, _) = watch::channel(0usize);
        let accept = tokio::spawn(accept_loop(
            listener,
            target.to_string(),
            cut.clone(),
            open.clone(),
        ));
        Self {
            addr,
            cut,
            open,
            accept,
        }
    }

    /// `127.0.0.1:PORT`, to put in the app's URL instead of the backend's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The backend is gone: close every forwarded connection (returns once
    /// they are closed) and close new ones as soon as they are accepted.
    pub async fn cut(&self) {
        self.cut.send_replace(true);
        let mut open = self.open.subscribe();
        tokio::time::timeout(CLOSE_WAIT, open.wait_for(|n| *n == 0))
            .await
            .expect("the proxied connections close when cut")
            .expect("the proxy is running");
    }

    /// The backend is back: forward new connections again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }

    /// Connections being forwarded now.
    pub fn open_connections(&self) -> usize {
        *self.open.borrow()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every
        // connection task.
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: String,
    cut: watch::Sender<bool>,
    open: watch::Sender<usize>,
) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of descriptors, say: give the system a moment.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while connections.try_join_next().is_some() {}
        if *cut.borrow() {
            drop(client);
            continue;
        }
        open.send_modify(|n| *n += 1);
        let guard = OpenGuard(open.clone());
        let cut = cut.subscribe();
        connections.spawn(forward(client, target.clone(), cut, guard));
    }
}

/// Forward until either side closes or the proxy is cut.
async fn forward(
    mut client: TcpStream,
    target: String,
    mut cut: watch::Receiver<bool>,
    _open: OpenGuard,
) {
    let relay = async {
        let Ok(mut server) = TcpStream::connect(&target).await else {
            return;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let _ = copy_bidirectional(&mut client, &mut server).await;
    };
    tokio::select! {
        () = relay => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
    // Both streams drop here: the app sees its connection closed.
}

/// Counts a connection as open until its task ends (or is aborted).
struct OpenGuard(watch::Sender<usize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// `url` with its `host[:port]` replaced by `addr`, everything else
/// (user, path, query such as `options=-c search_path=…`) kept as it is.
pub fn through(url: &str, addr: SocketAddr) -> String {
    let (start, end, at) = authority(url);
    format!(
        "{}{addr}{}",
        &url[..at.map_or(start, |a| a + 1)],
        &url[end..]
    )
}

/// The `host:port` a URL points at (`default_port` when it names none).
pub fn target_of(url: &str, default_port: u16) -> String {
    let (start, end, at) = authority(url);
    let host_port = &url[at.map_or(start, |a| a + 1)..end];
    if host_port
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host_port.to_string()
    } else {
        format!("{host_port}:{default_port}")
    }
}

/// (start, end) of the authority after `scheme://`, and the index of the
/// `@` ending its userinfo, if any.
fn authority(url: &str) -> (usize, usize, Option<usize>) {
    let start = url.find("://").expect("a URL with ://") + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let at = url[start..end].rfind('@').map(|i| start + i);
    (start, end, at)
}

#[tokio::test]
async fn the_proxy_forwards_cuts_and_restores() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // An echo server stands in for the backend.
    let echo = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let echo_addr = echo.local_addr().expect("echo addr");
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = echo.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let proxy = FaultProxy::start(&echo_addr.to_string()).await;
    let roundtrip = |mut s: TcpStream| async move {
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ping");
        Ok::<_, std::io::Error>(s)
    };
    let bounded = Duration::from_secs(5);

    let connect = || TcpStream::connect(proxy.addr());
    let open = roundtrip(connect().await.expect("connect"))
        .await
        .expect("forwarded");
    assert_eq!(proxy.open_connections(), 1);

    proxy.cut().await;
    assert_eq!(proxy.open_connections(), 0);
    let mut buf = [0u8; 1];
    let mut open = open;
    let read = tokio::time::timeout(bounded, open.read(&mut buf))
        .await
        .expect("the cut connection answers at once");
    assert!(matches!(read, Ok(0) | Err(_)), "closed: {read:?}");
    let fresh = connect().await.expect("the proxy still accepts");
    let refused = tokio::time::timeout(bounded, roundtrip(fresh))
        .await
        .expect("a new connection is closed at once");
    assert!(refused.is_err(), "a new connection is not forwarded");

    proxy.restore();
    roundtrip(connect().await.expect("connect"))
        .await
        .expect("forwarded again");

    drop(proxy);
    server.abort();
}

#[test]
fn urls_are_rewritten_to_the_proxy_and_nothing_else() {
    let addr: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let pg = "postgres://postgres@127.0.0.1:5432/test?options=-c%20search_path%3Dt_ab";
    assert_eq!(
        through(pg, addr),
        "postgres://postgres@127.0.0.1:40000/test?options=-c%20search_path%3Dt_ab"
    );
    assert_eq!(target_of(pg, 5432), "127.0.0.1:5432");
    assert_eq!(
        through("redis://127.0.0.1:6379", addr),
        "redis://127.0.0.1:40000"
    );
    assert_eq!(
        through("redis://:pw@localhost/0", addr),
        "redis://:pw@127.0.0.1:40000/0"
    );
    assert_eq!(target_of("redis://:pw@localhost/0", 6379), "localhost:6379");
}
