//! `invsync bench`: the transfer path measured directly.
//!
//! For every sample kind it starts the emulator (virtual ticks, deterministic) as a child process
//! with a real stdout pipe and a real loopback RCON port, running the reference Lua module, and
//! moves the sample through the host's [`invsync_host::Link`]:
//!
//! * `to_game`: the host sends the payload (player data); `ticks` run from the first tick a byte
//!   of it streamed into the game to the tick the module handed the verified payload to the
//!   scenario, `in_hand_ticks` to the tick the scenario had decoded it and written it into the
//!   bench player's character with the module's own pieces, within the tick budget (the player
//!   has the inventory in hand). The game then computes a CRC-32 of exactly the payload it
//!   received, in Lua, and the host compares it with its own; the character must hold every item.
//! * `to_host`: the scenario sends back the payload it received; it is done when the last frame
//!   left the game (printed on stdout, or pulled through an RCON reply). Ticks run from the first
//!   tick of the command that asked for it. The host compares what it got byte for byte with what
//!   it sent in, and its CRC with the one the game computed of what it sent back.
//!
//! Beside each, the same player moves the way Clusterio does it today ([`baseline`]), in
//! Clusterio's own serialized form ([`clusterio`]), to the same end. Nothing here asserts a
//! speed: the numbers are reported, and [`goals`] judges them.
//!
//! The stream model's limit for a run into the game is the fewest ticks the game's input stream
//! allows for its wire bytes: `max(wire bytes / (commands in flight x bytes per tick), 1) + 0.5`.
//! Streaming takes at least one tick, and a command runs on the next execution tick (every other
//! tick: half a tick's wait on average). Out of the game the data travels in RCON replies,
//! outside the input stream, so a `to_host` run can beat that limit (a fraction above 1).

mod baseline;
mod clusterio;
mod game_process;
mod goals;
mod player_format;
mod report;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use invsync_host::{DEFAULT_IN_FLIGHT, Incoming, Path};
use invsync_player_data::{SampleKind, sample};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use game_process::GameProcess;
use player_format::PlayerFormat;

/// Bytes per tick per command in flight: the game's default `maximum_segment_size` with no
/// players (the emulator's default).
pub const BYTES_PER_TICK: f64 = 100.0;
/// What the game adds to any command's ticks in the stream model: half a tick's wait on average
/// for the next execution tick (commands run every other tick).
pub const EXECUTION_WAIT_TICKS: f64 = 0.5;

/// The fewest ticks the stream model allows `wire_bytes` into the game with `k` commands in
/// flight: at least one tick of streaming, then the wait for the next execution tick.
pub fn limit_ticks(wire_bytes: u64, k: usize) -> f64 {
    (wire_bytes as f64 / (k as f64 * BYTES_PER_TICK)).max(1.0) + EXECUTION_WAIT_TICKS
}

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
    /// Entries for frames into the game, comma-separated: `remote_call` (today's `/sc
    /// remote.call`), `command` (the module's custom command), `command_long` (the command with
    /// long headers and the 256-byte chunk floor, as hosts before the short header),
    /// `export_json` (the command, to a module that declares export_json: exports sent as their
    /// JSON) and `command_zlib` (the command, to a module that does not declare solid: the
    /// per-chunk zlib); a row per entry.
    #[arg(long, value_delimiter = ',', default_value = "remote_call,command")]
    entry: Vec<Entry>,
    /// Commands in flight; a comma-separated list sweeps concurrency.
    #[arg(long = "in-flight", value_delimiter = ',', default_values_t = [DEFAULT_IN_FLIGHT])]
    in_flight: Vec<usize>,
    /// PLAYER_DATA formats the sample player is written in, comma-separated: `2` (dense, what
    /// writers write) and `1` (an object per slot, what older stores hold; the module reads
    /// both); a row per format, each in its own game. Goals are judged on format 2 only.
    #[arg(long = "player-format", value_delimiter = ',', default_value = "2")]
    player_format: Vec<PlayerFormat>,
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
    /// started to `<DIR>/<kind>-<in-flight>-<entry>.log` (`call` or `cmd`; format 1's games
    /// `...-<entry>-format1.log`), to see where ticks and milliseconds go.
    #[arg(long, value_name = "DIR")]
    tick_log: Option<std::path::PathBuf>,
    /// Exit with status 1 also when a goal is not met (a transfer that fails its check always
    /// does).
    #[arg(long)]
    check_goals: bool,
    /// Testing the checks: the game checksums what it received with its first byte changed, as
    /// if the transfer into the game had damaged it.
    #[arg(long, hide = true)]
    tamper: bool,
}

