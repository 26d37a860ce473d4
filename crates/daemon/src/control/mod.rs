//! The control protocol: how the CLI talks to a running daemon over its Unix socket
//! (`alice status`, `alice events tail`, `alice reload`, creative commands).
//!
//! One JSON request line ([`RequestLine`]: a protocol version and a [`Request`]); one JSON
//! response line ([`ResponseLine`]: `{"ok": true, "data": Reply}` or `{"ok": false,
//! "error": "…"}`). After a `tail` request the daemon instead streams one CloudEvents JSON
//! line per event, and `{"missed": N}` lines when the observer lagged. The socket is mode
//! 0600 in a 0700 folder, and the daemon also checks the peer's uid.

pub mod client;
pub mod server;

use serde::{Deserialize, Serialize};

use crate::status::Status;

/// The protocol version this build speaks. A daemon refuses requests of a newer version with
/// a message saying so; fields are only ever added within one version.
pub const PROTOCOL_VERSION: u32 = 1;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The daemon's state.
    Status,
    /// Follow events live (lossy).
    Tail {
        /// Only types matching this pattern (`*` matches anything).
        #[serde(rename = "type", default)]
        type_pattern: Option<String>,
    },
    /// Re-read the config file and apply it; answers with what happened.
    Reload,
    /// Create a project.
    ProjectCreate {
        /// Its name (a safe folder name).
        name: String,
        /// What it is about.
        #[serde(default)]
        description: Option<String>,
    },
    /// Make a project active.
    ProjectUse {
        /// Its name.
        name: String,
    },
    /// Choose the active style.
    StyleChoose {
        /// Its name.
        name: String,
        /// A note.
        #[serde(default)]
        note: Option<String>,
    },
    /// Clear the active style.
    StyleClear,
    /// The near-duplicates of an organized asset (`alice similar`).
    Similar {
        /// The asset (64 hex digits).
        asset_id: String,
    },
}

impl Request {
    /// Every command name, for error messages.
    pub const NAMES: [&'static str; 8] = [
        "status",
        "tail",
        "reload",
        "project_create",
        "project_use",
        "style_choose",
        "style_clear",
        "similar",
    ];
}

/// A request as sent on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLine {
    /// Protocol version of the client (missing: 1).
    #[serde(default = "version_one")]
    pub v: u32,
    /// The request.
    #[serde(flatten)]
    pub request: Request,
}

fn version_one() -> u32 {
    1
}

impl From<Request> for RequestLine {
    fn from(request: Request) -> RequestLine {
        RequestLine {
            v: PROTOCOL_VERSION,
            request,
        }
    }
}

/// What a config reload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReloadOutcome {
    /// The file says what is already running.
    Unchanged,
    /// These keys now apply; `needs_restart` keys changed too but wait for a restart.
    Applied {
        /// Keys applied live.
        changed: Vec<String>,
        /// Keys that take effect at the next start.
        needs_restart: Vec<String>,
    },
    /// Only keys that cannot change while running changed.
    NeedsRestart {
        /// Those keys.
        keys: Vec<String>,
    },
    /// The edit is not acceptable; the running config stays as it was.
    Rejected {
        /// Why, naming the file and key.
        reason: String,
    },
}

impl std::fmt::Display for ReloadOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadOutcome::Unchanged => f.write_str("config unchanged; nothing to apply"),
            ReloadOutcome::Applied {
                changed,
                needs_restart,
            } => {
                write!(f, "config reloaded; applied: {}", changed.join(", "))?;
                if !needs_restart.is_empty() {
                    write!(
                        f,
                        "; needs a restart to take effect: {}",
                        needs_restart.join(", ")
                    )?;
                }
                Ok(())
            }
            ReloadOutcome::NeedsRestart { keys } => write!(
                f,
                "nothing applied: {} cannot change while the daemon runs; restart it (systemctl --user restart alice)",
                keys.join(", ")
            ),
            ReloadOutcome::Rejected { reason } => {
                write!(
                    f,
                    "config edit rejected; the running config stays: {reason}"
                )
            }
        }
    }
}

/// The creative context after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextReply {
    /// The active project.
    pub project: Option<String>,
    /// The active style.
    pub style: Option<String>,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// To `status`.
    Status(Box<Status>),
    /// To `tail`: events follow, one per line.
    Tailing,
    /// To `reload`: what the config edit did, and how many files that had failed for a
    /// passing reason are tried again.
    Reload {
        /// The config edit.
        outcome: ReloadOutcome,
        /// Files tried again.
        #[serde(default)]
        retried: u64,
    },
    /// To `project_create`.
    ProjectCreated {
        /// The project's name.
        name: String,
    },
    /// To `project_use`, `style_choose`, `style_clear`.
    Context(ContextReply),
    /// To `similar`.
    Similar(Box<crate::similar::SimilarView>),
}

