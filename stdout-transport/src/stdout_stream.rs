//! The tokio adapter: a [`StdoutReader`] over any `AsyncRead` (a child process's stdout).
//!
//! A task reads into a fixed buffer, runs the sans-I/O reader and sends the events through a
//! bounded channel. When the consumer falls behind, the channel fills, the task stops reading,
//! and the pipe's own buffer fills in turn: backpressure all the way to the writer. (A game
//! server blocked on its stdout stalls, so consume promptly; the channel capacity is the slack.)
//!
//! Time for the reassembler's age limit is wall time since the stream started, converted to
//! ticks (`invsync_codec::ticks_in`), so `max_age_ticks` keeps meaning game ticks at normal speed.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::stdout_reader::{StdoutEvent, StdoutReader, StdoutReaderConfig};

/// Settings of a [`StdoutStream`].
#[derive(Debug, Clone)]
pub struct StdoutStreamConfig {
    /// Line and reassembler settings.
    pub reader: StdoutReaderConfig,
    /// Bytes read at once. Default 64 KiB.
    pub read_buffer: usize,
    /// Events that may wait for the consumer. Default 1024.
    pub channel: usize,
    /// How often messages in progress are checked for their age while the stream is quiet.
    /// Default 1 s.
    pub expire_every: Duration,
}

impl Default for StdoutStreamConfig {
    fn default() -> Self {
        StdoutStreamConfig {
            reader: StdoutReaderConfig::default(),
            read_buffer: 64 * 1024,
            channel: 1024,
            expire_every: Duration::from_secs(1),
        }
    }
}

/// Events read from a stream, in order. Ends after the stream's end (or a read error).
#[derive(Debug)]
pub struct StdoutStream {
    events: mpsc::Receiver<Result<StdoutEvent, std::io::Error>>,
    task: JoinHandle<()>,
}

impl StdoutStream {
    /// Starts reading `source` on a tokio task.
    pub fn spawn<R>(source: R, config: StdoutStreamConfig) -> StdoutStream
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(config.channel.max(1));
        let task = tokio::spawn(read_loop(source, config, tx));
        StdoutStream { events: rx, task }
    }

    /// The next event; `None` once the stream has ended and every event was taken. A read
    /// error is delivered once, as the last item.
    pub async fn next(&mut self) -> Option<Result<StdoutEvent, std::io::Error>> {
        self.events.recv().await
    }
}

impl Drop for StdoutStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn ticks_since(start: Instant) -> u64 {
    invsync_codec::ticks_in(start.elapsed())
}

async fn read_loop<R>(
    mut source: R,
    config: StdoutStreamConfig,
    tx: mpsc::Sender<Result<StdoutEvent, std::io::Error>>,
) where
    R: AsyncRead + Unpin,
{
    let start = Instant::now();
    let mut reader = StdoutReader::new(config.reader);
    let mut buf = vec![0u8; config.read_buffer.max(1)];
    let mut events = Vec::new();
    let mut expiry = tokio::time::interval(config.expire_every.max(Duration::from_millis(1)));
    expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let read = tokio::select! {
            read = source.read(&mut buf) => read,
            _ = expiry.tick() => {
                reader.expire(ticks_since(start), &mut events);
                if !forward(&tx, &mut events).await {
                    return;
                }
                continue;
            }
        };
        match read {
            Ok(0) => {
                reader.finish(ticks_since(start), &mut events);
                forward(&tx, &mut events).await;
                return;
            }
            Ok(n) => {
                reader.push(&buf[..n], ticks_since(start), &mut events);
                if !forward(&tx, &mut events).await {
                    return;
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => {
                reader.finish(ticks_since(start), &mut events);
                if forward(&tx, &mut events).await {
                    let _ = tx.send(Err(err)).await;
                }
                return;
            }
        }
    }
}

/// Sends the events, waiting for room; false if the consumer is gone.
async fn forward(
    tx: &mpsc::Sender<Result<StdoutEvent, std::io::Error>>,
    events: &mut Vec<StdoutEvent>,
) -> bool {
    for event in events.drain(..) {
        if tx.send(Ok(event)).await.is_err() {
            return false;
        }
    }
    true
}
