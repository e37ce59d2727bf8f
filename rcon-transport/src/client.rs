//! The tokio RCON client: a thin shell that moves bytes and time for [`Connection`].
//!
//! One background task owns the socket. [`RconClient`] handles (cheap to clone) send it
//! requests over a bounded channel, so any number of tasks can have commands in flight at once;
//! the task keeps at most [`ClientConfig::max_in_flight`] on the wire and the rest wait in the
//! channel (backpressure). When the connection drops, the commands on the wire fail with
//! [`CommandError::ConnectionLost`] (they may or may not have run), and the task reconnects with
//! [`Backoff`]; commands issued meanwhile wait in the channel and go out after the reconnect.
//! A wrong password is never retried: it stops the client.
//!
//! Per-command timeouts run from the moment the command is written, not while it waits for a
//! connection; wrap [`RconClient::command`] in `tokio::time::timeout` for an overall bound.

use std::collections::HashMap;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant as TokioInstant;

use crate::backoff::{Backoff, BackoffConfig};
use crate::connection::{
    CommandError, CommandId, Connection, ConnectionConfig, ConnectionError, Event,
};
use crate::password::Password;

/// Settings of a client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of the server. Use `127.0.0.1`, not `localhost`: Factorio listens on IPv4.
    pub address: String,
    /// The RCON password (redacted in `Debug`).
    pub password: Password,
    /// Protocol settings: reply mode, limits, timeouts.
    pub connection: ConnectionConfig,
    /// Reconnect delays.
    pub backoff: BackoffConfig,
    /// Time allowed for the TCP connect. Default 5 s.
    pub connect_timeout: Duration,
    /// Commands on the wire at once. Default 64.
    pub max_in_flight: usize,
    /// Commands waiting for the wire (the request channel's capacity). Default 256.
    pub queue: usize,
}

impl ClientConfig {
    /// Defaults for `address` and `password`.
    pub fn new(address: impl Into<String>, password: impl Into<Password>) -> Self {
        ClientConfig {
            address: address.into(),
            password: password.into(),
            connection: ConnectionConfig::default(),
            backoff: BackoffConfig::default(),
            connect_timeout: Duration::from_secs(5),
            max_in_flight: 64,
            queue: 256,
        }
    }
}

/// Errors of the client.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RconError {
    /// A command failed (timeout, lost connection, too long...).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The TCP connection could not be made.
    #[error("cannot connect to RCON server at {address}: {reason}")]
    Connect {
        /// The address tried.
        address: String,
        /// What the connect call or its timeout reported.
        reason: String,
    },
    /// The connection failed during the first connect (for example a wrong password).
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The client stopped and takes no more commands.
    #[error("RCON client stopped: {0}")]
    Stopped(StopReason),
}

impl RconError {
    /// True if the server rejected the password.
    pub fn is_wrong_password(&self) -> bool {
        matches!(
            self,
            RconError::Connection(ConnectionError::WrongPassword)
                | RconError::Stopped(StopReason::WrongPassword)
        )
    }
}

/// Why the client stopped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StopReason {
    /// The server rejected the password (on the first connect or a reconnect).
    #[error("the server rejected the password")]
    WrongPassword,
    /// [`BackoffConfig::max_attempts`] reconnects failed in a row.
    #[error("gave up after {attempts} reconnect attempts; last error: {last}")]
    GaveUp {
        /// Reconnect attempts made.
        attempts: u32,
        /// How the last one failed.
        last: ConnectionError,
    },
    /// The first connection failed; [`RconClient::connect`] returned its error.
    #[error("the first connection failed: {0}")]
    FirstConnectFailed(ConnectionError),
    /// Every [`RconClient`] handle was dropped.
    #[error("all client handles were dropped")]
    ClientsGone,
    /// The connection task ended unexpectedly.
    #[error("the connection task ended")]
    TaskEnded,
}

/// A reply body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply(pub Vec<u8>);

impl Reply {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The body as text, with invalid UTF-8 replaced.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

/// The state of the link, observable through [`RconClient::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStatus {
    /// The first connection is being made.
    Connecting,
    /// Authenticated. `generation` counts connections: 0 for the first, +1 per reconnect.
    Connected {
        /// 0 for the first connection, +1 per reconnect.
        generation: u64,
    },
    /// Lost; reconnect attempt `attempt` is due after the backoff delay.
    Reconnecting {
        /// 1-based number of the attempt.
        attempt: u32,
        /// Why the connection was lost.
        reason: String,
    },
    /// Gave up (wrong password, attempts exhausted) or all handles were dropped.
    Stopped(StopReason),
}

struct Request {
    body: String,
    timeout: Option<Duration>,
    respond: oneshot::Sender<Result<Reply, RconError>>,
}

