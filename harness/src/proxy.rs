//! A loopback TCP proxy between a host and its game's RCON port, whose connections the harness
//! can cut, delay or stall (issue 13).
//!
//! Every byte is forwarded in order; a delay holds each chunk that long before writing it; a
//! stall holds every chunk until the stall ends (nothing is dropped); a cut closes every
//! connection open at that moment (the host connects again through the proxy).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with the bytes it forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward at once.
    Pass,
    /// Hold each chunk this long.
    Delay(Duration),
    /// Hold every chunk until the mode changes.
    Stall,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    mode: Mode,
    /// Increased by every cut: connections opened before it close.
    cuts: u64,
}

/// A running proxy; its task ends when it is dropped.
pub struct Proxy {
    /// The address the host connects to.
    pub addr: String,
    /// The game's address.
    pub upstream: String,
    state: watch::Sender<State>,
    connections: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` (in the current runtime).
    pub async fn start(upstream: &str) -> anyhow::Result<Proxy> {
        let port = crate::redis::free_port();
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = format!("127.0.0.1:{port}");
        let (tx, rx) = watch::channel(State {
            mode: Mode::Pass,
            cuts: 0,
        });
        let connections = Arc::new(AtomicU64::new(0));
        let up = upstream.to_string();
        let count = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                count.fetch_add(1, Ordering::Relaxed);
                let (up, rx) = (up.clone(), rx.clone());
                tokio::spawn(async move {
                    let cuts = rx.borrow().cuts;
                    let Ok(Ok(server)) =
                        tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&up)).await
                    else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    // either direction ending (or a cut) ends both
                    tokio::select! {
                        _ = pump(cr, sw, rx.clone(), cuts) => {}
                        _ = pump(sr, cw, rx.clone(), cuts) => {}
                    }
                });
            }
        });
        Ok(Proxy {
            addr,
            upstream: upstream.to_string(),
            state: tx,
            connections,
            task,
        })
    }

    /// Sets the mode (a stall ends when another mode is set).
    pub fn set(&self, mode: Mode) {
        self.state.send_modify(|s| s.mode = mode);
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.state.borrow().mode
    }

    /// Closes every connection open now.
    pub fn cut(&self) {
        self.state.send_modify(|s| s.cuts += 1);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        // open connections end at the next cut check
        self.state.send_modify(|s| s.cuts += 1);
    }
}

/// Copies `from` to `to` under the proxy's mode until either side closes or a cut.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut rx: watch::Receiver<State>,
    cuts: u64,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            changed = rx.changed() => {
                if changed.is_err() || rx.borrow().cuts != cuts {
                    return;
                }
                continue;
            }
        };
        // hold the chunk as the mode says, ending on a cut
        loop {
            let state = *rx.borrow_and_update();
            if state.cuts != cuts {
                return;
            }
            match state.mode {
                Mode::Pass => break,
                Mode::Delay(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => break,
                        changed = rx.changed() => if changed.is_err() { return },
                    }
                }
                Mode::Stall => {
                    if rx.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn forwards_delays_stalls_and_cuts() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = echo.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = echo.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut b = [0u8; 1024];
                    while let Ok(n) = s.read(&mut b).await {
                        if n == 0 || s.write_all(&b[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let p = Proxy::start(&upstream).await.unwrap();
        let mut c = TcpStream::connect(&p.addr).await.unwrap();
        let mut b = [0u8; 5];
        c.write_all(b"hello").await.unwrap();
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"hello");
        p.set(Mode::Delay(Duration::from_millis(20)));
        c.write_all(b"world").await.unwrap();
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"world");
        p.set(Mode::Stall);
        c.write_all(b"stall").await.unwrap();
        let stalled = tokio::time::timeout(Duration::from_millis(200), c.read_exact(&mut b)).await;
        assert!(stalled.is_err(), "nothing passes a stall");
        p.set(Mode::Pass);
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"stall");
        p.cut();
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut b))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0, "a cut closes the connection");
        assert_eq!(p.connections(), 1);
    }
}
