//! The command lines of the READMEs and docs, as a user copies them.
//!
//! Every ```sh block that holds `invsync ...` lines is read:
//! * each option such a line names must be one that `invsync <command> --help` (or the help of
//!   one of its subcommands) lists, so the summaries do not drift from the binary;
//! * a block whose `invsync` lines are all concrete (no `[...]`, `|` or `...` placeholders) and
//!   quick runs as one `sh -e` script in a temporary folder, with this build's `invsync` first
//!   on PATH, and must succeed;
//! * the commands in [`NOT_RUN`] are never run here, for the reason given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Commands whose example lines are checked for their options but not run, and why.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "demo",
        "starts a store, several game servers and hosts, runs for minutes",
    ),
    ("host", "starts and supervises a real game server"),
    ("chaos", "runs for minutes, killing processes"),
    ("bench", "a measurement that runs for minutes"),
    ("bench-store", "a measurement against a store"),
    ("emulator", "a game server that runs until stopped"),
    ("admin", "reads and writes a player store"),
];

const DOCS: &[&str] = &[
    "README.md",
    "scenario/README.md",
    "wasm/README.md",
    "docs/PROTOCOL.md",
    "docs/SYNC.md",
    "docs/EMULATOR.md",
    "docs/PLAYER_DATA.md",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Block {
    place: String,
    /// Logical lines: a line ending in `\` or followed by indented lines is joined with them.
    lines: Vec<String>,
}

fn sh_blocks(file: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        match &mut current {
            None if matches!(line.trim_end(), "```sh" | "```bash" | "```shell") => {
                current = Some(Block {
                    place: format!("{file}:{}", i + 1),
                    lines: Vec::new(),
                });
            }
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.push(current.take().unwrap()),
            Some(b) => {
                let continues = b.lines.last().is_some_and(|l| l.ends_with('\\'))
                    || (line.starts_with(' ') && !b.lines.is_empty());
                if continues {
                    let last = b.lines.last_mut().unwrap();
                    let last_trimmed = last.trim_end_matches('\\').to_string();
                    *last = format!("{last_trimmed} {}", line.trim());
                } else {
                    b.lines.push(line.to_string());
                }
            }
        }
    }
    blocks
}

/// The words naming the command: `invsync frames encode [--method ...` gives `frames encode`.
fn command_path(line: &str) -> Vec<String> {
    line.split_whitespace()
        .skip(1)
        .take_while(|w| {
            w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.starts_with('-')
        })
        .map(str::to_string)
        .collect()
}

/// The options a line names (those of the game command after ` -- ` and comments excluded).
fn options(line: &str) -> Vec<String> {
    let line = line.split(" # ").next().unwrap();
    let line = line.split(" -- ").next().unwrap();
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(str::to_string)
        .collect()
}

fn invsync() -> Command {
    Command::new(env!("CARGO_BIN_EXE_invsync"))
}

/// The help of `invsync <path>` and of every subcommand below it.
fn help_tree(path: &[String], cache: &mut BTreeMap<Vec<String>, String>) -> String {
    if let Some(h) = cache.get(path) {
        return h.clone();
    }
    let out = invsync().args(path).arg("--help").output().unwrap();
    assert!(
        out.status.success(),
        "invsync {} --help: {}",
        path.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let own = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut all = own.clone();
    let subcommands: Vec<String> = own
        .split("Commands:")
        .nth(1)
        .map(|rest| {
            rest.lines()
                .skip(1)
                .take_while(|l| l.starts_with("  "))
                .filter_map(|l| l.split_whitespace().next())
                .filter(|w| *w != "help")
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for sub in subcommands {
        let mut p = path.to_vec();
        p.push(sub);
        all.push_str(&help_tree(&p, cache));
    }
    cache.insert(path.to_vec(), all.clone());
    all
}

fn is_summary(line: &str) -> bool {
    let line = line.split(" # ").next().unwrap();
    line.contains('[') || line.contains('|') || line.contains("...")
}

#[test]
fn every_invsync_line_of_the_docs_names_real_options_and_the_quick_ones_run() {
    let mut help = BTreeMap::new();
    let mut checked = 0;
    let mut ran = Vec::new();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_invsync")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for file in DOCS {
        for block in sh_blocks(file) {
            let commands: Vec<&String> = block
                .lines
                .iter()
                .filter(|l| l.trim_start().starts_with("invsync "))
                .collect();
            if commands.is_empty() {
                continue;
            }
            let mut runnable = true;
            for line in &commands {
                let line = line.trim();
                let cmd = command_path(line);
                assert!(!cmd.is_empty(), "{}: no command in {line:?}", block.place);
                let text = help_tree(&cmd, &mut help);
                for opt in options(line) {
                    assert!(
                        text.contains(&format!("{opt} ")) || text.contains(&format!("{opt}\n")),
                        "{}: `invsync {}` has no option {opt} (the line: {line:?})",
                        block.place,
                        cmd.join(" ")
                    );
                }
                checked += 1;
                if is_summary(line) {
                    runnable = false;
                } else if let Some((_, why)) = NOT_RUN.iter().find(|(c, _)| *c == cmd[0]) {
                    eprintln!("{}: not run: invsync {}: {why}", block.place, cmd[0]);
                    runnable = false;
                }
            }
            if runnable {
                let dir = tempfile::tempdir().unwrap();
                let script = block.lines.join("\n");
                let out = Command::new("sh")
                    .args(["-e", "-c", &script])
                    .current_dir(dir.path())
                    .env("PATH", &path)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}: the block failed ({}):\n{script}\nstdout:\n{}\nstderr:\n{}",
                    block.place,
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                ran.push(block.place.clone());
            }
        }
    }
    assert!(checked >= 10, "only {checked} invsync lines found");
    assert!(
        ran.iter().any(|p| p.starts_with("README.md:")),
        "the README's round trip ran: {ran:?}"
    );
}

#[test]
fn the_summary_parser_reads_commands_and_options() {
    let line = "invsync frames encode [--method auto|raw] [--max-frame BYTES] < payload > frames";
    assert_eq!(command_path(line), ["frames", "encode"]);
    assert_eq!(options(line), ["--method", "--max-frame"]);
    assert!(is_summary(line));
    let host = "invsync host --server-id north -- factorio --rcon-port 27015";
    assert_eq!(options(host), ["--server-id"]);
    assert!(!is_summary(
        "invsync sample --kind small --seed 1 > player.json"
    ));
    let mut help = BTreeMap::new();
    let text = help_tree(&["frames".into(), "encode".into()], &mut help);
    assert!(text.contains("--id ") && !text.contains("--bogus "));
    let admin = help_tree(&["admin".into()], &mut help);
    assert!(
        admin.contains("--force "),
        "subcommands' options are included"
    );
}
