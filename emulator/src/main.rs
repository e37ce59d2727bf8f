//! Stand-alone binary of the emulator (the project's CLI offers the same as `invsync emulator`).

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "invsync-emulator",
    version,
    about = "A stand-in for a headless Factorio 2.0 server"
)]
struct Cli {
    #[command(flatten)]
    args: invsync_emulator::EmulatorArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match invsync_emulator::run(cli.args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("invsync-emulator: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
