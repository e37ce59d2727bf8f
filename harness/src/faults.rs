//! Faults the harness injects into a running [`Cluster`] (issue 13), beside the ones
//! `lib.rs` has (`Node::kill9`, `Node::kill9_game`, `Cluster::stop_store`/`start_store`).
//!
//! * RCON between a host and its game through a [`Proxy`] (cut, delay, stall);
//! * a paused game (`SIGSTOP` ... `SIGCONT`): this stalls the whole game process (its ticks,
//!   its RCON answers and its stdout), not only its stdout; the host keeps heartbeating;
//! * a slow game (`--ticks-per-second`);
//! * one player joining two servers at once;
//! * an admin import or restore while the player is online (forced), with the ledger adjusted:
//!   the player owns the admin's data from then on, plus what they change on the old holder
//!   (which ends up in a conflict snapshot).

use std::ffi::OsString;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use crate::proxy::Proxy;
use crate::{Cluster, WAIT, items};

impl Cluster {
    /// Stops node `i`'s host (SIGTERM; nobody should be online there), changes its command
    /// line, starts it again and waits for its game.
    pub async fn reconfigure(
        &mut self,
        i: usize,
        change: impl FnOnce(&mut Vec<OsString>),
    ) -> anyhow::Result<()> {
        if self.nodes[i].running() {
            self.nodes[i].stop(WAIT).await?;
        }
        change(&mut self.nodes[i].args);
        self.nodes[i].start()?;
        self.nodes[i].wait_ready(WAIT).await
    }

    /// Puts a [`Proxy`] between node `i`'s host and its game (`invsync host --rcon` names the
    /// proxy; the harness's own driver connection stays direct). Restarts the node.
    pub async fn proxy_rcon(&mut self, i: usize) -> anyhow::Result<Proxy> {
        let proxy = Proxy::start(&self.nodes[i].rcon).await?;
        let addr = OsString::from(&proxy.addr);
        self.reconfigure(i, move |args| {
            if let Some(k) = args.iter().position(|a| a == "--rcon") {
                args[k + 1] = addr;
            }
        })
        .await?;
        Ok(proxy)
    }

    /// Makes node `i`'s game run `tps` ticks per second (`invsync_codec::TICKS_PER_SECOND` is normal). Restarts the node.
    pub async fn slow_game(&mut self, i: usize, tps: u32) -> anyhow::Result<()> {
        self.reconfigure(i, move |args| {
            if let Some(k) = args.iter().position(|a| a == "--ticks-per-second") {
                args[k + 1] = tps.to_string().into();
            } else if let Some(k) = args.iter().position(|a| a == "--realtime") {
                args.insert(k + 1, "--ticks-per-second".into());
                args.insert(k + 2, tps.to_string().into());
            }
        })
        .await
    }

    /// `SIGSTOP` of node `i`'s game (`pause = true`) or `SIGCONT` (`false`): the pid signalled.
    pub fn pause_game(&mut self, i: usize, pause: bool) -> anyhow::Result<u32> {
        let node = &mut self.nodes[i];
        let pid = node
            .game_pid()
            .ok_or_else(|| anyhow!("{}: no game server process", node.id))?;
        crate::signal(pid, if pause { libc::SIGSTOP } else { libc::SIGCONT });
        // the driver's connection may have a command in flight; start afresh
        node.client = None;
        Ok(pid)
    }

    /// Holds node `i`'s game's stdout for `ticks` game ticks (`/emulator stall-stdout`): the
    /// game runs and answers RCON, but nothing it prints reaches its host until the stall ends.
    pub async fn stall_stdout(&mut self, i: usize, ticks: u64) -> anyhow::Result<()> {
        let reply = self
            .step(i, &format!("/emulator stall-stdout {ticks}"))
            .await?;
        if reply != "ok" {
            bail!("{}: stall-stdout {ticks}: {reply}", self.nodes[i].id);
        }
        Ok(())
    }