/// How frames enter the game (PROTOCOL.md 5.2): each is its own game, whose module declares
/// the custom command or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// `/sc remote.call("invsync","recv",[[<frame>]])`: the module declares no `recv_command`.
    #[value(name = "remote_call")]
    RemoteCall,
    /// `/invsync-recv <frame>`: the module's custom command, which it declares.
    #[value(name = "command")]
    Command,
    /// The custom command, with the long header and the 256-byte chunk floor although the
    /// module declares the short header (the host's `compact_frames` off): frames as hosts sent
    /// them before PROTOCOL.md 2.4's cut to idle streams and 2.5's header.
    #[value(name = "command_long")]
    CommandLong,
    /// The custom command to a module that also declares `export_json`: the host sends each
    /// export as its JSON (`xj`, PROTOCOL.md 4.1). Into the game only.
    #[value(name = "export_json")]
    ExportJson,
    /// The custom command to a module that does not declare `solid` (PROTOCOL.md 2.3): the
    /// per-chunk `zlib` where a game from before it gets it, beside `command` in one run.
    #[value(name = "command_zlib")]
    CommandZlib,
}

impl Entry {
    /// The short name of the table.
    pub fn short(self) -> &'static str {
        match self {
            Entry::RemoteCall => "call",
            Entry::Command => "cmd",
            Entry::CommandLong => "cmd-long",
            Entry::ExportJson => "xj",
            Entry::CommandZlib => "cmd-zlib",
        }
    }
}

/// One measured run, as printed by `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub kind: String,
    pub direction: Direction,
    pub method: String,
    /// How the frames entered the game (`to_game`); the game's declaration (`to_host`).
    pub entry: Entry,
    /// The PLAYER_DATA format the sample player was written in (1 or 2).
    pub player_format: u32,
    pub in_flight: usize,
    pub payload_bytes: u64,
    pub wire_bytes: u64,
    pub frames: u32,
    pub path: String,
    /// To the module delivering the verified payload (`to_game`) or the host holding it.
    pub ticks: u64,
    /// To the player having the inventory in hand (`to_game`: decoded and written into the
    /// character); the same as `ticks` for `to_host`.
    pub in_hand_ticks: u64,
    /// Clusterio's way, in hand (`to_game`) or held by the host (`to_host`).
    pub baseline_ticks: Option<u64>,
    /// Clusterio's serialized form of the same player (JSON bytes).
    pub baseline_payload_bytes: Option<u64>,
    pub baseline_wire_bytes: Option<u64>,
    /// `baseline_ticks / in_hand_ticks`.
    pub speedup: Option<f64>,
    pub limit_ticks: f64,
    /// `limit_ticks / ticks`.
    pub limit_fraction: f64,
    pub max_tick_lua_ms: f64,
    pub p99_tick_lua_ms: f64,
    pub max_tick_instructions: u64,
    pub p99_tick_instructions: u64,
    pub baseline_max_tick_lua_ms: Option<f64>,
    pub baseline_max_tick_instructions: Option<u64>,
    pub host_cpu_ms: f64,
    /// The checks held: the game's CRC-32 of what it received (or sent) equals the host's, and
    /// (`to_game`) the character holds every item.
    pub verified: bool,
    /// What failed, when `verified` is false.
    pub problem: Option<String>,
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
    /// When the player had it in hand (`None`: at `end_tick`).
    pub in_hand_tick: Option<u64>,
    pub payload_bytes: u64,
    pub max_tick_lua_ms: f64,
    pub p99_tick_lua_ms: f64,
    pub max_tick_instructions: u64,
    pub p99_tick_instructions: u64,
    pub host_cpu_ms: f64,
    /// Why the transfer failed its check (`None`: it passed).
    pub problem: Option<String>,
}

impl Measured {
    fn ticks(&self) -> u64 {
        self.end_tick.saturating_sub(self.first_tick).max(1)
    }

