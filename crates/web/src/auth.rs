//! The secret, sessions, one-time login tokens and CSRF tokens.
//!
//! Everything is derived from one 32-byte secret in a 0600 file (`web.secret` in the state
//! dir) with keyed BLAKE3, so nothing but the used login tokens needs to be remembered:
//! - the session cookie is `H(secret, "session")`: valid until the secret file is deleted
//!   (which logs every browser out at the next start);
//! - the CSRF token is `H(secret, "csrf" | session)`, put in every page and required on
//!   every state-changing request;
//! - a login token is `<unix seconds>.<nonce>.<H(secret, "login" | seconds | nonce)>`: valid
//!   for [`LOGIN_VALID_S`] and once (the server remembers the nonces it has accepted).
//!
//! Comparisons go through `blake3::Hash`, whose equality is constant-time.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Mutex;

use crate::WebError;

/// How long a login URL stays valid, in seconds.
pub const LOGIN_VALID_S: i64 = 600;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "alice_session";

/// A one-time login token; [`LoginToken::url`] makes the URL to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginToken(pub String);

impl LoginToken {
    /// The URL that logs a browser in to the gallery listening on `listen`.
    pub fn url(&self, listen: SocketAddr) -> String {
        let ip = match listen.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!(
            "http://{}/login?token={}",
            SocketAddr::new(ip, listen.port()),
            self.0
        )
    }
}

/// Mints a one-time login token from the secret in `secret_file` (written by the running
/// gallery), valid for [`LOGIN_VALID_S`] from `now` (unix seconds).
pub fn login_token(secret_file: &Path, now: i64) -> Result<LoginToken, WebError> {
    let key = read_secret(secret_file)?;
    let nonce = blake3::Hash::from_bytes(random_bytes(secret_file)?).to_hex();
    let nonce = &nonce.as_str()[..32];
    let mac = mac(&key, &format!("login|{now}|{nonce}"));
    Ok(LoginToken(format!("{now}.{nonce}.{}", mac.to_hex())))
}

fn mac(key: &[u8; 32], text: &str) -> blake3::Hash {
    blake3::keyed_hash(key, text.as_bytes())
}

fn random_bytes(context: &Path) -> Result<[u8; 32], WebError> {
    let mut out = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut out))
        .map_err(|source| WebError::Secret {
            path: context.to_path_buf(),
            source,
        })?;
    Ok(out)
}

fn read_secret(path: &Path) -> Result<[u8; 32], WebError> {
    let err = |source| WebError::Secret {
        path: path.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(err)?;
    blake3::Hash::from_hex(text.trim())
        .map(|h| *h.as_bytes())
        .map_err(|e| {
            err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not a secret written by alice ({e}); delete it to have a new one made"),
            ))
        })
}

/// The keys of a running gallery.
pub(crate) struct Keys {
    key: [u8; 32],
    session: blake3::Hash,
    csrf: String,
    /// Accepted login nonces and their token times, forgotten once expired.
    used: Mutex<HashMap<String, i64>>,
}