/// A handle to a connected RCON client. Clone it freely; the connection task ends when the last
/// handle is dropped.
#[derive(Debug, Clone)]
pub struct RconClient {
    requests: mpsc::Sender<Request>,
    status: watch::Receiver<LinkStatus>,
}

impl RconClient {
    /// Connects and authenticates. Fails if this first attempt fails (a wrong password is
    /// [`RconError::is_wrong_password`]); later losses are reconnected in the background.
    pub async fn connect(config: ClientConfig) -> Result<RconClient, RconError> {
        let (requests_tx, requests_rx) = mpsc::channel(config.queue.max(1));
        let (status_tx, status_rx) = watch::channel(LinkStatus::Connecting);
        let stream = open(&config).await?;
        let (first_tx, first_rx) = oneshot::channel();
        let driver = Driver {
            backoff: Backoff::new(config.backoff.clone()),
            config,
            requests: requests_rx,
            status: status_tx,
            first: Some(first_tx),
            generation: 0,
        };
        tokio::spawn(driver.run(stream));
        match first_rx.await {
            Ok(Ok(())) => Ok(RconClient {
                requests: requests_tx,
                status: status_rx,
            }),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(RconError::Stopped(StopReason::TaskEnded)),
        }
    }

    /// Runs a command with the configured timeout and returns its reply.
    pub async fn command(&self, body: impl Into<String>) -> Result<Reply, RconError> {
        self.request(body.into(), None).await
    }

    /// Runs a command that fails with [`CommandError::TimedOut`] if its reply takes longer than
    /// `timeout` after it was written.
    pub async fn command_with_timeout(
        &self,
        body: impl Into<String>,
        timeout: Duration,
    ) -> Result<Reply, RconError> {
        self.request(body.into(), Some(timeout)).await
    }

    /// The current link status.
    pub fn status(&self) -> LinkStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn watch_status(&self) -> watch::Receiver<LinkStatus> {
        self.status.clone()
    }

    async fn request(&self, body: String, timeout: Option<Duration>) -> Result<Reply, RconError> {
        let (respond, response) = oneshot::channel();
        let request = Request {
            body,
            timeout,
            respond,
        };
        if self.requests.send(request).await.is_err() {
            return Err(self.stopped());
        }
        response.await.unwrap_or_else(|_| Err(self.stopped()))
    }

    fn stopped(&self) -> RconError {
        let reason = match &*self.status.borrow() {
            LinkStatus::Stopped(reason) => reason.clone(),
            _ => StopReason::TaskEnded,
        };
        RconError::Stopped(reason)
    }
}

async fn open(config: &ClientConfig) -> Result<TcpStream, RconError> {
    let connect = TcpStream::connect(config.address.as_str());
    let stream = match tokio::time::timeout(config.connect_timeout, connect).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            return Err(RconError::Connect {
                address: config.address.clone(),
                reason: err.to_string(),
            });
        }
        Err(_) => {
            return Err(RconError::Connect {
                address: config.address.clone(),
                reason: format!("no answer within {:?}", config.connect_timeout),
            });
        }
    };
    // Pipelined small commands must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

fn now() -> std::time::Instant {
    TokioInstant::now().into_std()
}

/// How one connection ended.
enum SessionEnd {
    /// Every handle was dropped.
    ClientsGone,
    /// The connection failed; reconnecting may help.
    Lost(ConnectionError),
    /// Reconnecting cannot help (wrong password).
    Fatal(ConnectionError),
}

/// The connection task: what outlives one connection, and the loop over connections.
struct Driver {
    config: ClientConfig,
    requests: mpsc::Receiver<Request>,
    status: watch::Sender<LinkStatus>,
    /// [`RconClient::connect`] waiting for the first authentication (or its failure).
    first: Option<oneshot::Sender<Result<(), RconError>>>,
    backoff: Backoff,
    /// Connections made so far, minus one ([`LinkStatus::Connected`]).
    generation: u64,
}