    fn in_hand_ticks(&self) -> u64 {
        self.in_hand_tick
            .unwrap_or(self.end_tick)
            .saturating_sub(self.first_tick)
            .max(1)
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
        p99_tick_instructions: num("p99_tick_instructions")? as u64,
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
    Ok(exit_code(&runs, &goals, args.check_goals))
}

/// 1 when a transfer failed its check (each named on stderr), or, with `check_goals`, when a goal
/// is not met; else 0.
fn exit_code(runs: &[Run], goals: &[goals::Goal], check_goals: bool) -> ExitCode {
    let mut failed = false;
    for r in runs.iter().filter(|r| !r.verified) {
        eprintln!(
            "invsync bench: {} {} ({} in flight, {}, format {}) failed its check: {}",
            r.kind,
            goals::direction_name(r.direction),
            r.in_flight,
            r.entry.short(),
            r.player_format,
            r.problem.as_deref().unwrap_or("unknown")
        );
        failed = true;
    }
    if check_goals {
        for g in goals.iter().filter(|g| !g.met) {
            eprintln!("invsync bench: goal not met: {} ({})", g.goal, g.value);
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn run_all(args: &BenchArgs) -> anyhow::Result<Vec<Run>> {
    let dir = tempfile::tempdir()?;
    let mut scenarios = Vec::new();
    for &entry in &args.entry {
        scenarios.push((entry, game_process::write_scenario(dir.path(), entry)?));
    }
    let total = (args.kind.len()
        * args.in_flight.len()
        * args.direction.len()
        * args.entry.len()
        * args.player_format.len()) as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("template"),
    );
    if args.json {
        // Keep stdout for the JSON; the bar draws on stderr either way.
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    let protos = invsync_emulator::Prototypes::default();
    let mut runs = Vec::new();
    for &kind in &args.kind {
        let player = sample(kind, args.seed);
        let clusterio = clusterio::player_json(&player, &protos);
        let items = clusterio::items(&player);
        // The same player in each format; Clusterio's way is measured once, in the first game.
        let samples: Vec<Sample> = (args.player_format.iter())
            .map(|&format| Sample {
                kind,
                format,
                payload: format.payload(&player),
                clusterio: clusterio.clone(),
                items,
            })
            .collect();
        let mut baselines: Option<(Option<Measured>, Option<Measured>)> = None;
        for &k in &args.in_flight {
            for (entry, scenario) in &scenarios {
                let entry = *entry;
                let e = entry.short();
                for sample in &samples {
                    let f = sample.format.number();
                    bar.set_message(format!(
                        "{kind}, {k} in flight, {e}, format {f}: starting the game"
                    ));
                    let tick_log = match &args.tick_log {
                        Some(dir) => {
                            std::fs::create_dir_all(dir)
                                .with_context(|| format!("creating {}", dir.display()))?;
                            // format 2, the default, keeps the names of runs before the flag
                            let suffix = if f == 2 {
                                String::new()
                            } else {
                                format!("-format{f}")
                            };
                            Some(dir.join(format!("{kind}-{k}-{e}{suffix}.log")))
                        }
                        None => None,
                    };
                    let compact = entry != Entry::CommandLong;
                    let (game, incoming) =
                        GameProcess::start(scenario, k, compact, tick_log.as_deref()).await?;
                    let mut arrivals = forward(incoming, false);
                    let at = (k, entry);
                    let result =
                        run_kind(args, &game, &mut arrivals, sample, at, &bar, &mut baselines)
                            .await;
                    game.stop().await;
                    runs.extend(result.with_context(|| {
                        format!("bench of {kind} with {k} in flight, {e}, format {f}")
                    })?);
                }
            }
        }
    }
    bar.finish_and_clear();
    Ok(runs)
}

/// One sample kind in one PLAYER_DATA format: our payload, Clusterio's form of the same
/// player, and the items it holds.
struct Sample {
    kind: SampleKind,
    format: PlayerFormat,
    payload: Vec<u8>,
    clusterio: String,
    items: u64,
}

async fn run_kind(
    args: &BenchArgs,
    game: &GameProcess,
    arrivals: &mut mpsc::Receiver<Arrival>,
    sample: &Sample,
    (k, entry): (usize, Entry),
    bar: &ProgressBar,
    baselines: &mut Option<(Option<Measured>, Option<Measured>)>,
) -> anyhow::Result<Vec<Run>> {
    let kind = sample.kind;
    let mut watch = game.link.watch_caps();
    let caps = tokio::time::timeout(Duration::from_secs(30), watch.wait_for(|c| c.is_some()))
        .await
        .context("the game did not declare its capabilities")??
        .clone();
    let declared = caps.as_ref().and_then(|c| c.recv_command.clone());
    if declared.is_some() != (entry != Entry::RemoteCall) {
        bail!("the game for {entry:?} declared recv_command {declared:?}");
    }
    let export_json = caps.as_ref().is_some_and(|c| c.export_json);
    if export_json != (entry == Entry::ExportJson) {
        bail!("the game for {entry:?} declared export_json {export_json}");
    }
    let solid = caps
        .as_ref()
        .is_some_and(|c| c.accepts(invsync_codec::Method::Solid));
    if solid == (entry == Entry::CommandZlib) {
        bail!("the game for {entry:?} declared solid: {solid}");
    }
    let wants = |d| args.direction.contains(&d);
    let mut runs = Vec::new();

    // Into the game (always: the way back echoes what arrived).
    bar.set_message(format!("{kind}: to_game, {k} in flight"));
    let payload = invsync_host::for_game(caps.as_ref(), sample.payload.clone());
    let ours = to_game(game, sample, &payload, args.tamper).await?;
    if baselines.is_none() {
        let base_in = if args.no_baseline || !wants(Direction::ToGame) {
            None
        } else {
            bar.set_message(format!("{kind}: to_game, Clusterio baseline"));
            Some(baseline::to_game(game, &sample.clusterio, sample.items).await?)
        };
        let base_out = if args.no_baseline || !wants(Direction::ToHost) || base_in.is_none() {
            None
        } else {
            bar.set_message(format!("{kind}: to_host, Clusterio baseline"));
            Some(baseline::to_host(game, arrivals, &sample.clusterio).await?)
        };
        *baselines = Some((base_in, base_out));
    }
    let (base_in, base_out) = baselines.clone().unwrap_or_default();
    if wants(Direction::ToGame) {
        runs.push(make_run(
            sample,
            Direction::ToGame,
            (k, entry),
            &ours,
            base_in.as_ref(),
        ));
        bar.inc(1);
    }
    if wants(Direction::ToHost) && entry == Entry::ExportJson {
        bar.inc(1); // the transform is host -> game only
    } else if wants(Direction::ToHost) {
        bar.set_message(format!("{kind}: to_host, {k} in flight"));
        let back = to_host(game, arrivals, &sample.payload).await?;
        runs.push(make_run(
            sample,
            Direction::ToHost,
            (k, entry),
            &back,
            base_out.as_ref(),
        ));
        bar.inc(1);
    }
    Ok(runs)
}

/// What the bench scenario's `received` answers.
#[derive(Debug, Deserialize)]
struct Received {
    state: String,
    received_tick: i64,
    applied_tick: i64,
    items: i64,
    skipped: u64,
    overflow: u64,
    error: String,
}

/// The CRC-32 the game computed (in Lua) of `which` text: 8 hex digits.
pub async fn game_crc(game: &GameProcess, which: &str) -> anyhow::Result<u32> {
    let hex = game
        .bench_call("checksum", &format!(",\"{which}\""))
        .await?;
    u32::from_str_radix(&hex, 16).with_context(|| format!("`checksum` answered {hex:?}"))
}

/// `None` when the game's CRC-32 of what it holds equals the host's of `sent`, else what differs.
pub fn crc_problem(game: u32, sent: &[u8]) -> Option<String> {
    let host = crc32fast::hash(sent);
    (game != host).then(|| {
        format!(
            "the game's CRC-32 of the {} bytes is {game:08x}, the host's {host:08x}",
            sent.len()
        )
    })
}

/// Host -> game through the link, to the player holding the inventory: `payload` is the
/// sample's, as the host sends it to this game.
async fn to_game(
    game: &GameProcess,
    sample: &Sample,
    payload: &[u8],
    tamper: bool,
) -> anyhow::Result<Measured> {
    game.reset_stats().await?;
    let cpu = cpu_ms();
    let delivered = game
        .link
        .send(payload.to_vec())
        .await
        .context("sending to the game")?;
    let host_cpu_ms = cpu_ms() - cpu;
    // Decoding and writing take a few ticks more.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let got = loop {
        let got: Received = game.bench_json("received").await?;
        if got.state == "applied" || got.state == "failed" {
            break got;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the player data was not applied within 120 s: {got:?}");
        }
    };
    // Read before the checksum: computing it is the check's work, not the transfer's.
    let stats = game.stats().await?;
    let crc = game_crc(game, if tamper { "tampered" } else { "payload" }).await?;
    let mut problems: Vec<String> = crc_problem(crc, payload).into_iter().collect();
    if got.state == "failed" {
        problems.push(format!("applying it failed: {}", got.error));
    } else if got.items != sample.items as i64 || got.skipped + got.overflow > 0 {
        problems.push(format!(
            "the character holds {} of {} items ({} stacks skipped, {} did not fit)",
            got.items, sample.items, got.skipped, got.overflow
        ));
    }
    Ok(Measured {
        method: delivered.method.to_string(),
        path: "rcon".into(),
        frames: delivered.frames,
        wire_bytes: delivered.command_bytes,
        payload_bytes: payload.len() as u64,
        end_tick: u64::try_from(got.received_tick).unwrap_or(0),
        in_hand_tick: u64::try_from(got.applied_tick).ok(),
        host_cpu_ms,
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
        ..stats_of(&stats)?
    })
}

/// Game -> host: the scenario sends back what it received.
async fn to_host(
    game: &GameProcess,
    arrivals: &mut mpsc::Receiver<Arrival>,
    payload: &[u8],
) -> anyhow::Result<Measured> {
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
    // What the game sent (the payload it received) checksummed in the game, against what the
    // host got; and what the host got against what it first sent in.
    let crc = game_crc(game, "payload").await?;
    let mut problems: Vec<String> = crc_problem(crc, &got).into_iter().collect();
    if got != payload {
        problems.push(format!(
            "the host got {} bytes that differ from the {} it sent in",
            got.len(),
            payload.len()
        ));
    }
    Ok(Measured {
        method,
        path: match path {
            Path::Stdout => "stdout".into(),
            Path::Pulled => "pulled".into(),
        },
        frames: count,
        wire_bytes: wire_len,
        payload_bytes: payload.len() as u64,
        end_tick: end,
        host_cpu_ms,
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
        ..stats_of(&stats)?
    })
}

fn make_run(
    sample: &Sample,
    direction: Direction,
    (k, entry): (usize, Entry),
    m: &Measured,
    base: Option<&Measured>,
) -> Run {
    let ticks = m.ticks();
    let in_hand_ticks = m.in_hand_ticks();
    let limit_ticks = limit_ticks(m.wire_bytes, k);
    Run {
        kind: sample.kind.to_string(),
        direction,
        method: m.method.clone(),
        entry,
        player_format: sample.format.number(),
        in_flight: k,
        payload_bytes: m.payload_bytes,
        wire_bytes: m.wire_bytes,
        frames: m.frames,
        path: m.path.clone(),
        ticks,
        in_hand_ticks,
        baseline_ticks: base.map(Measured::in_hand_ticks),
        baseline_payload_bytes: base.map(|b| b.payload_bytes),
        baseline_wire_bytes: base.map(|b| b.wire_bytes),
        speedup: base.map(|b| b.in_hand_ticks() as f64 / in_hand_ticks as f64),
        limit_ticks,
        limit_fraction: limit_ticks / ticks as f64,
        max_tick_lua_ms: m.max_tick_lua_ms,
        p99_tick_lua_ms: m.p99_tick_lua_ms,
        max_tick_instructions: m.max_tick_instructions,
        p99_tick_instructions: m.p99_tick_instructions,
        baseline_max_tick_lua_ms: base.map(|b| b.max_tick_lua_ms),
        baseline_max_tick_instructions: base.map(|b| b.max_tick_instructions),
        host_cpu_ms: m.host_cpu_ms,
        verified: m.problem.is_none(),
        problem: m.problem.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_has_the_floor_of_one_streamed_tick_and_the_execution_wait() {
        // 1.7 kB at 16 in flight streams in 0.6 ticks, but any command takes a tick
        assert_eq!(limit_ticks(966, 16), 1.5);
        assert_eq!(limit_ticks(1, 1), 1.5);
        // above a tick the bytes decide
        assert_eq!(limit_ticks(21_331, 16), 21_331.0 / 1600.0 + 0.5);
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        use clap::Parser;
        Cli::try_parse_from([&["bench"], args].concat()).map(|c| c.bench)
    }

    #[test]
    fn player_formats_default_to_2_and_take_a_list_of_1_and_2() {
        let formats = |args: &[&str]| parse(args).expect("parses").player_format;
        assert_eq!(formats(&[]), [PlayerFormat::Two], "today's runs and CI");
        assert_eq!(
            formats(&["--player-format", "1,2"]),
            [PlayerFormat::One, PlayerFormat::Two]
        );
        let refused = parse(&["--player-format", "1,3"])
            .err()
            .expect("no format 3")
            .to_string();
        assert!(
            refused.contains("'3'") && refused.contains("[possible values: 1, 2]"),
            "{refused}"
        );
    }

    #[test]
    fn the_host_crc_is_compared_with_the_game_s() {
        let sent = b"{\"format\":1}";
        assert_eq!(crc_problem(crc32fast::hash(sent), sent), None);
        let problem = crc_problem(crc32fast::hash(b"{\"format\":2}"), sent).expect("differs");
        assert!(problem.contains("12 bytes"), "{problem}");
    }
}