impl Keys {
    /// Reads the secret, or creates it (0600) when missing. A secret readable by others is
    /// made private again.
    pub fn load_or_create(path: &Path) -> Result<Keys, WebError> {
        let err = |source| WebError::Secret {
            path: path.to_path_buf(),
            source,
        };
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut f) => {
                let hex = blake3::Hash::from_bytes(random_bytes(path)?).to_hex();
                f.write_all(format!("{hex}\n").as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(err)?;
                tracing::info!(path = %path.display(), "created the web gallery's secret");
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mode = std::fs::metadata(path).map_err(err)?.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the web secret was readable by others; made it 0600");
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                        .map_err(err)?;
                }
            }
            Err(e) => return Err(err(e)),
        }
        Ok(Keys::new(read_secret(path)?))
    }

    fn new(key: [u8; 32]) -> Keys {
        let session = mac(&key, "session");
        let csrf = mac(&key, &format!("csrf|{}", session.to_hex()))
            .to_hex()
            .to_string();
        Keys {
            key,
            session,
            csrf,
            used: Mutex::new(HashMap::new()),
        }
    }

    /// The session cookie's value.
    pub fn session(&self) -> String {
        self.session.to_hex().to_string()
    }

    /// The CSRF token of the session.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether a `Cookie` header value carries the session.
    pub fn has_session(&self, cookie_header: &str) -> bool {
        cookie_header.split(';').any(|pair| {
            pair.trim()
                .strip_prefix(COOKIE)
                .and_then(|rest| rest.strip_prefix('='))
                .and_then(|v| blake3::Hash::from_hex(v.trim()).ok())
                .is_some_and(|h| h == self.session)
        })
    }

    /// Whether `token` is the session's CSRF token.
    pub fn is_csrf(&self, token: &str) -> bool {
        match (
            blake3::Hash::from_hex(token.trim()),
            blake3::Hash::from_hex(&self.csrf),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }

    /// Accepts a login token once, within its validity, at `now` (unix seconds).
    pub fn accept_login(&self, token: &str, now: i64) -> bool {
        let mut parts = token.splitn(3, '.');
        let (Some(secs), Some(nonce), Some(given)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let (Ok(at), Ok(given)) = (secs.parse::<i64>(), blake3::Hash::from_hex(given)) else {
            return false;
        };
        // A minute of clock skew is allowed: `alice web` and the daemon share the clock.
        if mac(&self.key, &format!("login|{at}|{nonce}")) != given
            || now - at > LOGIN_VALID_S
            || at - now > 60
        {
            return false;
        }
        let mut used = self
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        used.retain(|_, t| now - *t <= LOGIN_VALID_S);
        used.insert(nonce.to_owned(), at).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (tempfile::TempDir, Keys) {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::load_or_create(&dir.path().join("web.secret")).unwrap();
        (dir, keys)
    }

    #[test]
    fn the_secret_is_private_and_stable() {
        let (dir, keys) = keys();
        let path = dir.path().join("web.secret");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let again = Keys::load_or_create(&path).unwrap();
        assert_eq!(again.session(), keys.session());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, "garbage").unwrap();
        assert!(Keys::load_or_create(&path).is_err());
    }

    #[test]
    fn a_login_token_works_once_and_only_while_fresh() {
        let (dir, keys) = keys();
        let secret = dir.path().join("web.secret");
        let now = 1_700_000_000;
        let token = login_token(&secret, now).unwrap().0;
        assert!(!keys.accept_login(&token, now + LOGIN_VALID_S + 1));
        assert!(keys.accept_login(&token, now + 5));
        assert!(!keys.accept_login(&token, now + 6), "used twice");
        let other = login_token(&secret, now).unwrap().0;
        assert_ne!(other, token);
        assert!(!keys.accept_login(&other, now - 120), "from the future");
        let forged = format!("{}.{}", &other[..other.len() - 1], "0");
        assert!(!keys.accept_login(&forged, now));
        assert!(!keys.accept_login("", now));
        assert!(!keys.accept_login("1.2", now));
        assert!(keys.accept_login(&other, now));
    }

    #[test]
    fn sessions_and_csrf_tokens_are_checked_exactly() {
        let (_dir, keys) = keys();
        let s = keys.session();
        assert!(keys.has_session(&format!("a=b; {COOKIE}={s}")));
        assert!(!keys.has_session(&format!("{COOKIE}={}", &s[1..])));
        assert!(!keys.has_session(&format!("x{COOKIE}={s}")));
        assert!(!keys.has_session(""));
        assert!(keys.is_csrf(keys.csrf()));
        assert!(!keys.is_csrf(&s));
        assert!(!keys.is_csrf(""));
    }

    #[test]
    fn login_urls_name_a_loopback_address() {
        let t = LoginToken("t".into());
        assert_eq!(
            t.url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080/login?token=t"
        );
        assert_eq!(
            t.url("[::]:8080".parse().unwrap()),
            "http://[::1]:8080/login?token=t"
        );
    }
}