/// A response as sent on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseLine {
    /// Whether the request succeeded.
    pub ok: bool,
    /// The answer, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Reply>,
    /// Why not, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<Result<Reply, String>> for ResponseLine {
    fn from(r: Result<Reply, String>) -> ResponseLine {
        match r {
            Ok(data) => ResponseLine {
                ok: true,
                data: Some(data),
                error: None,
            },
            Err(error) => ResponseLine {
                ok: false,
                data: None,
                error: Some(error),
            },
        }
    }
}

impl ResponseLine {
    /// The reply, or the daemon's error message.
    pub fn into_result(self) -> Result<Reply, String> {
        match (self.ok, self.data) {
            (true, Some(data)) => Ok(data),
            _ => Err(self
                .error
                .unwrap_or_else(|| "the daemon refused the request".into())),
        }
    }
}

/// `*` matches any run of characters; everything else literally.
pub fn type_matches(pattern: &str, type_name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = type_name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_request() -> Vec<Request> {
        vec![
            Request::Status,
            Request::Tail { type_pattern: None },
            Request::Tail {
                type_pattern: Some("alice.asset.*".into()),
            },
            Request::Reload,
            Request::ProjectCreate {
                name: "p".into(),
                description: Some("d".into()),
            },
            Request::ProjectUse { name: "p".into() },
            Request::StyleChoose {
                name: "noir".into(),
                note: None,
            },
            Request::StyleClear,
            Request::Similar {
                asset_id: "ab".repeat(32),
            },
        ]
    }

    #[test]
    fn every_request_round_trips_and_is_named() {
        let requests = every_request();
        for r in &requests {
            let line = serde_json::to_string(&RequestLine::from(r.clone())).unwrap();
            let back: RequestLine = serde_json::from_str(&line).unwrap();
            assert_eq!(&back.request, r, "{line}");
            assert_eq!(back.v, PROTOCOL_VERSION);
            let cmd = serde_json::from_str::<serde_json::Value>(&line).unwrap()["cmd"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(Request::NAMES.contains(&cmd.as_str()), "{cmd}");
        }
        // Every name is used by some request.
        for name in Request::NAMES {
            assert!(
                requests
                    .iter()
                    .any(|r| serde_json::to_value(r).unwrap()["cmd"] == name),
                "{name}"
            );
        }
    }

    #[test]
    fn a_versionless_request_is_version_one_and_unknown_commands_fail() {
        let r: RequestLine = serde_json::from_str(r#"{"cmd":"status"}"#).unwrap();
        assert_eq!(r.v, 1);
        assert!(serde_json::from_str::<RequestLine>(r#"{"cmd":"explode"}"#).is_err());
    }

    #[test]
    fn responses_round_trip() {
        for r in [
            Ok(Reply::Tailing),
            Ok(Reply::Reload {
                outcome: ReloadOutcome::Applied {
                    changed: vec!["mode".into()],
                    needs_restart: vec!["redis".into()],
                },
                retried: 2,
            }),
            Ok(Reply::Context(ContextReply {
                project: Some("p".into()),
                style: None,
            })),
            Ok(Reply::Similar(Box::new(crate::similar::SimilarView {
                asset: crate::similar::SimilarAsset {
                    asset_id: "ab".repeat(32),
                    path: Some("/o/a.png".into()),
                    width: Some(640),
                    height: None,
                    size: 12,
                },
                matches: vec![crate::similar::SimilarMatch {
                    asset: crate::similar::SimilarAsset {
                        asset_id: "cd".repeat(32),
                        path: None,
                        width: None,
                        height: Some(480),
                        size: 7,
                    },
                    hash_distance: 3,
                    grid_mean: 0.75,
                }],
            }))),
            Err("no".to_owned()),
        ] {
            let line = serde_json::to_string(&ResponseLine::from(r.clone())).unwrap();
            let back: ResponseLine = serde_json::from_str(&line).unwrap();
            assert_eq!(back.into_result(), r, "{line}");
        }
    }

    #[test]
    fn type_patterns() {
        assert!(type_matches("alice.asset.*", "alice.asset.organized.v1"));
        assert!(type_matches("*.failed.*", "alice.asset.failed.v1"));
        assert!(type_matches(
            "alice.asset.organized.v1",
            "alice.asset.organized.v1"
        ));
        assert!(!type_matches(
            "alice.asset.organized.v1",
            "alice.asset.organized.v2"
        ));
        assert!(!type_matches("alice.workflow.*", "alice.asset.failed.v1"));
        assert!(type_matches("*", "anything"));
    }
}
