//! The game server as the host's child process: started, watched until it announces RCON,
//! stopped the way the game stops.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// Longest stdout line read while waiting for RCON (the game's log lines are short).
const MAX_STARTUP_LINE: usize = 64 * 1024;
/// The game's log line when RCON is up (Factorio: "Starting RCON interface at IP ADDR:PORT").
const RCON_READY: &str = "Starting RCON interface";

/// A started game server whose RCON is up.
pub struct GameServer {
    pub child: Child,
    /// Its stdout, positioned after the RCON line (buffered bytes included).
    pub stdout: BufReader<ChildStdout>,
    /// The address the RCON line names, if it names one.
    pub announced: Option<String>,
}

/// Starts `command` and reads its stdout (logging each line) until it announces RCON.
pub async fn start(command: &[String], startup: Duration) -> anyhow::Result<GameServer> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("empty game server command"))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        // its own process group: a Ctrl-C in the terminal (or a signal to the host's group)
        // reaches the host alone, which then stops the game the clean way
        .process_group(0)
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start the game server {program:?}: {e}"))?;
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let wait = async {
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut stdout)
                .take(MAX_STARTUP_LINE as u64)
                .read_until(b'\n', &mut line)
                .await?;
            if n == 0 {
                anyhow::bail!("the game server closed its stdout before announcing RCON");
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            tracing::info!(target: "game", "{text}");
            if let Some(at) = text.find(RCON_READY) {
                return Ok(announced_address(&text[at + RCON_READY.len()..]));
            }
        }
    };
    let announced = tokio::select! {
        r = tokio::time::timeout(startup, wait) => match r {
            Ok(r) => r?,
            Err(_) => anyhow::bail!("the game server did not announce RCON within {} s", startup.as_secs()),
        },
        status = child.wait() => anyhow::bail!("the game server exited before announcing RCON ({})", describe(status?)),
    };
    Ok(GameServer {
        child,
        stdout,
        announced,
    })
}

/// `" at 127.0.0.1:27015"` (or `" at IP ADDR:({0.0.0.0:27015})"` as Factorio writes it) ->
/// the address.
fn announced_address(rest: &str) -> Option<String> {
    let addr = match (rest.rfind('{'), rest.rfind('}')) {
        (Some(open), Some(close)) if open < close => &rest[open + 1..close],
        _ => rest.split_whitespace().last()?,
    };
    addr.parse::<std::net::SocketAddr>().ok().map(|a| {
        // the game listens on every interface when it says 0.0.0.0; the host is beside it
        if a.ip().is_unspecified() {
            format!("127.0.0.1:{}", a.port())
        } else {
            a.to_string()
        }
    })
}

/// An exit status in words.
pub fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

/// Sends `signal` to the child, if it still runs.
pub fn signal(child: &Child, signal: i32) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) with the pid of our own child; no memory is involved.
        unsafe {
            libc::kill(pid as libc::pid_t, signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::announced_address;

    #[test]
    fn the_rcon_line_names_the_address() {
        assert_eq!(
            announced_address(" at 127.0.0.1:4567").as_deref(),
            Some("127.0.0.1:4567")
        );
        // Factorio's own form
        assert_eq!(
            announced_address(" at IP ADDR:({0.0.0.0:27015})").as_deref(),
            Some("127.0.0.1:27015")
        );
        assert_eq!(
            announced_address(" at IP ADDR:({127.0.0.2:3000})").as_deref(),
            Some("127.0.0.2:3000")
        );
        assert_eq!(announced_address(" at somewhere"), None);
        assert_eq!(announced_address(""), None);
    }
}
