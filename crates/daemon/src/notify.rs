//! The systemd notify protocol (sd_notify(3)): a datagram per state change to
//! `$NOTIFY_SOCKET`. Ten lines of protocol do not need a crate.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Sends state changes to the service manager; does nothing when not run under systemd.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    /// Half the watchdog interval when `WATCHDOG_USEC` is set for this process.
    pub watchdog_every: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace) and
    /// `WATCHDOG_USEC`/`WATCHDOG_PID`.
    pub fn from_env() -> Notifier {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|raw| {
            let raw = raw.into_encoded_bytes();
            let addr = match raw.strip_prefix(b"@") {
                Some(name) => SocketAddr::from_abstract_name(name),
                None => SocketAddr::from_pathname(std::ffi::OsStr::from_bytes_compat(&raw)),
            };
            match (addr, UnixDatagram::unbound()) {
                (Ok(addr), Ok(sock)) => Some((sock, addr)),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "NOTIFY_SOCKET is set but unusable; systemd will not hear from us");
                    None
                }
            }
        });
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let watchdog_every = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us)
            .map(|u| Duration::from_micros(u / 2));
        Notifier {
            target,
            watchdog_every,
        }
    }

    /// A notifier that sends nothing (not run by systemd, or in tests).
    pub fn disabled() -> Notifier {
        Notifier {
            target: None,
            watchdog_every: None,
        }
    }

    /// A second handle to the same socket (for the heartbeat task).
    pub fn clone_target(&self) -> Notifier {
        let target = self
            .target
            .as_ref()
            .and_then(|(_, addr)| UnixDatagram::unbound().ok().map(|s| (s, addr.clone())));
        Notifier {
            target,
            watchdog_every: self.watchdog_every,
        }
    }

    /// Sends one message (`READY=1`, `STATUS=…`, several lines allowed).
    pub fn send(&self, msg: &str) {
        if let Some((sock, addr)) = &self.target
            && let Err(e) = sock.send_to_addr(msg.as_bytes(), addr)
        {
            tracing::debug!(error = %e, message = msg, "cannot notify systemd");
        }
    }

    /// `RELOADING=1` with the `MONOTONIC_USEC` systemd wants for `Type=notify-reload`.
    pub fn reloading(&self) {
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
    }
}

fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1_000
}

trait FromBytesCompat {
    fn from_bytes_compat(b: &[u8]) -> &std::ffi::OsStr;
}

impl FromBytesCompat for std::ffi::OsStr {
    fn from_bytes_compat(b: &[u8]) -> &std::ffi::OsStr {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(b)
    }
}