impl Driver {
    async fn run(mut self, first_stream: TcpStream) {
        let mut stream = Some(first_stream);
        let reason = loop {
            // The first connection was opened by `connect`; later ones are opened here.
            let opened = match stream.take() {
                Some(stream) => Ok(stream),
                None => open(&self.config).await,
            };
            let end = match opened {
                Ok(stream) => self.serve(stream).await,
                Err(err) => SessionEnd::Lost(ConnectionError::Disconnected {
                    reason: err.to_string(),
                }),
            };
            match end {
                SessionEnd::ClientsGone => break StopReason::ClientsGone,
                SessionEnd::Fatal(err) => {
                    if let Some(first) = self.first.take() {
                        let _ = first.send(Err(RconError::Connection(err.clone())));
                    }
                    break StopReason::WrongPassword;
                }
                SessionEnd::Lost(err) => {
                    if let Some(first) = self.first.take() {
                        let _ = first.send(Err(RconError::Connection(err.clone())));
                        break StopReason::FirstConnectFailed(err);
                    }
                    let Some(delay) = self.backoff.next_delay() else {
                        break StopReason::GaveUp {
                            attempts: self.backoff.attempts(),
                            last: err,
                        };
                    };
                    tracing::warn!(error = %err, attempt = self.backoff.attempts(), ?delay, "RCON connection lost; reconnecting");
                    let _ = self.status.send(LinkStatus::Reconnecting {
                        attempt: self.backoff.attempts(),
                        reason: err.to_string(),
                    });
                    tokio::time::sleep(delay).await;
                    self.generation += 1;
                }
            }
        };
        tracing::info!(%reason, "RCON client stopped");
        let _ = self.status.send(LinkStatus::Stopped(reason.clone()));
        self.requests.close();
        while let Ok(request) = self.requests.try_recv() {
            let _ = request
                .respond
                .send(Err(RconError::Stopped(reason.clone())));
        }
    }

    /// Serves one connection until it ends.
    async fn serve(&mut self, stream: TcpStream) -> SessionEnd {
        let config = &self.config;
        let mut connection = Connection::new(config.connection.clone(), &config.password, now());
        let mut waiting: HashMap<CommandId, oneshot::Sender<Result<Reply, RconError>>> =
            HashMap::new();
        let (mut reader, mut writer) = stream.into_split();
        let mut read_buf = vec![0u8; 64 * 1024];
        let mut out: Vec<u8> = Vec::new();
        let mut written = 0usize;
        loop {
            if let Some(bytes) = connection.transmit() {
                if written == out.len() {
                    out = bytes;
                    written = 0;
                } else {
                    out.extend_from_slice(&bytes);
                }
            }
            while let Some(event) = connection.poll_event() {
                match event {
                    Event::Authenticated => {
                        self.backoff.reset();
                        let generation = self.generation;
                        tracing::debug!(address = %config.address, generation, "RCON authenticated");
                        let _ = self.status.send(LinkStatus::Connected { generation });
                        if let Some(first) = self.first.take() {
                            let _ = first.send(Ok(()));
                        }
                    }
                    Event::Reply { command, body } => {
                        if let Some(respond) = waiting.remove(&command) {
                            let _ = respond.send(Ok(Reply(body)));
                        }
                    }
                    Event::CommandFailed { command, error } => {
                        if let Some(respond) = waiting.remove(&command) {
                            let _ = respond.send(Err(RconError::Command(error)));
                        }
                    }
                    Event::Closed(err) => {
                        return match err {
                            ConnectionError::WrongPassword => SessionEnd::Fatal(err),
                            err => SessionEnd::Lost(err),
                        };
                    }
                }
            }
            let accepting =
                connection.is_ready() && connection.outstanding() < config.max_in_flight.max(1);
            let deadline = connection.poll_timeout();
            tokio::select! {
                read = reader.read(&mut read_buf) => match read {
                    Ok(0) => connection.close(ConnectionError::Disconnected {
                        reason: "the server closed the connection".into(),
                    }),
                    Ok(n) => connection.handle_input(&read_buf[..n]),
                    Err(err) => connection.close(ConnectionError::Disconnected { reason: err.to_string() }),
                },
                wrote = writer.write(&out[written..]), if written < out.len() => match wrote {
                    Ok(0) => connection.close(ConnectionError::Disconnected {
                        reason: "the connection refused more data".into(),
                    }),
                    Ok(n) => written += n,
                    Err(err) => connection.close(ConnectionError::Disconnected { reason: err.to_string() }),
                },
                request = self.requests.recv(), if accepting => match request {
                    None => {
                        let _ = writer.shutdown().await;
                        return SessionEnd::ClientsGone;
                    }
                    Some(request) => {
                        if request.respond.is_closed() {
                            continue;
                        }
                        let sent = match request.timeout {
                            Some(timeout) => connection.send_command_with_timeout(&request.body, timeout, now()),
                            None => connection.send_command(&request.body, now()),
                        };
                        match sent {
                            Ok(command) => {
                                waiting.insert(command, request.respond);
                            }
                            Err(err) => {
                                let _ = request.respond.send(Err(RconError::Command(err)));
                            }
                        }
                    }
                },
                _ = sleep_until(deadline), if deadline.is_some() => connection.handle_timeout(now()),
            }
        }
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(TokioInstant::from_std(deadline)).await,
        None => std::future::pending().await,
    }
}
