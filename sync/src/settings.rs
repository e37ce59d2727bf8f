//! The settings every host of a cluster must agree on.

/// Lease and history settings. Every host of one cluster must use the same values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// A lease is live while its holder's last heartbeat (or the lease's own renewal) is
    /// younger than this. Default 30 s: six missed heartbeats at the host's default 5 s, and
    /// longer than a game server's save pause (during which its host still heartbeats).
    pub lease_timeout_ms: u64,
    /// Unpinned snapshots kept per player (the newest). Default 16.
    pub keep_snapshots: usize,
    /// Largest PLAYER_DATA JSON accepted or read back, in bytes. Default 64 MiB.
    pub max_data_bytes: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            lease_timeout_ms: 30_000,
            keep_snapshots: 16,
            max_data_bytes: 64 << 20,
        }
    }
}
