//! `alice config check`: does every configured folder exist (or can it be created), and may
//! the daemon read and write where it must? Each finding says what to do.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use events::OrganizeMode;

use crate::config::Config;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Works, but worth knowing (a folder that will be created at start).
    Note,
    /// The daemon would fail or do the wrong thing.
    Problem,
}

/// One finding about one configured folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// The config key.
    pub key: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

fn access(path: &Path, mode: libc::c_int) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path; access(2) reads it and touches no memory of ours.
    unsafe { libc::access(c.as_ptr(), mode) == 0 }
}

/// Checks every configured folder.
pub fn check(cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for inbox in &cfg.inboxes {
        check_inbox(inbox, cfg.mode, &mut out);
    }
    check_output("organized", &cfg.organized, &mut out);
    check_output("state_dir", &cfg.state_dir, &mut out);
    if cfg.mode == OrganizeMode::Move {
        check_output("duplicates", &cfg.duplicates_dir(), &mut out);
    }
    if let Some(q) = &cfg.quarantine {
        check_output("quarantine", q, &mut out);
    }
    out
}

fn check_inbox(inbox: &Path, mode: OrganizeMode, out: &mut Vec<Finding>) {
    let mut say = |severity, message| {
        out.push(Finding {
            severity,
            key: "inboxes",
            message,
        })
    };
    let shown = inbox.display();
    if !inbox.exists() {
        match inbox.parent().filter(|p| p.is_dir()) {
            Some(_) => say(
                Severity::Note,
                format!("inbox {shown} does not exist yet; it is created at start"),
            ),
            None => say(
                Severity::Problem,
                format!(
                    "inbox {shown} does not exist, nor does the folder it would be in; check the path for a typo, or create it with `mkdir -p {shown}`"
                ),
            ),
        }
        return;
    }
    if !inbox.is_dir() {
        say(
            Severity::Problem,
            format!("inbox {shown} is not a folder; point `inboxes` at a folder"),
        );
        return;
    }
    if !access(inbox, libc::R_OK | libc::X_OK) {
        say(
            Severity::Problem,
            format!(
                "inbox {shown} cannot be read by this user; fix its permissions (chmod u+rx) or run alice as its owner"
            ),
        );
    } else if mode == OrganizeMode::Move && !access(inbox, libc::W_OK) {
        say(
            Severity::Problem,
            format!(
                "inbox {shown} is read-only for this user, and mode = \"move\" removes organized files from it; make it writable or use mode = \"copy\""
            ),
        );
    }
}

fn check_output(key: &'static str, path: &Path, out: &mut Vec<Finding>) {
    let shown = path.display();
    let problem = |message| Finding {
        severity: Severity::Problem,
        key,
        message,
    };
    if path.exists() {
        if !path.is_dir() {
            out.push(problem(format!(
                "{shown} is not a folder; point `{key}` at a folder"
            )));
        } else if !access(path, libc::W_OK | libc::X_OK) {
            out.push(problem(format!(
                "{shown} is not writable by this user; fix its permissions or choose another folder for `{key}`"
            )));
        }
        return;
    }
    // Created on first use: the nearest existing folder above must be writable.
    let Some(base) = path.ancestors().skip(1).find(|p| p.exists()) else {
        out.push(problem(format!("{shown}: no part of this path exists")));
        return;
    };
    if access(base, libc::W_OK | libc::X_OK) {
        out.push(Finding {
            severity: Severity::Note,
            key,
            message: format!("{shown} does not exist yet; it is created when first needed"),
        });
    } else {
        out.push(problem(format!(
            "{shown} does not exist and cannot be created: {} is not writable by this user; create it, or choose another folder for `{key}`",
            base.display()
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_inbox_is_a_problem_and_a_missing_leaf_is_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = crate::config::defaults(
            dir.path().join("does-not-exist/inbox"),
            dir.path().join("organized"),
            dir.path().join("state"),
        );
        let found = check(&cfg);
        let inbox = found.iter().find(|f| f.key == "inboxes").unwrap();
        assert_eq!(inbox.severity, Severity::Problem, "{inbox:?}");
        assert!(inbox.message.contains("typo"), "{inbox:?}");
        assert!(
            found
                .iter()
                .all(|f| f.key == "inboxes" || f.severity == Severity::Note)
        );

        cfg.inboxes = vec![dir.path().join("inbox")];
        assert!(check(&cfg).iter().all(|f| f.severity == Severity::Note));
    }

    #[test]
    fn a_file_where_a_folder_belongs_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("organized"), b"x").unwrap();
        std::fs::create_dir(dir.path().join("inbox")).unwrap();
        let cfg = crate::config::defaults(
            dir.path().join("inbox"),
            dir.path().join("organized"),
            dir.path().join("state"),
        );
        let found = check(&cfg);
        assert!(
            found
                .iter()
                .any(|f| f.key == "organized" && f.severity == Severity::Problem),
            "{found:?}"
        );
    }
}
