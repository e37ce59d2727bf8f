//! The baseline: moving the same player the way Clusterio's inventory_sync does today, in its
//! own serialized form ([`super::clusterio`]).
//!
//! * Into the game (`plugins/inventory_sync/instance.ts`, `handleDownload`): the JSON text is cut
//!   into `rcon_chunk_size` (1000) characters, each escaped with `lib.escapeString` and sent as
//!   `/sc inventory_sync.download_inventory('<name>','<chunk>',<i>,<n>)`, one command at a time,
//!   each awaited. The game appends the chunks (`record.data = record.data .. data`); after the
//!   last one it decodes the JSON with `helpers.json_to_table` and writes the player, in that
//!   same command (`download_inventory.lua`, `finish_download`). Done when the player has it.
//! * Out of the game: `clusterio_api.send_json` prints the whole JSON behind `\f$ipc:<channel>?j`
//!   (above 4000 bytes Clusterio writes a script-output file instead, which arrives in one go as
//!   well; the emulator has no files, so the bench prints the line).

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::mpsc;

use super::game_process::GameProcess;
use super::{Arrival, Measured, cpu_ms, crc_problem, game_crc, stats_of};

/// Clusterio's default `inventory_sync.rcon_chunk_size`.
pub const CHUNK_CHARS: usize = 1000;
/// The player the bench's downloads are for (the one the bench scenario writes into).
const PLAYER: &str = "bench";
/// The stdout line prefix of Clusterio's IPC upload.
pub const IPC_UPLOAD: &str = "\x0c$ipc:inventory_sync_upload?j";

/// Clusterio's `lib.escapeString`: for a single- or double-quoted Lua string.
pub fn escape_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// The commands Clusterio would send for `json`.
pub fn download_commands(json: &str) -> Vec<String> {
    let chars: Vec<char> = json.chars().collect();
    let chunks: Vec<String> = chars
        .chunks(CHUNK_CHARS)
        .map(|c| c.iter().collect())
        .collect();
    let n = chunks.len();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            format!(
                "/sc inventory_sync.download_inventory('{PLAYER}','{}',{},{n})",
                escape_string(chunk),
                i + 1
            )
        })
        .collect()
}

/// Sends the serialized player `json` into the game Clusterio's way and measures it to the tick
/// the player had it in hand; the character must then hold `items` items.
pub async fn to_game(game: &GameProcess, json: &str, items: u64) -> anyhow::Result<Measured> {
    let commands = download_commands(json);
    game.reset_stats().await?;
    let cpu = cpu_ms();
    let mut wire_bytes = 0u64;
    for c in &commands {
        wire_bytes += c.len() as u64;
        let reply = game.command(c).await?;
        if !reply.trim().is_empty() {
            bail!("baseline chunk answered {reply:?}");
        }
    }
    let host_cpu_ms = cpu_ms() - cpu;
    // "<tick> <items>": when the game had decoded and written the player, and what it holds.
    let done = game.bench_call("baseline_done", "").await?;
    let stats = game.stats().await?;
    let (tick, held) = two_numbers(&done)?;
    if let Some(problem) = crc_problem(game_crc(game, "baseline").await?, json.as_bytes()) {
        bail!("the baseline download arrived damaged: {problem}");
    }
    if held != items {
        bail!("after the baseline download the character holds {held} of {items} items");
    }
    Ok(Measured {
        method: "json-chunks".into(),
        frames: commands.len() as u32,
        wire_bytes,
        payload_bytes: json.len() as u64,
        end_tick: tick,
        host_cpu_ms,
        ..stats_of(&stats)?
    })
}

/// Has the game upload the player it holds Clusterio's way (the serialized `json` its download
/// brought) and measures it.
pub async fn to_host(
    game: &GameProcess,
    arrivals: &mut mpsc::Receiver<Arrival>,
    json: &str,
) -> anyhow::Result<Measured> {
    game.reset_stats().await?;
    let cpu = cpu_ms();
    let printed = game.bench_call("baseline_upload", "").await?;
    let end_tick: u64 = printed
        .parse()
        .with_context(|| format!("baseline_upload answered {printed:?}"))?;
    let line = loop {
        match tokio::time::timeout(Duration::from_secs(120), arrivals.recv()).await {
            Ok(Some(Arrival::IpcLine(text))) => break text,
            Ok(Some(Arrival::Message { .. })) => continue,
            Ok(None) => bail!("the game's stdout ended"),
            Err(_) => bail!("no IPC upload line within 120 s"),
        }
    };
    let host_cpu_ms = cpu_ms() - cpu;
    let stats = game.stats().await?;
    let body = line.strip_prefix(IPC_UPLOAD).unwrap_or_default();
    if body != json {
        bail!(
            "the baseline upload differs from the serialized player ({} of {} bytes)",
            body.len(),
            json.len()
        );
    }
    Ok(Measured {
        method: "json-line".into(),
        frames: 1,
        wire_bytes: line.len() as u64,
        payload_bytes: json.len() as u64,
        end_tick,
        host_cpu_ms,
        ..stats_of(&stats)?
    })
}

fn two_numbers(text: &str) -> anyhow::Result<(u64, u64)> {
    let mut it = text.split_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next()) {
        (Some(Ok(a)), Some(Ok(b))) => Ok((a, b)),
        _ => bail!("expected two numbers, got {text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_what_clusterio_sends() {
        let json = format!("{{\"name\":\"it's\",\"pad\":\"{}\"}}", "x".repeat(1500));
        let cmds = download_commands(&json);
        assert_eq!(cmds.len(), 2);
        assert!(
            cmds[0].starts_with(
                r#"/sc inventory_sync.download_inventory('bench','{\"name\":\"it\'s\","#
            )
        );
        assert!(cmds[0].ends_with("',1,2)"));
        assert!(cmds[1].ends_with("',2,2)"));
        assert_eq!(escape_string("a\\b\n'\""), "a\\\\b\\n\\'\\\"");
    }
}
