//! `invsync bench`: the transfer path measured directly.
//!
//! For every sample kind it starts the emulator (virtual ticks, deterministic) as a child process
//! with a real stdout pipe and a real loopback RCON port, running the reference Lua module, and
//! moves the sample through the host's [`invsync_host::Link`]:
//!
//! * `to_game`: the host sends the payload; it is done when the module hands the verified payload
//!   to the scenario. Ticks run from the first tick a byte of it streamed into the game.
//! * `to_host`: the scenario sends back the payload it received; it is done when the last frame
//!   left the game (printed on stdout, or pulled through an RCON reply). Ticks run from the first
//!   tick of the command that asked for it.
//!
//! Beside each, the same bytes move the way Clusterio does it today ([`baseline`]). Every run
//! checks that the bytes arrived intact. Nothing here asserts a speed: the numbers are reported.
//!
//! The stream model's limit for a run is `wire bytes / (commands in flight x bytes per tick)`:
//! the fewest ticks the game's input stream allows for that many bytes. Out of the game the data
//! travels in RCON replies, outside the input stream, so a `to_host` run can beat that limit
//! (a fraction above 1).

mod baseline;
mod game_process;
mod goals;
mod report;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use invsync_codec::sample::{SampleKind, generate};
use invsync_host::{DEFAULT_IN_FLIGHT, Incoming, Path};
use serde::Serialize;
use tokio::sync::mpsc;

use game_process::GameProcess;

/// Bytes per tick per command in flight: the game's default `maximum_segment_size` with no
/// players (the emulator's default).
pub const BYTES_PER_TICK: f64 = 100.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Host -> game, over RCON commands.
    #[value(name = "to_game")]
    ToGame,
    /// Game -> host, on stdout or through RCON replies.
    #[value(name = "to_host")]
    ToHost,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Sample kinds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "small,rep,bp,huge")]
    kind: Vec<SampleKind>,
    /// Directions, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "to_game,to_host")]
    direction: Vec<Direction>,
    /// Commands in flight; a comma-separated list sweeps concurrency.
    #[arg(long = "in-flight", value_delimiter = ',', default_values_t = [DEFAULT_IN_FLIGHT])]
    in_flight: Vec<usize>,
    /// Sample seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Skip the Clusterio-style baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Print one JSON object `{"runs": [...], "goals": [...]}` instead of the table (each goal:
    /// `goal`, `value`, `met`).
    #[arg(long)]
    json: bool,
    /// Write the emulator's per-tick trace (Lua time, instructions, commands) of each game
    /// started to `<DIR>/<kind>-<in-flight>.log`, to see where ticks and milliseconds go.
    #[arg(long, value_name = "DIR")]
    tick_log: Option<std::path::PathBuf>,
}

/// One measured run, as printed by `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub kind: String,
    pub direction: Direction,
    pub method: String,
    pub in_flight: usize,
    pub payload_bytes: u64,
    pub wire_bytes: u64,
    pub frames: u32,
    pub path: String,
    pub ticks: u64,
    pub baseline_ticks: Option<u64>,
    pub baseline_wire_bytes: Option<u64>,
    pub speedup: Option<f64>,
    pub limit_ticks: f64,
    pub limit_fraction: f64,
    pub max_tick_lua_ms: f64,
    pub p99_tick_lua_ms: f64,
    pub max_tick_instructions: u64,
    pub baseline_max_tick_lua_ms: Option<f64>,
    pub host_cpu_ms: f64,
    pub verified: bool,
}

/// What one transfer measured.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub method: String,
    pub path: String,
    pub frames: u32,
    pub wire_bytes: u64,
    pub first_tick: u64,
    pub end_tick: u64,
    pub max_tick_lua_ms: f64,
    pub p99_tick_lua_ms: f64,
    pub max_tick_instructions: u64,
    pub host_cpu_ms: f64,
}

impl Measured {
    fn ticks(&self) -> u64 {
        self.end_tick.saturating_sub(self.first_tick)
    }
}

/// The emulator's per-tick accounting, as a partial [`Measured`].
pub fn stats_of(stats: &serde_json::Value) -> anyhow::Result<Measured> {
    let num = |k: &str| {
        stats[k]
            .as_f64()
            .with_context(|| format!("emulator stats lack {k}: {stats}"))
    };
    Ok(Measured {
        first_tick: stats["first_command_tick"]
            .as_u64()
            .with_context(|| format!("no command streamed in: {stats}"))?,
        max_tick_lua_ms: num("max_tick_lua_ms")?,
        p99_tick_lua_ms: num("p99_tick_lua_ms")?,
        max_tick_instructions: num("max_tick_instructions")? as u64,
        ..Measured::default()
    })
}

