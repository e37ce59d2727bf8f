//! The tokio shell around [`LinkCore`]: [`Link`].
//!
//! One task owns the core, the [`RconClient`] and the [`StdoutStream`] over the game server's
//! stdout. It moves bytes and time and nothing else: every decision is the core's. Commands run
//! as concurrent `RconClient::command` calls (the client pipelines them on one connection and
//! matches replies by request id); encoding runs on the blocking pool, since `auto` with zlib-9
//! over a megabyte takes tens of milliseconds.
//!
//! Messages from the game, log lines and problems arrive on the [`Incoming`] channel. It is
//! bounded: when the host stops consuming it, the task waits, stops reading stdout, and the game
//! server eventually blocks on its own stdout. Consume it on its own task, promptly.

use std::collections::HashMap;

use invsync_codec::{Capabilities, Encoded, Error as CodecError};
use invsync_rcon_transport::{
    ClientConfig, CommandError, LinkStatus, RconClient, RconError, Reply,
};
use invsync_stdout_transport::{LogLine, StdoutStream, StdoutStreamConfig};
use thiserror::Error;
use tokio::io::AsyncRead;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{Id, JoinSet};
use tokio::time::Instant as TokioInstant;

use crate::config::LinkConfig;
use crate::core::{CommandToken, LinkCore};
use crate::crossing::PullError;
use crate::error::{SendError, SendFailure};
use crate::events::{Delivered, LinkEvent, Problem, ReceivedMessage};
use crate::message_ids::MessageIds;

/// Settings of a [`Link`] besides the RCON client's.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// The protocol logic's settings.
    pub link: LinkConfig,
    /// How stdout is read (line limit, reassembler limits for inline frames).
    pub stdout: StdoutStreamConfig,
    /// First host message id. `None` (default): seeded from the system clock, so a restarted
    /// host does not reuse the ids of its previous run ([`MessageIds`]).
    pub first_message_id: Option<u32>,
    /// Capacity of the [`Incoming`] channel. Default 1024.
    pub incoming: usize,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            link: LinkConfig::default(),
            stdout: StdoutStreamConfig::default(),
            first_message_id: None,
            incoming: 1024,
        }
    }
}

/// What the link hands to the host, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// An application message from the game (inline or pulled).
    Message(ReceivedMessage),
    /// An ordinary stdout line: the server log, chat included.
    Log(LogLine),
    /// A staged message could not be pulled.
    ReceiveFailed(PullError),
    /// The game declared (new) capabilities.
    CapsChanged(Capabilities),
    /// Something to log; the link carries on.
    Problem(Problem),
    /// The game server's stdout ended (`None`) or failed. RCON may still work.
    StdoutClosed(Option<String>),
    /// The link stopped (the RCON client gave up or the password was refused). The last event.
    Stopped(String),
}

/// Why a link could not be set up.
#[derive(Debug, Error)]
pub enum LinkError {
    /// The first RCON connection failed (a wrong password is
    /// [`RconError::is_wrong_password`]).
    #[error("cannot open the game's RCON: {0}")]
    Rcon(RconError),
}

struct SendRequest {
    payload: Vec<u8>,
    id: oneshot::Sender<u32>,
    wire_len: oneshot::Sender<u64>,
    outcome: oneshot::Sender<Result<Delivered, SendError>>,
}

/// A host's link to one game server. Cheap to clone; the link runs until every clone (and every
/// [`PendingSend`]) is dropped, or the RCON client stops.
#[derive(Debug, Clone)]
pub struct Link {
    requests: mpsc::Sender<SendRequest>,
    caps: watch::Receiver<Option<Capabilities>>,
    rcon: RconClient,
}

/// A message on its way into the game.
#[derive(Debug)]
pub struct PendingSend {
    id: u32,
    wire_len: Option<oneshot::Receiver<u64>>,
    outcome: oneshot::Receiver<Result<Delivered, SendError>>,
    // Keeps the link running until the outcome is known.
    _link: mpsc::Sender<SendRequest>,
}

impl PendingSend {
    /// The host message id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Waits until the message is encoded and returns its wire length (`wlen`, what the game's
    /// progress counts against), or `None` if it failed before. Once only: later calls give
    /// `None`.
    pub async fn wire_len(&mut self) -> Option<u64> {
        self.wire_len.take()?.await.ok()
    }

    /// Waits for the outcome.
    pub async fn outcome(self) -> Result<Delivered, SendError> {
        let id = self.id;
        self.outcome.await.unwrap_or_else(|_| {
            Err(SendError {
                id: Some(id),
                failure: SendFailure::LinkClosed {
                    reason: "the link task ended".into(),
                },
            })
        })
    }
}

