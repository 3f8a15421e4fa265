//! A tiny axum server on 127.0.0.1:0 that stops when its handle is dropped.

use axum::Router;
use std::net::SocketAddr;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// A running HTTP server. Dropping it (or calling [`Server::shutdown`]) stops
/// accepting connections at once and closes open ones gracefully.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl Server {
    /// Binds 127.0.0.1:0, builds the router from the base URL
    /// (`http://127.0.0.1:PORT`, no trailing slash) and serves it on a tokio task.
    pub async fn start(router: impl FnOnce(String) -> Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let app = router(format!("http://{addr}"));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
                .ok();
        });
        Self {
            addr,
            stop: Mutex::new(Some(tx)),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server; later connections are refused. Idempotent.
    pub fn shutdown(&self) {
        if let Some(tx) = self.stop.lock().expect("stop lock").take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}
