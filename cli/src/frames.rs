//! `invsync frames encode|decode|inspect`.
//!
//! Bad input never stops the good: every bad line gets a one-line error on stderr naming the line
//! and the problem, the other lines are still processed, and the exit status is 2 at the end.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use invsync_codec::{
    Capabilities, DEFAULT_MAX_FRAME_PULL, DEFAULT_MAX_FRAME_RCON, EncodeOptions, Error, Frame,
    MethodChoice, Outcome, Reassembler, ReassemblerConfig,
};

use crate::EXIT_BAD_INPUT;
use crate::lines::{BoundedLines, Line};

#[derive(Subcommand)]
pub enum FramesCommand {
    /// Read a payload on stdin and write one frame per line.
    Encode(EncodeArgs),
    /// Read frame lines (any order, several messages interleaved) and write each payload.
    Decode(DecodeArgs),
    /// Print a table of the frames read on stdin and what is wrong with each.
    Inspect(InspectArgs),
}

#[derive(Args)]
pub struct EncodeArgs {
    /// auto (smallest on the wire among the receiver's methods), raw, lz4, zlib or solid.
    #[arg(long, default_value = "auto")]
    method: MethodChoice,
    /// Longest frame, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAME_RCON)]
    max_frame: usize,
    /// Methods the receiver decodes, in its order of preference (e.g. `raw,zlib`).
    #[arg(long, default_value = "raw,zlib,lz4")]
    caps: String,
    /// Message id (1 ..= 4294967295). Default: derived from the payload (its CRC-32, 0 taken
    /// as 1), so the same payload always gets the same id and separately encoded payloads
    /// rarely share one; pass --id when messages must be told apart for sure.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    id: Option<u32>,
    /// zlib level, 0 ..= 10.
    #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u8).range(0..=10))]
    level: u8,
    /// Round the chunk count up to a multiple of this (commands kept in flight).
    #[arg(long, default_value_t = 1)]
    parallelism: u32,
    /// Bytes the channel adds per frame, counted when choosing `auto` (an RCON wrapper is ~40).
    #[arg(long, default_value_t = 0)]
    overhead: usize,
    /// Print a summary on stderr.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Args)]
pub struct ReceiverArgs {
    /// Longest frame accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAME_PULL)]
    max_frame: usize,
    /// Methods accepted.
    #[arg(long, default_value = "raw,zlib,lz4")]
    caps: String,
}

impl ReceiverArgs {
    fn config(&self) -> anyhow::Result<ReassemblerConfig> {
        let caps = Capabilities::from_method_list(&self.caps, self.max_frame)?;
        Ok(ReassemblerConfig {
            max_frame: self.max_frame,
            decode: caps.decode,
            // Input is all there: nothing expires while it is read.
            max_age_ticks: None,
            max_age_frames: None,
            ..ReassemblerConfig::default()
        })
    }
}

#[derive(Args)]
pub struct DecodeArgs {
    #[command(flatten)]
    receiver: ReceiverArgs,
    /// Write each payload to DIR/<id>.payload instead of stdout. A file is never overwritten:
    /// when DIR/<id>.payload exists (a second message with that id), the payload goes to
    /// DIR/<id>-2.payload (or -3, ...) and stderr says so.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct InspectArgs {
    #[command(flatten)]
    receiver: ReceiverArgs,
}

pub fn run(cmd: FramesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        FramesCommand::Encode(a) => encode(&a),
        FramesCommand::Decode(a) => decode(&a),
        FramesCommand::Inspect(a) => inspect(&a),
    }
}