/// CPU time of this process (user + system), in ms: the host's share, not the emulator's.
pub fn cpu_ms() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// What the bench waits for on the game's stdout.
#[derive(Debug)]
pub enum Arrival {
    /// An application message from the game.
    Message {
        id: u32,
        payload: Vec<u8>,
        method: String,
        count: u32,
        wire_len: u64,
        path: Path,
    },
    /// A Clusterio IPC upload line (the baseline).
    IpcLine(String),
}

/// Forwards the link's events that the bench waits for; everything else is logged or dropped.
fn forward(mut incoming: mpsc::Receiver<Incoming>, verbose: bool) -> mpsc::Receiver<Arrival> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Some(event) = incoming.recv().await {
            let arrival = match event {
                Incoming::Message(m) => Arrival::Message {
                    id: m.id,
                    payload: m.payload,
                    method: m.method.to_string(),
                    count: m.count,
                    wire_len: m.wire_len,
                    path: m.path,
                },
                Incoming::Log(line) if line.text.starts_with(baseline::IPC_UPLOAD) => {
                    Arrival::IpcLine(line.text)
                }
                Incoming::Stopped(why) => {
                    eprintln!("invsync bench: the link stopped: {why}");
                    break;
                }
                other => {
                    if verbose && !matches!(other, Incoming::Log(_)) {
                        eprintln!("invsync bench: {other:?}");
                    }
                    continue;
                }
            };
            if tx.send(arrival).await.is_err() {
                break;
            }
        }
    });
    rx
}

pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    if args.in_flight.contains(&0) {
        bail!("--in-flight must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let runs = rt.block_on(run_all(args))?;
    let goals = goals::judge(&runs);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "runs": runs, "goals": goals }))?
        );
    } else {
        print!("{}", report::table(&runs, &goals));
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_all(args: &BenchArgs) -> anyhow::Result<Vec<Run>> {
    let dir = tempfile::tempdir()?;
    let scenario = game_process::write_scenario(dir.path())?;
    let total = (args.kind.len() * args.in_flight.len() * args.direction.len()) as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("template"),
    );
    if args.json {
        // Keep stdout for the JSON; the bar draws on stderr either way.
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    let mut runs = Vec::new();
    for &kind in &args.kind {
        let payload = generate(kind, args.seed);
        let mut baselines: Option<(Option<Measured>, Option<Measured>)> = None;
        for &k in &args.in_flight {
            bar.set_message(format!("{kind}, {k} in flight: starting the game"));
            let tick_log = match &args.tick_log {
                Some(dir) => {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                    Some(dir.join(format!("{kind}-{k}.log")))
                }
                None => None,
            };
            let (game, incoming) = GameProcess::start(&scenario, k, tick_log.as_deref()).await?;
            let mut arrivals = forward(incoming, false);
            let result = run_kind(
                args,
                &game,
                &mut arrivals,
                kind,
                k,
                &payload,
                &bar,
                &mut baselines,
            )
            .await;
            game.stop().await;
            runs.extend(result.with_context(|| format!("bench of {kind} with {k} in flight"))?);
        }
    }
    bar.finish_and_clear();
    Ok(runs)
}

#[allow(clippy::too_many_arguments)]
async fn run_kind(
    args: &BenchArgs,
    game: &GameProcess,
    arrivals: &mut mpsc::Receiver<Arrival>,
    kind: SampleKind,
    k: usize,
    payload: &[u8],
    bar: &ProgressBar,
    baselines: &mut Option<(Option<Measured>, Option<Measured>)>,
) -> anyhow::Result<Vec<Run>> {
    let mut watch = game.link.watch_caps();
    tokio::time::timeout(Duration::from_secs(30), watch.wait_for(|c| c.is_some()))
        .await
        .context("the game did not declare its capabilities")??;
    let wants = |d| args.direction.contains(&d);
    let mut runs = Vec::new();

    // Into the game (always: the way back echoes what arrived).
    bar.set_message(format!("{kind}: to_game, {k} in flight"));
    let ours = to_game(game, payload).await?;
    if baselines.is_none() {
        let base_in = if args.no_baseline || !wants(Direction::ToGame) {
            None
        } else {
            bar.set_message(format!("{kind}: to_game, Clusterio baseline"));
            Some(baseline::to_game(game, payload).await?)
        };
        let base_out = if args.no_baseline || !wants(Direction::ToHost) {
            None
        } else {
            bar.set_message(format!("{kind}: to_host, Clusterio baseline"));
            Some(baseline::to_host(game, arrivals, payload).await?)
        };
        *baselines = Some((base_in, base_out));
    }
    let (base_in, base_out) = baselines.clone().unwrap_or_default();
    if wants(Direction::ToGame) {
        runs.push(make_run(
            kind,
            Direction::ToGame,
            k,
            payload.len(),
            &ours,
            base_in.as_ref(),
            true,
        ));
        bar.inc(1);
    }
    if wants(Direction::ToHost) {
        bar.set_message(format!("{kind}: to_host, {k} in flight"));
        let (back, verified) = to_host(game, arrivals, payload).await?;
        runs.push(make_run(
            kind,
            Direction::ToHost,
            k,
            payload.len(),
            &back,
            base_out.as_ref(),
            verified,
        ));
        bar.inc(1);
    }
    Ok(runs)
}

/// Host -> game through the link.
async fn to_game(game: &GameProcess, payload: &[u8]) -> anyhow::Result<Measured> {
    game.reset_stats().await?;
    let cpu = cpu_ms();
    let delivered = game
        .link
        .send(payload.to_vec())
        .await
        .context("sending to the game")?;
    let host_cpu_ms = cpu_ms() - cpu;
    // "<tick> <bytes>": when the module handed the payload to the scenario, and its length.
    let got = game.bench_call("received", "").await?;
    let stats = game.stats().await?;
    let mut it = got.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(end_tick)), Some(Ok(len))) = (it.next(), it.next()) else {
        bail!("bench scenario `received` answered {got:?}");
    };
    if len != payload.len() as u64 {
        bail!("the game received {len} bytes of {}", payload.len());
    }
    Ok(Measured {
        method: delivered.method.to_string(),
        path: "rcon".into(),
        frames: delivered.frames,
        wire_bytes: delivered.command_bytes,
        end_tick,
        host_cpu_ms,
        ..stats_of(&stats)?
    })
}