    /// `player` joins servers `a` and `b` at the same moment (both commands in flight at
    /// once); each reply (`ok` or an error).
    pub async fn join_both(
        &mut self,
        a: usize,
        b: usize,
        player: &str,
    ) -> anyhow::Result<(String, String)> {
        if a == b {
            bail!("join_both needs two servers");
        }
        let (lo, hi) = (a.min(b), a.max(b));
        let (left, right) = self.nodes.split_at_mut(hi);
        let (x, y) = (&mut left[lo], &mut right[0]);
        let cmd = format!("/emulator join {player}");
        let (rx, ry) = tokio::join!(x.try_command(&cmd), y.try_command(&cmd));
        let (rx, ry) = (
            rx.map(|r| r.trim_end().to_string())?,
            ry.map(|r| r.trim_end().to_string())?,
        );
        let (ra, rb) = if a == lo { (rx, ry) } else { (ry, rx) };
        if ra == "ok" {
            self.online.insert(player.to_string(), a);
        }
        if rb == "ok" && ra != "ok" {
            self.online.insert(player.to_string(), b);
        }
        Ok((ra, rb))
    }

    /// An admin import of `data` as `player`'s next generation, forced over a live hold; the
    /// ledger then says the player owns `data` plus what changed on the holder since it
    /// acquired the generation stored now. The new generation.
    pub async fn import_online(&mut self, player: &str, data: Vec<u8>) -> anyhow::Result<u64> {
        let before = self.stored_counts(player).await?;
        let after = items::count_data(&data)?;
        let p = player.to_string();
        let generation = self
            .with_store(move |s| Ok(s.import(&p, &data, true)?))
            .await?;
        self.replaced(player, &before, &after);
        Ok(generation)
    }

    /// An admin restore of snapshot `snapshot`, forced; the ledger as for [`Cluster::import_online`].
    pub async fn restore_online(&mut self, player: &str, snapshot: u64) -> anyhow::Result<u64> {
        let before = self.stored_counts(player).await?;
        let after = items::count_data(&self.export(player, Some(snapshot)).await?)?;
        let p = player.to_string();
        let generation = self
            .with_store(move |s| Ok(s.restore(&p, snapshot, true)?))
            .await?;
        self.replaced(player, &before, &after);
        Ok(generation)
    }

    /// The ledger after an admin write replaced the stored items `before` with `after`.
    fn replaced(&mut self, player: &str, before: &items::Counts, after: &items::Counts) {
        let mut change = after.clone();
        items::merge(&mut change, before, -1);
        self.ledger.gain_all(player, &change);
    }

    /// The items of `player`'s stored generation (none when nothing is stored).
    pub async fn stored_counts(&self, player: &str) -> anyhow::Result<items::Counts> {
        match self.head(player).await? {
            Some(h) if h.current.is_some() => {
                items::count_data(&self.export(player, None).await?).context("stored data")
            }
            _ => Ok(items::Counts::new()),
        }
    }

    /// Every player's `player_state` on node `i` in one command (`none` for a player the game
    /// does not know). Bounded by `timeout`.
    pub async fn states(
        &mut self,
        i: usize,
        players: &[String],
        timeout: Duration,
    ) -> anyhow::Result<Vec<crate::PlayerState>> {
        let mut cmd = String::from("/sc");
        for p in players {
            cmd += &format!(" remote.call('invsync', 'player_state', '{p}')");
        }
        let text = tokio::time::timeout(timeout, self.nodes[i].try_command(&cmd))
            .await
            .map_err(|_| anyhow!("{}: player_state timed out", self.nodes[i].id))??;
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() != players.len() {
            bail!(
                "{}: {} player_state lines for {} players: {text:?}",
                self.nodes[i].id,
                lines.len(),
                players.len()
            );
        }
        let mut out = Vec::new();
        for (p, line) in players.iter().zip(lines) {
            let json = if line.starts_with("err - UnknownPlayer") {
                serde_json::json!({"player": p, "state": "none"})
            } else {
                serde_json::from_str(line)
                    .with_context(|| format!("{}: player_state {line:?}", self.nodes[i].id))?
            };
            out.push(crate::PlayerState { json });
        }
        Ok(out)
    }
}
