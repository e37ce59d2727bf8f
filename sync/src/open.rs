//! Store URLs: `sqlite:PATH`, `redis://[:PASSWORD@]HOST[:PORT][/DB]`, `rediss://...` (TLS).

use std::sync::Arc;

use crate::redis_store::{RedisOptions, RedisStore};
use crate::sqlite::SqliteStore;
use crate::store::{Store, StoreError};

/// Opens the store a URL names. Errors say what is wrong with the URL, with any password
/// redacted.
pub fn open(url: &str, redis: RedisOptions) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(StoreError::Config(
                "store URL \"sqlite:\" names no file (expected sqlite:PATH)".into(),
            ));
        }
        return Ok(Arc::new(SqliteStore::open(path)?));
    }
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        return Ok(Arc::new(RedisStore::open(url, redis)?));
    }
    Err(StoreError::Config(format!(
        "store URL {:?} is not sqlite:PATH, redis://HOST:PORT/DB or rediss://HOST:PORT/DB",
        redact_url(url)
    )))
}

/// `url` with the password (and user) replaced by `***`, for logs and messages.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact_url("redis://:s3cret@127.0.0.1:6379/0"),
            "redis://***@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact_url("rediss://user:p@ss@host/2"),
            "rediss://***@host/2"
        );
        assert_eq!(redact_url("redis://host:1/0"), "redis://host:1/0");
        assert_eq!(redact_url("sqlite:a@b.db"), "sqlite:a@b.db");
        let err = open("postgres://u:hunter2@h/db", RedisOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("is not sqlite:PATH"), "{err}");
        let err = open("sqlite:", RedisOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("names no file"), "{err}");
    }
}
