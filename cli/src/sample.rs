//! `invsync sample`: deterministic player data for tests, benchmarks and demos.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Args;
use invsync_player_data::{SampleKind, generate};

#[derive(Args)]
pub struct SampleArgs {
    /// small (~2 kB), rep (~200 kB, repetitive), bp (~200 kB of blueprints) or huge (>= 1 MB).
    #[arg(long, default_value = "small")]
    kind: SampleKind,
    /// Seed: the same kind and seed always give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub fn run(args: &SampleArgs) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    out.write_all(&generate(args.kind, args.seed))?;
    if std::io::stdout().is_terminal() {
        // Only for people: a newline would be part of the payload in a pipe.
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
