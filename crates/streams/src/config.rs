//! Settings of the Redis side, taken as values (the binary reads files, env and flags).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Where and how events are made durable in Redis Streams.
///
/// `url` may carry a user name and password; it is never logged as is: `Display`, `Debug`
/// and every error message show it through [`redact`].
#[derive(Clone)]
pub struct StreamConfig {
    /// `redis://[user:password@]host[:port][/db]`, `rediss://...` for TLS (when the redis
    /// crate is built with TLS support), or `redis+unix:///path/to/socket`.
    pub url: String,
    /// Key prefix: the event stream is `<prefix>:events`, dead letters go to `<prefix>:dead`.
    pub prefix: String,
    /// Approximate cap on stream length (`XADD ... MAXLEN ~ N`); `0` disables trimming.
    /// Trimming removes the oldest entries even if a group has not read them yet, so it
    /// must stay well above what a stopped subscriber can fall behind.
    pub maxlen_approx: u64,
    /// This process's consumer name inside each group. A restarted process with the same name
    /// re-reads its own pending entries first, so keep it stable across restarts.
    pub consumer: String,
    /// An entry delivered more than this many times without an acknowledgement is moved to the
    /// dead-letter stream. Values below 1 count as 1.
    pub max_deliveries: u32,
    /// Entries pending this long with any consumer (a dead one, or this one after a failure)
    /// are reclaimed with `XAUTOCLAIM` and delivered again.
    pub claim_idle: Duration,
    /// How long a blocking read (`XREADGROUP`/`XREAD ... BLOCK`) waits for new entries.
    pub block: Duration,
    /// Connect timeout and response timeout of every non-blocking command.
    pub timeout: Duration,
    /// Directory of the local spool that holds events while Redis is unreachable
    /// (normally inside the daemon's state directory). Created if missing.
    pub spool_dir: PathBuf,
    /// Consumer groups the writer makes sure exist, created at the end of the stream, each
    /// time it connects and before it appends anything: a group created later would not see
    /// what was appended before it (e.g. a spool replayed while its worker was still
    /// reconnecting).
    pub groups: Vec<String>,
}

impl StreamConfig {
    /// A configuration with the defaults: prefix `alice`, `MAXLEN ~ 1000000`, consumer = host
    /// name, 5 deliveries, reclaim after 60 s idle, 2 s blocking reads, 5 s timeout.
    pub fn new(url: impl Into<String>, spool_dir: impl Into<PathBuf>) -> Self {
        Self {
            url: url.into(),
            prefix: "alice".to_owned(),
            maxlen_approx: 1_000_000,
            consumer: default_consumer(),
            max_deliveries: 5,
            claim_idle: Duration::from_secs(60),
            block: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            spool_dir: spool_dir.into(),
            groups: Vec::new(),
        }
    }

    /// Key of the event stream: `<prefix>:events`.
    pub fn stream_key(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// Key naming the daemon that owns the stream: `<prefix>:owner`.
    pub fn owner_key(&self) -> String {
        format!("{}:owner", self.prefix)
    }

    /// Key of the dead-letter stream: `<prefix>:dead`.
    pub fn dead_key(&self) -> String {
        format!("{}:dead", self.prefix)
    }

    /// Path of the spool file: `<spool_dir>/<prefix>.spool.jsonl` (prefix made file-name safe).
    pub fn spool_path(&self) -> PathBuf {
        let safe: String = self
            .prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.spool_dir.join(format!("{safe}.spool.jsonl"))
    }

    pub(crate) fn max_deliveries(&self) -> u64 {
        u64::from(self.max_deliveries.max(1))
    }
}

impl fmt::Display for StreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (stream {})", redact(&self.url), self.stream_key())
    }
}

impl fmt::Debug for StreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamConfig")
            .field("url", &redact(&self.url))
            .field("prefix", &self.prefix)
            .field("maxlen_approx", &self.maxlen_approx)
            .field("consumer", &self.consumer)
            .field("max_deliveries", &self.max_deliveries)
            .field("claim_idle", &self.claim_idle)
            .field("block", &self.block)
            .field("timeout", &self.timeout)
            .field("spool_dir", &self.spool_dir)
            .field("groups", &self.groups)
            .finish()
    }
}

/// The kernel's host name, so a restarted daemon on the same machine finds its own pending
/// entries again.
fn default_consumer() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "alice".to_owned())
}

/// A Redis URL safe to log: the password becomes `***` (`redis://user:***@host:6379/0`).
///
/// User info without a colon is masked whole, since it cannot be told apart from a password;
/// `pass`/`password` query parameters (unix-socket URLs) are masked too.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let (body, query) = match rest.find('?') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut out = String::from(scheme);
    // The last '@' ends the user info: a password with a stray '@' must not leak half of it.
    match body.rfind('@') {
        Some(at) => {
            let userinfo = &body[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str("***"),
            }
            out.push_str(&body[at..]);
        }
        None => out.push_str(body),
    }
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _))
                    if k.eq_ignore_ascii_case("pass") || k.eq_ignore_ascii_case("password") =>
                {
                    format!("{k}=***")
                }
                _ => p.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords_and_keeps_the_rest() {
        assert_eq!(
            redact("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(
            redact("redis://user:s3cret@host:6380/2"),
            "redis://user:***@host:6380/2"
        );
        assert_eq!(redact("rediss://:s3cret@host"), "rediss://:***@host");
        assert_eq!(redact("redis://s3cret@host"), "redis://***@host");
        assert_eq!(redact("redis://u:p@ss@host/1"), "redis://u:***@host/1");
        assert_eq!(
            redact("redis+unix:///run/redis.sock?db=1&pass=s3cret"),
            "redis+unix:///run/redis.sock?db=1&pass=***"
        );
    }

    #[test]
    fn keys_follow_the_prefix() {
        let mut cfg = StreamConfig::new("redis://h", "/state/spool");
        assert_eq!(cfg.stream_key(), "alice:events");
        assert_eq!(cfg.dead_key(), "alice:dead");
        cfg.prefix = "a/b".into();
        assert_eq!(
            cfg.spool_path(),
            PathBuf::from("/state/spool/a_b.spool.jsonl")
        );
        cfg.url = "redis://u:pw@h".into();
        assert!(!format!("{cfg} {cfg:?}").contains("pw"));
    }
}
