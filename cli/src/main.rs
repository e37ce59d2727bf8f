//! `invsync`: the command line of the invsync project.
//!
//! Subcommands: `sample` (deterministic player data), `frames` (encode, decode and inspect
//! protocol frames), `emulator` (a headless game-server stand-in, docs/EMULATOR.md).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod admin;
mod bench;
mod bench_store;
mod chaos;
mod demo;
mod frames;
mod host;
mod lines;
mod sample;

#[derive(Parser)]
#[command(
    name = "invsync",
    version,
    about = "Move player data between game servers and their hosts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a deterministic sample of player data (JSON) to stdout.
    Sample(sample::SampleArgs),
    /// Encode, decode and inspect protocol frames (docs/PROTOCOL.md).
    #[command(subcommand)]
    Frames(frames::FramesCommand),
    /// Measure the transfer path against the emulator, beside Clusterio's way (the main job).
    Bench(bench::BenchArgs),
    /// Measure the player store's sync cycles per second, beside the bare store.
    BenchStore(bench_store::BenchStoreArgs),
    /// Run a game-server emulator: Factorio-like RCON and stdout, a Lua 5.2 scenario (docs/EMULATOR.md).
    Emulator(Box<invsync_emulator::EmulatorArgs>),
    /// Look at and repair the player store: list, show, history, export, import, restore, release, pin, servers.
    Admin(admin::AdminArgs),
    /// Run beside one game server: start it, answer its player sync from the store, stop it cleanly.
    Host(Box<host::HostArgs>),
    /// A randomized run with faults over a cluster on this machine; exit 1 on any violation.
    Chaos(chaos::ChaosArgs),
    /// A cluster on this machine: emulated servers under `invsync host`, players moving between them, an audit.
    Demo(demo::DemoArgs),
}

/// Exit status for bad input (as clap uses for bad arguments).
pub const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sample(args) => sample::run(&args),
        Command::Frames(cmd) => frames::run(cmd),
        Command::Bench(args) => bench::run(&args),
        Command::BenchStore(args) => bench_store::run(&args),
        Command::Emulator(args) => invsync_emulator::run(*args).map(|()| ExitCode::SUCCESS),
        Command::Admin(args) => admin::run(&args),
        Command::Host(args) => host::run(&args),
        Command::Chaos(args) => chaos::run(&args),
        Command::Demo(args) => demo::run(&args),
    };
    match result {
        Ok(code) => code,
        // A reader that went away (`| head`) is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("invsync: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