fn encode(a: &EncodeArgs) -> anyhow::Result<ExitCode> {
    let receiver = Capabilities::from_method_list(&a.caps, a.max_frame)?;
    let limit = receiver.max_message;
    let mut payload = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit + 1)
        .read_to_end(&mut payload)
        .context("reading stdin")?;
    let opts = EncodeOptions {
        method: a.method,
        receiver,
        zlib_level: a.level,
        parallelism: a.parallelism,
        per_frame_overhead: a.overhead,
        ..EncodeOptions::default()
    };
    let id = a.id.unwrap_or_else(|| default_id(&payload));
    let message = match invsync_codec::encode(id, &payload, &opts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!(
                "invsync frames encode: {} ({}): {e}",
                e.name(),
                payload_desc(payload.len())
            );
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for f in &message.frames {
        out.write_all(f.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    if a.verbose {
        eprintln!(
            "message {}: {} payload bytes as {}, {} wire bytes in {} frames ({} bytes with headers)",
            message.id,
            message.payload_len,
            message.method,
            message.wire_len,
            message.frames.len(),
            message.frame_bytes()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The message id `encode` gives a payload without --id: its CRC-32, never 0.
fn default_id(payload: &[u8]) -> u32 {
    crc32fast::hash(payload).max(1)
}

fn payload_desc(len: usize) -> String {
    format!("payload of {len} bytes on stdin")
}

/// The frame on a line: an optional stdout marker (form feed) is accepted and removed.
fn frame_of(line: &[u8]) -> &[u8] {
    line.strip_prefix(b"\x0c").unwrap_or(line)
}

fn report(line_no: usize, e: &Error) {
    eprintln!("invsync: line {line_no}: {}: {e}", e.name());
}

fn decode(a: &DecodeArgs) -> anyhow::Result<ExitCode> {
    let config = a.receiver.config()?;
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut rx = Reassembler::new(config.clone());
    let mut bad = 0usize;
    let mut delivered = 0usize;
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    for (i, line) in BoundedLines::new(stdin, config.max_frame + 1).enumerate() {
        let line_no = i + 1;
        let line = match line.context("reading stdin")? {
            Line::Text(t) if t.is_empty() => continue,
            Line::Text(t) => t,
            Line::TooLong(len) => {
                report(
                    line_no,
                    &Error::FrameTooLong {
                        len,
                        max: config.max_frame,
                    },
                );
                bad += 1;
                continue;
            }
        };
        match rx.push(frame_of(&line), 0) {
            Ok(Outcome::Complete(m)) => {
                delivered += 1;
                match &a.out {
                    Some(dir) => {
                        let (path, first) = write_new(dir, m.id, &m.payload)?;
                        if let Some(first) = first {
                            eprintln!(
                                "invsync: message {}: {} exists; wrote {} instead",
                                m.id,
                                first.display(),
                                path.display()
                            );
                        }
                    }
                    None => {
                        stdout.write_all(&m.payload)?;
                        stdout.flush()?;
                    }
                }
            }
            Ok(Outcome::Stored { .. } | Outcome::Duplicate { .. }) => {}
            Err(e) => {
                report(line_no, &e);
                bad += 1;
            }
        }
    }
    for p in rx.progress() {
        let missing = rx.missing(p.id).unwrap_or_default();
        let e = Error::Incomplete {
            id: p.id,
            count: p.count,
            missing,
        };
        eprintln!("invsync: end of input: {}: {e}", e.name());
        bad += 1;
    }
    if delivered == 0 && bad == 0 {
        eprintln!("invsync: no frames on stdin");
        return Ok(ExitCode::from(EXIT_BAD_INPUT));
    }
    Ok(if bad > 0 {
        ExitCode::from(EXIT_BAD_INPUT)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes `payload` to a file of `dir` that does not exist yet: `<id>.payload`, else
/// `<id>-2.payload`, `<id>-3.payload`, ... Returns the path written and, when that is not the
/// first name, the first name (which exists).
fn write_new(
    dir: &std::path::Path,
    id: u32,
    payload: &[u8],
) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    let first = dir.join(format!("{id}.payload"));
    for n in 1u32.. {
        let path = if n == 1 {
            first.clone()
        } else {
            dir.join(format!("{id}-{n}.payload"))
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(payload)
                    .with_context(|| format!("writing {}", path.display()))?;
                return Ok((path, (n > 1).then_some(first)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }
    unreachable!("u32 names run out only after 4 billion files")
}

fn inspect(a: &InspectArgs) -> anyhow::Result<ExitCode> {
    let config = a.receiver.config()?;
    let mut rx = Reassembler::new(config.clone());
    let mut out = std::io::stdout().lock();
    let mut bad = 0usize;
    writeln!(
        out,
        "{:>5}  {:>10}  {:>11}  {:<4}  {:>9}  {:>9}  {:>7}  verdict",
        "line", "message", "chunk", "meth", "plen", "wlen", "data"
    )?;
    let stdin = std::io::stdin().lock();
    for (i, line) in BoundedLines::new(stdin, config.max_frame + 1).enumerate() {
        let line_no = i + 1;
        let line = match line.context("reading stdin")? {
            Line::Text(t) if t.is_empty() => continue,
            Line::Text(t) => t,
            Line::TooLong(len) => {
                bad += 1;
                writeln!(
                    out,
                    "{line_no:>5}  {:>10}  {:>11}  {:<4}  {:>9}  {:>9}  {len:>7}  FrameTooLong",
                    "-", "-", "-", "-", "-"
                )?;
                continue;
            }
        };
        let frame = frame_of(&line);
        let cols = match Frame::parse_unverified(frame) {
            Ok(f) => {
                let h = f.header;
                format!(
                    "{:>10}  {:>11}  {:<4}  {:>9}  {:>9}  {:>7}",
                    h.id,
                    format!("{}/{}", h.index, h.count),
                    h.method.as_str(),
                    h.payload_len,
                    h.wire_len,
                    f.data.len()
                )
            }
            Err(_) => format!(
                "{:>10}  {:>11}  {:<4}  {:>9}  {:>9}  {:>7}",
                "-",
                "-",
                "-",
                "-",
                "-",
                frame.len()
            ),
        };
        let verdict = match rx.push(frame, 0) {
            Ok(Outcome::Stored { have, count, .. }) => format!("ok ({have}/{count} held)"),
            Ok(Outcome::Duplicate { .. }) => "duplicate".to_string(),
            Ok(Outcome::Complete(m)) => {
                format!("ok, message {} complete: {} bytes", m.id, m.payload.len())
            }
            Err(e) => {
                bad += 1;
                format!("{}: {e}", e.name())
            }
        };
        writeln!(out, "{line_no:>5}  {cols}  {verdict}")?;
    }
    for p in rx.progress() {
        let missing = rx.missing(p.id).unwrap_or_default();
        writeln!(
            out,
            "message {} incomplete: {}/{} chunks, missing {:?}",
            p.id, p.have, p.count, missing
        )?;
        bad += 1;
    }
    Ok(if bad > 0 {
        ExitCode::from(EXIT_BAD_INPUT)
    } else {
        ExitCode::SUCCESS
    })
}