impl Link {
    /// Connects RCON (failing if the first attempt fails), starts reading `stdout` (the game
    /// server's standard output), and asks the game for its capabilities.
    pub async fn connect<R>(
        rcon: ClientConfig,
        stdout: R,
        options: LinkOptions,
    ) -> Result<(Link, mpsc::Receiver<Incoming>), LinkError>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let client = RconClient::connect(rcon).await.map_err(LinkError::Rcon)?;
        let ids = match options.first_message_id {
            Some(first) => MessageIds::starting_at(first),
            None => MessageIds::from_system_clock(),
        };
        let core = LinkCore::new(options.link, ids, now());
        let stdout = StdoutStream::spawn(stdout, options.stdout);
        let (requests_tx, requests_rx) = mpsc::channel(64);
        let (incoming_tx, incoming_rx) = mpsc::channel(options.incoming.max(1));
        let (caps_tx, caps_rx) = watch::channel(None);
        let driver = Driver {
            core,
            client: client.clone(),
            stdout,
            stdout_open: true,
            requests: requests_rx,
            incoming: incoming_tx,
            caps: caps_tx,
            waiters: HashMap::new(),
            wire_len_waiters: HashMap::new(),
            commands: JoinSet::new(),
            command_tokens: HashMap::new(),
            encodes: JoinSet::new(),
            encode_ids: HashMap::new(),
        };
        tokio::spawn(driver.run());
        Ok((
            Link {
                requests: requests_tx,
                caps: caps_rx,
                rcon: client,
            },
            incoming_rx,
        ))
    }

    /// Queues `payload` for the game; the returned handle gives its id and outcome.
    pub async fn submit(&self, payload: impl Into<Vec<u8>>) -> Result<PendingSend, SendError> {
        let (id_tx, id_rx) = oneshot::channel();
        let (wire_len_tx, wire_len_rx) = oneshot::channel();
        let (outcome_tx, outcome_rx) = oneshot::channel();
        let request = SendRequest {
            payload: payload.into(),
            id: id_tx,
            wire_len: wire_len_tx,
            outcome: outcome_tx,
        };
        let closed = || SendError {
            id: None,
            failure: SendFailure::LinkClosed {
                reason: "the link task ended".into(),
            },
        };
        self.requests.send(request).await.map_err(|_| closed())?;
        let id = id_rx.await.map_err(|_| closed())?;
        Ok(PendingSend {
            id,
            wire_len: Some(wire_len_rx),
            outcome: outcome_rx,
            _link: self.requests.clone(),
        })
    }

    /// Sends `payload` to the game and waits until the game holds it, verified.
    pub async fn send(&self, payload: impl Into<Vec<u8>>) -> Result<Delivered, SendError> {
        self.submit(payload).await?.outcome().await
    }

    /// The game's declared capabilities (`None` until it declares them).
    pub fn caps(&self) -> Option<Capabilities> {
        self.caps.borrow().clone()
    }

    /// A receiver that sees every change of [`Link::caps`].
    pub fn watch_caps(&self) -> watch::Receiver<Option<Capabilities>> {
        self.caps.clone()
    }

    /// The RCON client, for the host's own commands (they share the connection).
    pub fn rcon(&self) -> &RconClient {
        &self.rcon
    }
}

fn now() -> std::time::Instant {
    TokioInstant::now().into_std()
}

struct Driver {
    core: LinkCore,
    client: RconClient,
    stdout: StdoutStream,
    stdout_open: bool,
    requests: mpsc::Receiver<SendRequest>,
    incoming: mpsc::Sender<Incoming>,
    caps: watch::Sender<Option<Capabilities>>,
    waiters: HashMap<u32, oneshot::Sender<Result<Delivered, SendError>>>,
    wire_len_waiters: HashMap<u32, oneshot::Sender<u64>>,
    commands: JoinSet<Result<Reply, RconError>>,
    command_tokens: HashMap<Id, CommandToken>,
    encodes: JoinSet<Result<Encoded, CodecError>>,
    encode_ids: HashMap<Id, u32>,
}

