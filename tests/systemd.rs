//! systemd integration, for real: the `alice` binary speaks the notify protocol to a datagram
//! socket we bind (as systemd would), and the shipped unit files pass `systemd-analyze`.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ALICE: &str = env!("CARGO_BIN_EXE_alice");

fn write_config(dir: &Path) -> std::path::PathBuf {
    let cfg = dir.join("alice.toml");
    std::fs::write(
        &cfg,
        format!(
            "inboxes = [\"{0}/inbox\"]\norganized = \"{0}/organized\"\nmode = \"copy\"\nstate_dir = \"{0}/state\"\n[watch]\nsettle_ms = 100\n",
            dir.display()
        ),
    )
    .unwrap();
    cfg
}

/// Collects datagrams until one satisfies `want` (or the deadline passes).
fn expect(
    sock: &UnixDatagram,
    seen: &mut Vec<String>,
    what: &str,
    want: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = vec![0u8; 4096];
    while Instant::now() < deadline {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                seen.push(msg.clone());
                if want(&msg) {
                    return msg;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("recv: {e}"),
        }
    }
    panic!("no {what} within 30 s; received so far: {seen:#?}");
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(pid as i32, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

#[test]
fn notify_protocol_ready_reload_watchdog_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    let mut child = Command::new(ALICE)
        .args(["run", "--config"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "1000000")
        .env_remove("WATCHDOG_PID")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut seen = Vec::new();

    let ready = expect(&sock, &mut seen, "READY=1", |m| {
        m.lines().any(|l| l == "READY=1")
    });
    assert!(ready.contains("STATUS=watching 1 inbox"), "{ready}");
    // Half the 1 s watchdog interval: pings arrive while the (idle) pipeline is healthy.
    expect(&sock, &mut seen, "WATCHDOG=1", |m| {
        m.lines().any(|l| l == "WATCHDOG=1")
    });

    signal(pid, libc::SIGHUP);
    let reloading = expect(&sock, &mut seen, "RELOADING=1", |m| {
        m.lines().any(|l| l == "RELOADING=1")
    });
    let usec: u64 = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("RELOADING=1 without MONOTONIC_USEC: {reloading:?}"))
        .parse()
        .unwrap();
    assert!(usec > 0);
    expect(&sock, &mut seen, "READY=1 after reload", |m| {
        m.lines().any(|l| l == "READY=1")
    });

    signal(pid, libc::SIGTERM);
    expect(&sock, &mut seen, "STOPPING=1", |m| {
        m.lines().any(|l| l == "STOPPING=1")
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "alice did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}

/// Where the Debian package puts the binary; every shipped unit starts it from there.
const PACKAGED_BINARY: &str = "/usr/bin/alice";

fn shipped(src: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../systemd")
            .join(src),
    )
    .unwrap()
}

/// The units as shipped, with ExecStart pointed at the binary under test (verify checks that
/// the command exists).
fn unit_copy(dir: &Path, src: &str, name: &str) -> std::path::PathBuf {
    let text = shipped(src);
    let exec_start: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("ExecStart="))
        .collect();
    assert!(
        !exec_start.is_empty()
            && exec_start
                .iter()
                .all(|cmd| cmd.starts_with(&format!("{PACKAGED_BINARY} "))),
        "{src} must start {PACKAGED_BINARY}, the packaged binary: {exec_start:?}"
    );
    let text = text.replace(PACKAGED_BINARY, ALICE);
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn systemd_analyze() -> Command {
    assert!(
        Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_ok(),
        "systemd-analyze is needed for this test: apt-get install systemd"
    );
    Command::new("systemd-analyze")
}

#[test]
fn shipped_units_verify_and_system_unit_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    for (src, name) in [
        ("system/alice.service", "alice.service"),
        ("user/alice.service", "alice-user.service"),
        (
            "user/alice-worker@.service",
            "alice-worker@metadata.service",
        ),
    ] {
        let unit = unit_copy(dir.path(), src, name);
        let out = systemd_analyze()
            .args(["verify", "--man=no"])
            .arg(&unit)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.trim().is_empty(),
            "{src} does not verify:\n{text}"
        );
    }
    let unit = unit_copy(dir.path(), "system/alice.service", "alice.service");
    let out = systemd_analyze()
        .args(["security", "--offline=yes"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for alice.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(level <= 2.0, "system unit exposure {level} > 2.0:\n{text}");
}

/// The package creates the system unit's account from `alice.sysusers`: applied to an empty
/// root, it yields the `User=`/`Group=` the unit names, without a login shell.
#[test]
fn sysusers_creates_the_system_units_account() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../systemd/system/alice.sysusers");
    let out = Command::new("systemd-sysusers")
        .arg("--root")
        .arg(root.path())
        .arg(&conf)
        .output()
        .expect("systemd-sysusers is needed for this test: apt-get install systemd");
    assert!(
        out.status.success(),
        "systemd-sysusers: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    let group = std::fs::read_to_string(root.path().join("etc/group")).unwrap();
    let unit = shipped("system/alice.service");
    assert!(unit.contains("\nUser=alice\n") && unit.contains("\nGroup=alice\n"));
    let user: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("alice:"))
        .unwrap_or_else(|| panic!("no alice in passwd:\n{passwd}"))
        .split(':')
        .collect();
    assert_eq!(user[5], "/var/lib/alice", "{user:?}");
    assert!(user[6].ends_with("nologin"), "{user:?}");
    assert!(group.lines().any(|l| l.starts_with("alice:")), "{group}");
}