/// Game -> host: the scenario sends back what it received.
async fn to_host(
    game: &GameProcess,
    arrivals: &mut mpsc::Receiver<Arrival>,
    payload: &[u8],
) -> anyhow::Result<(Measured, bool)> {
    game.reset_stats().await?;
    let cpu = cpu_ms();
    // "<game message id>"
    let id: u32 = game
        .bench_call("echo", "")
        .await?
        .parse()
        .context("echo answers a message id")?;
    let (got, method, count, wire_len, path) = loop {
        match tokio::time::timeout(Duration::from_secs(120), arrivals.recv()).await {
            Ok(Some(Arrival::Message {
                id: got_id,
                payload,
                method,
                count,
                wire_len,
                path,
            })) if got_id == id => {
                break (payload, method, count, wire_len, path);
            }
            Ok(Some(_)) => continue,
            Ok(None) => bail!("the game's stdout ended"),
            Err(_) => bail!("message {id} did not arrive within 120 s"),
        }
    };
    let host_cpu_ms = cpu_ms() - cpu;
    // "<tick>": when the last frame of the message left the game.
    let end: u64 = game
        .bench_call("sent", &format!(",{id}"))
        .await?
        .parse()
        .context("`sent` answers a tick")?;
    let stats = game.stats().await?;
    Ok((
        Measured {
            method,
            path: match path {
                Path::Stdout => "stdout".into(),
                Path::Pulled => "pulled".into(),
            },
            frames: count,
            wire_bytes: wire_len,
            end_tick: end,
            host_cpu_ms,
            ..stats_of(&stats)?
        },
        got == payload,
    ))
}

fn make_run(
    kind: SampleKind,
    direction: Direction,
    k: usize,
    payload_bytes: usize,
    m: &Measured,
    base: Option<&Measured>,
    verified: bool,
) -> Run {
    let ticks = m.ticks().max(1);
    let limit_ticks = m.wire_bytes as f64 / (k as f64 * BYTES_PER_TICK);
    Run {
        kind: kind.to_string(),
        direction,
        method: m.method.clone(),
        in_flight: k,
        payload_bytes: payload_bytes as u64,
        wire_bytes: m.wire_bytes,
        frames: m.frames,
        path: m.path.clone(),
        ticks,
        baseline_ticks: base.map(|b| b.ticks().max(1)),
        baseline_wire_bytes: base.map(|b| b.wire_bytes),
        speedup: base.map(|b| b.ticks().max(1) as f64 / ticks as f64),
        limit_ticks,
        limit_fraction: limit_ticks / ticks as f64,
        max_tick_lua_ms: m.max_tick_lua_ms,
        p99_tick_lua_ms: m.p99_tick_lua_ms,
        max_tick_instructions: m.max_tick_instructions,
        baseline_max_tick_lua_ms: base.map(|b| b.max_tick_lua_ms),
        host_cpu_ms: m.host_cpu_ms,
        verified,
    }
}