impl Driver {
    async fn run(mut self) {
        let mut status = self.client.watch_status();
        let mut generation = match &*status.borrow_and_update() {
            LinkStatus::Connected { generation } => *generation,
            _ => 0,
        };
        self.core.on_connected(now());
        loop {
            self.hand_out();
            self.forward_events().await;
            if let Some(reason) = self.core.stopped() {
                let _ = self
                    .incoming
                    .send(Incoming::Stopped(reason.to_owned()))
                    .await;
                break;
            }
            let wake = self.core.poll_timeout();
            tokio::select! {
                request = self.requests.recv() => match request {
                    Some(r) => {
                        let id = self.core.send(r.payload);
                        self.waiters.insert(id, r.outcome);
                        self.wire_len_waiters.insert(id, r.wire_len);
                        let _ = r.id.send(id);
                    }
                    None => break,
                },
                Some(joined) = self.commands.join_next_with_id(), if !self.commands.is_empty() => {
                    let (task, result) = match joined {
                        Ok((task, result)) => (task, Some(result)),
                        Err(err) => (err.id(), None),
                    };
                    if let Some(token) = self.command_tokens.remove(&task) {
                        self.on_command_result(token, result);
                    }
                }
                Some(joined) = self.encodes.join_next_with_id(), if !self.encodes.is_empty() => {
                    match joined {
                        Ok((task, result)) => {
                            if let Some(id) = self.encode_ids.remove(&task) {
                                if let (Ok(encoded), Some(waiter)) =
                                    (&result, self.wire_len_waiters.remove(&id))
                                {
                                    let _ = waiter.send(encoded.wire_len);
                                }
                                self.core.on_encoded(id, result);
                            }
                        }
                        Err(err) => {
                            if let Some(id) = self.encode_ids.remove(&err.id()) {
                                self.core.on_encoder_panicked(id, err.to_string());
                            }
                        }
                    }
                }
                event = self.stdout.next(), if self.stdout_open => match event {
                    Some(Ok(event)) => self.core.on_stdout(event),
                    Some(Err(err)) => {
                        self.stdout_open = false;
                        let _ = self.incoming.send(Incoming::StdoutClosed(Some(err.to_string()))).await;
                    }
                    None => {
                        self.stdout_open = false;
                        let _ = self.incoming.send(Incoming::StdoutClosed(None)).await;
                    }
                },
                changed = status.changed() => {
                    if changed.is_err() {
                        self.core.on_transport_stopped("the RCON client ended".into());
                        continue;
                    }
                    let current = status.borrow_and_update().clone();
                    match current {
                        LinkStatus::Connected { generation: g } if g != generation => {
                            generation = g;
                            tracing::info!(generation = g, "RCON reconnected");
                            self.core.on_connected(now());
                        }
                        LinkStatus::Stopped(reason) => self.core.on_transport_stopped(reason.to_string()),
                        _ => {}
                    }
                }
                _ = sleep_until(wake), if wake.is_some() => {}
            }
        }
        self.commands.abort_all();
        self.encodes.abort_all();
    }

    fn hand_out(&mut self) {
        while let Some(job) = self.core.next_encode_job() {
            let id = job.id;
            let task = self.encodes.spawn_blocking(move || job.run());
            self.encode_ids.insert(task.id(), id);
        }
        while let Some(command) = self.core.poll_command(now()) {
            let client = self.client.clone();
            let task = self
                .commands
                .spawn(async move { client.command(command.text).await });
            self.command_tokens.insert(task.id(), command.token);
        }
    }

    fn on_command_result(&mut self, token: CommandToken, result: Option<Result<Reply, RconError>>) {
        match result {
            Some(Ok(reply)) => self.core.on_reply(token, reply.as_bytes(), now()),
            Some(Err(RconError::Command(
                CommandError::TimedOut { .. }
                | CommandError::ConnectionLost(_)
                | CommandError::NotReady,
            )))
            | None => self.core.on_lost(token, now()),
            Some(Err(RconError::Stopped(reason))) => {
                self.core.on_transport_stopped(reason.to_string())
            }
            Some(Err(other)) => self.core.on_unsendable(token, other.to_string(), now()),
        }
    }

    async fn forward_events(&mut self) {
        while let Some(event) = self.core.poll_event() {
            let incoming = match event {
                LinkEvent::Delivered(d) => {
                    self.wire_len_waiters.remove(&d.id);
                    if let Some(waiter) = self.waiters.remove(&d.id) {
                        let _ = waiter.send(Ok(d));
                    }
                    continue;
                }
                LinkEvent::SendFailed(e) => {
                    // The core names every message it fails (the link assigned its id).
                    if let Some(id) = e.id {
                        self.wire_len_waiters.remove(&id);
                        if let Some(waiter) = self.waiters.remove(&id) {
                            let _ = waiter.send(Err(e));
                        }
                    }
                    continue;
                }
                LinkEvent::Received(m) => Incoming::Message(m),
                LinkEvent::Log(line) => Incoming::Log(line),
                LinkEvent::ReceiveFailed(e) => Incoming::ReceiveFailed(e),
                LinkEvent::CapsChanged(caps) => {
                    self.caps.send_replace(Some(caps.clone()));
                    Incoming::CapsChanged(caps)
                }
                LinkEvent::Problem(p) => {
                    tracing::warn!(problem = %p, "link problem");
                    Incoming::Problem(p)
                }
            };
            // A host that dropped its receiver does not want these; the link carries on.
            let _ = self.incoming.send(incoming).await;
        }
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(TokioInstant::from_std(deadline)).await,
        None => std::future::pending().await,
    }
}
