//! `/metrics` (the Prometheus text format, rendered by `metrics-exporter-prometheus`) and
//! `/healthz` over HTTP.
//!
//! Written here rather than with the exporter's own listener: that one serves the metrics only,
//! and `/healthz` must say whether the game and the store are reachable. Two fixed GET
//! endpoints do not need a web framework. Requests are bounded (8 KiB of head, 5 s), one per
//! connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MAX_HEAD: usize = 8 * 1024;

/// What `/healthz` reports.
#[derive(Debug, Default)]
pub struct Health {
    pub game: AtomicBool,
    pub store: AtomicBool,
}

/// Installs the metrics recorder (once per process).
pub fn install() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
        ])?
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))
}

/// Serves until the task is dropped.
pub async fn serve(
    bind: SocketAddr,
    handle: PrometheusHandle,
    health: Arc<Health>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {bind}: {e}"))?;
    tracing::info!(%bind, "metrics on /metrics, health on /healthz");
    loop {
        let (mut conn, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("metrics listener: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handle = handle.clone();
        let health = health.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                let mut head = Vec::with_capacity(512);
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = head.split(|&b| b == b'\r' || b == b'\n').next().unwrap_or(&[]);
                let line = String::from_utf8_lossy(line);
                let mut words = line.split(' ');
                let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                let (status, body) = match (method, path) {
                    ("GET", "/metrics") => ("200 OK", handle.render()),
                    ("GET", "/healthz") => {
                        let game = health.game.load(Ordering::Relaxed);
                        let store = health.store.load(Ordering::Relaxed);
                        let status = if game && store { "200 OK" } else { "503 Service Unavailable" };
                        (status, format!("game {}\nstore {}\n", up(game), up(store)))
                    }
                    ("GET", _) => ("404 Not Found", "not found\n".to_string()),
                    _ => ("405 Method Not Allowed", "only GET\n".to_string()),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes()).await;
                let _ = conn.shutdown().await;
            })
            .await;
        });
    }
}

fn up(ok: bool) -> &'static str {
    if ok { "up" } else { "down" }
}
