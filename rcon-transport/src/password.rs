//! The RCON password, kept out of logs.
//!
//! `Debug` prints `Password(<redacted>)` and there is no `Display`, so neither `{:?}` of a config
//! nor a `tracing` field can leak it. The bytes are only read when the auth packet is built.

/// An RCON password. Its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Password(password.into())
    }

    /// The secret itself, for building the auth packet. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl From<&str> for Password {
    fn from(value: &str) -> Self {
        Password::new(value)
    }
}

impl From<String> for Password {
    fn from(value: String) -> Self {
        Password::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let password = Password::new("correct horse battery staple");
        let shown = format!("{password:?} {password:#?}");
        assert!(!shown.contains("horse"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert_eq!(password.expose(), "correct horse battery staple");
    }
}
