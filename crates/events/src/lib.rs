//! AliceMultiverse events: the envelope and every payload type.
//!
//! Every significant step of the daemon is an [`Event`]: a CloudEvents 1.0 JSON envelope
//! (`specversion`, `id`, `source`, `type`, `time`, `subject`, `datacontenttype`, `data`) with
//! one extension attribute, `correlationid`, that follows one asset through its pipeline.
//!
//! - `id` is a UUIDv7 (time-ordered) created once with the event; retries and replays keep it,
//!   so consumers de-duplicate on it.
//! - `type` strings are namespaced and versioned: `alice.<category>.<name>.v<N>`.
//! - Reading is forward compatible: unknown fields are ignored, and an unknown `type` becomes
//!   [`Payload::Unknown`] instead of an error.
//!
//! This crate does no I/O.

mod identity;
pub mod media;
mod mode;
pub mod path;
pub mod payload;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub use identity::FileIdentity;
pub use mode::{OrganizeMode, UnknownMode};
pub use payload::*;

/// CloudEvents spec version written in every envelope.
pub const SPEC_VERSION: &str = "1.0";
/// `datacontenttype` of every envelope.
pub const CONTENT_TYPE: &str = "application/json";

/// The ADR's event categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// File discovery, processing, organization.
    Asset,
    /// Pipeline runs, scans, stage transitions.
    Workflow,
    /// Projects, styles, the active context.
    Creative,
    /// A type this version does not know.
    Unknown,
}

impl Category {
    /// Lowercase name, as used in `type` strings and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Asset => "asset",
            Category::Workflow => "workflow",
            Category::Creative => "creative",
            Category::Unknown => "unknown",
        }
    }

    /// The category named in a `type` string (`alice.<category>.…`).
    pub fn of_type(type_name: &str) -> Category {
        match type_name.split('.').nth(1) {
            Some("asset") => Category::Asset,
            Some("workflow") => Category::Workflow,
            Some("creative") => Category::Creative,
            _ => Category::Unknown,
        }
    }
}

macro_rules! payloads {
    ($( $variant:ident ( $ty:ty ) = $constant:ident = $name:literal ),* $(,)?) => {
        /// Every known event `type` string as a constant: match and filter on these, never on
        /// a spelled-out string. Generated with [`Payload`] from one list, so they cannot
        /// drift apart.
        pub mod types {
            $(
                #[doc = concat!("`", $name, "`")]
                pub const $constant: &str = $name;
            )*
        }

        /// The `data` of an event, typed by its `type`.
        // Events travel behind an `Arc` on the bus, so the size spread between variants costs
        // nothing per delivery; boxing would only add allocations.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq)]
        pub enum Payload {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant($ty),
            )*
            /// An event type this version does not know; kept verbatim.
            Unknown {
                /// The `type` attribute as received.
                type_name: String,
                /// The `data` attribute as received.
                data: serde_json::Value,
            },
        }

        impl Payload {
            /// Every known type string, in documentation order.
            pub const KNOWN_TYPES: &'static [&'static str] = &[$($name),*];

            /// The CloudEvents `type` of this payload.
            pub fn type_name(&self) -> &str {
                match self {
                    $(Payload::$variant(_) => $name,)*
                    Payload::Unknown { type_name, .. } => type_name,
                }
            }

            fn to_data(&self) -> Result<serde_json::Value, serde_json::Error> {
                match self {
                    $(Payload::$variant(p) => serde_json::to_value(p),)*
                    Payload::Unknown { data, .. } => Ok(data.clone()),
                }
            }

            /// Types `data` by `type_name`; unknown types are kept as [`Payload::Unknown`].
            pub fn from_data(type_name: &str, data: serde_json::Value) -> Result<Payload, serde_json::Error> {
                Ok(match type_name {
                    $($name => Payload::$variant(serde_json::from_value(data)?),)*
                    _ => Payload::Unknown { type_name: type_name.to_owned(), data },
                })
            }
        }

        $(
            impl From<$ty> for Payload {
                fn from(p: $ty) -> Payload { Payload::$variant(p) }
            }
        )*
    };
}

payloads! {
    AssetDiscovered(AssetDiscovered) = ASSET_DISCOVERED = "alice.asset.discovered.v1",
    MetadataExtracted(MetadataExtracted) = METADATA_EXTRACTED = "alice.asset.metadata_extracted.v1",
    AssetOrganized(AssetOrganized) = ASSET_ORGANIZED = "alice.asset.organized.v1",
    AssetDuplicate(AssetDuplicate) = ASSET_DUPLICATE = "alice.asset.duplicate.v1",
    AssetSkipped(AssetSkipped) = ASSET_SKIPPED = "alice.asset.skipped.v1",
    AssetFailed(AssetFailed) = ASSET_FAILED = "alice.asset.failed.v1",
    AssetRemoved(AssetRemoved) = ASSET_REMOVED = "alice.asset.removed.v1",
    SidecarFiled(SidecarFiled) = SIDECAR_FILED = "alice.asset.sidecar.v1",
    AssetVisualized(AssetVisualized) = ASSET_VISUALIZED = "alice.asset.visualized.v1",
    RunStarted(RunStarted) = RUN_STARTED = "alice.workflow.run_started.v1",
    ScanStarted(ScanStarted) = SCAN_STARTED = "alice.workflow.scan_started.v1",
    StageChanged(StageChanged) = STAGE_CHANGED = "alice.workflow.stage_changed.v1",
    RunCompleted(RunCompleted) = RUN_COMPLETED = "alice.workflow.completed.v1",
    RunFailed(RunFailed) = RUN_FAILED = "alice.workflow.failed.v1",
    DeadLettered(DeadLettered) = DEAD_LETTERED = "alice.workflow.dead_lettered.v1",
    ProjectCreated(ProjectCreated) = PROJECT_CREATED = "alice.creative.project_created.v1",
    StyleChosen(StyleChosen) = STYLE_CHOSEN = "alice.creative.style_chosen.v1",
    ContextUpdated(ContextUpdated) = CONTEXT_UPDATED = "alice.creative.context_updated.v1",
}

impl Payload {
    /// The category of this payload.
    pub fn category(&self) -> Category {
        Category::of_type(self.type_name())
    }

    /// The asset this payload is about, when it is about one.
    pub fn asset_id(&self) -> Option<&str> {
        match self {
            Payload::AssetDiscovered(p) => Some(&p.asset_id),
            Payload::MetadataExtracted(p) => Some(&p.asset_id),
            Payload::AssetOrganized(p) => Some(&p.asset_id),
            Payload::AssetDuplicate(p) => Some(&p.asset_id),
            Payload::AssetSkipped(p) => Some(&p.asset_id),
            Payload::AssetFailed(p) => p.asset_id.as_deref(),
            Payload::AssetRemoved(p) => Some(&p.asset_id),
            Payload::SidecarFiled(p) => Some(&p.asset_id),
            Payload::AssetVisualized(p) => Some(&p.asset_id),
            Payload::StageChanged(p) => Some(&p.asset_id),
            _ => None,
        }
    }
}

/// One event: a CloudEvents 1.0 envelope around a typed [`Payload`].
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// UUIDv7, unique, time-ordered, never changed once created.
    pub id: String,
    /// Producer, as a URI reference: `/alice/<component>` (e.g. `/alice/watcher`).
    pub source: String,
    /// When the event was created.
    pub time: DateTime<Utc>,
    /// What the event is about: the asset id for asset events.
    pub subject: Option<String>,
    /// Follows one asset through its pipeline: the id of the event that started it.
    pub correlation_id: Option<String>,
    /// The typed data.
    pub payload: Payload,
}

impl Event {
    /// A new event with a fresh UUIDv7 id and the current time. The subject is the payload's
    /// asset id, if any; the correlation id is the event's own id (a new pipeline starts).
    pub fn new(source: impl Into<String>, payload: impl Into<Payload>) -> Event {
        let payload = payload.into();
        let id = uuid::Uuid::now_v7().to_string();
        Event {
            subject: payload.asset_id().map(str::to_owned),
            correlation_id: Some(id.clone()),
            id,
            source: source.into(),
            time: Utc::now(),
            payload,
        }
    }

    /// A new event that continues this one's pipeline: same correlation id.
    pub fn follow(&self, source: impl Into<String>, payload: impl Into<Payload>) -> Event {
        let mut next = Event::new(source, payload);
        next.correlation_id = self
            .correlation_id
            .clone()
            .or_else(|| Some(self.id.clone()));
        next
    }

    /// The CloudEvents `type`.
    pub fn type_name(&self) -> &str {
        self.payload.type_name()
    }

    /// The event's category.
    pub fn category(&self) -> Category {
        self.payload.category()
    }

    /// One line of CloudEvents JSON.
    pub fn to_json(&self) -> String {
        // Serializing our own types to a String cannot fail: no maps with non-string keys, no
        // failing Serialize impls.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Parses one CloudEvents JSON document.
    pub fn from_json(s: &str) -> Result<Event, serde_json::Error> {
        serde_json::from_str(s)
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    specversion: String,
    id: String,
    source: String,
    #[serde(rename = "type")]
    type_name: String,
    time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(default = "default_content_type")]
    datacontenttype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlationid: Option<String>,
    #[serde(default)]
    data: serde_json::Value,
}

fn default_content_type() -> String {
    CONTENT_TYPE.to_owned()
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            specversion: &'static str,
            id: &'a str,
            source: &'a str,
            #[serde(rename = "type")]
            type_name: &'a str,
            time: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            subject: Option<&'a str>,
            datacontenttype: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            correlationid: Option<&'a str>,
            data: serde_json::Value,
        }
        let data = self.payload.to_data().map_err(serde::ser::Error::custom)?;
        Out {
            specversion: SPEC_VERSION,
            id: &self.id,
            source: &self.source,
            type_name: self.type_name(),
            time: self.time.to_rfc3339_opts(SecondsFormat::Micros, true),
            subject: self.subject.as_deref(),
            datacontenttype: CONTENT_TYPE,
            correlationid: self.correlation_id.as_deref(),
            data,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let env = Envelope::deserialize(d)?;
        if !env.specversion.starts_with("1.") {
            return Err(D::Error::custom(format!(
                "unsupported CloudEvents specversion {:?} (expected 1.x)",
                env.specversion
            )));
        }
        let payload = Payload::from_data(&env.type_name, env.data)
            .map_err(|e| D::Error::custom(format!("data of {}: {e}", env.type_name)))?;
        Ok(Event {
            id: env.id,
            source: env.source,
            time: env.time,
            subject: env.subject,
            correlation_id: env.correlationid,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::path::PathBuf;

    fn discovered(path: PathBuf) -> AssetDiscovered {
        AssetDiscovered {
            asset_id: "ab".repeat(32),
            path,
            size: 42,
            mtime: Utc::now(),
            inbox: PathBuf::from("/in"),
            project: "uncategorized".into(),
            kind: DiscoveryKind::Watch,
            hashed_as: Some(crate::FileIdentity {
                dev: 2049,
                ino: 1234,
                size: 42,
                mtime_ns: 1_700_000_000_123_456_789,
                ctime_ns: 1_700_000_001_000_000_000,
            }),
        }
    }

    #[test]
    fn round_trip_keeps_everything_including_non_utf8_paths() {
        let raw = OsString::from_vec(b"/in/caf\xe9 \xff.png".to_vec());
        let ev = Event::new("/alice/watcher", discovered(PathBuf::from(raw.clone())));
        let json = ev.to_json();
        assert!(json.contains("\"base64\""), "{json}");
        let back = Event::from_json(&json).unwrap();
        assert_eq!(
            back,
            Event {
                time: back.time,
                ..ev.clone()
            }
        );
        match back.payload {
            Payload::AssetDiscovered(d) => assert_eq!(d.path.into_os_string(), raw),
            other => panic!("wrong payload {other:?}"),
        }
    }

    #[test]
    fn envelope_has_cloudevents_attributes() {
        let ev = Event::new("/alice/watcher", discovered("/in/a.png".into()));
        let v: serde_json::Value = serde_json::from_str(&ev.to_json()).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["type"], "alice.asset.discovered.v1");
        assert_eq!(v["datacontenttype"], "application/json");
        assert_eq!(v["subject"], "ab".repeat(32));
        assert_eq!(v["correlationid"], ev.id);
        assert_eq!(v["data"]["path"], "/in/a.png");
        assert_eq!(uuid::Uuid::parse_str(&ev.id).unwrap().get_version_num(), 7);
    }

    #[test]
    fn ids_are_time_ordered_and_follow_keeps_correlation() {
        let a = Event::new("/t", discovered("/a".into()));
        let b = a.follow(
            "/t",
            StageChanged {
                asset_id: "x".into(),
                from: "a".into(),
                to: "b".into(),
            },
        );
        assert!(b.id > a.id);
        assert_eq!(b.correlation_id.as_deref(), Some(a.id.as_str()));
    }

    #[test]
    fn unknown_fields_are_ignored_and_unknown_types_kept() {
        let json = r#"{"specversion":"1.0","id":"1","source":"/x","type":"alice.asset.skipped.v1",
            "time":"2024-03-15T12:00:00Z","future":true,
            "data":{"asset_id":"a","path":"/p","reason":"r","added_later":[1,2]}}"#;
        let ev = Event::from_json(json).unwrap();
        assert!(matches!(ev.payload, Payload::AssetSkipped(_)));

        let json = r#"{"specversion":"1.0","id":"2","source":"/x","type":"alice.asset.teleported.v9",
            "time":"2024-03-15T12:00:00Z","data":{"to":"mars"}}"#;
        let ev = Event::from_json(json).unwrap();
        assert_eq!(ev.type_name(), "alice.asset.teleported.v9");
        assert_eq!(ev.category(), Category::Asset);
        assert!(matches!(ev.payload, Payload::Unknown { .. }));
        // and it is written back unchanged
        let again = Event::from_json(&ev.to_json()).unwrap();
        assert_eq!(again.payload, ev.payload);
    }

    #[test]
    fn type_constants_name_each_variant_and_pin_the_wire_names() {
        // The constants are the public contract (docs/events.md): pinned here by hand.
        let pinned = [
            (types::ASSET_DISCOVERED, "alice.asset.discovered.v1"),
            (
                types::METADATA_EXTRACTED,
                "alice.asset.metadata_extracted.v1",
            ),
            (types::ASSET_ORGANIZED, "alice.asset.organized.v1"),
            (types::ASSET_DUPLICATE, "alice.asset.duplicate.v1"),
            (types::ASSET_SKIPPED, "alice.asset.skipped.v1"),
            (types::ASSET_FAILED, "alice.asset.failed.v1"),
            (types::ASSET_REMOVED, "alice.asset.removed.v1"),
            (types::SIDECAR_FILED, "alice.asset.sidecar.v1"),
            (types::ASSET_VISUALIZED, "alice.asset.visualized.v1"),
            (types::RUN_STARTED, "alice.workflow.run_started.v1"),
            (types::SCAN_STARTED, "alice.workflow.scan_started.v1"),
            (types::STAGE_CHANGED, "alice.workflow.stage_changed.v1"),
            (types::RUN_COMPLETED, "alice.workflow.completed.v1"),
            (types::RUN_FAILED, "alice.workflow.failed.v1"),
            (types::DEAD_LETTERED, "alice.workflow.dead_lettered.v1"),
            (types::PROJECT_CREATED, "alice.creative.project_created.v1"),
            (types::STYLE_CHOSEN, "alice.creative.style_chosen.v1"),
            (types::CONTEXT_UPDATED, "alice.creative.context_updated.v1"),
        ];
        let constants: Vec<&str> = pinned.iter().map(|(c, _)| *c).collect();
        assert_eq!(constants, Payload::KNOWN_TYPES);
        for (constant, wire) in pinned {
            assert_eq!(constant, wire);
        }
        // A payload built in code reports its constant.
        let p = Payload::from(discovered("/a".into()));
        assert_eq!(p.type_name(), types::ASSET_DISCOVERED);
        let s = Payload::from(AssetSkipped {
            asset_id: "a".into(),
            path: "/a".into(),
            reason: "r".into(),
        });
        assert_eq!(s.type_name(), types::ASSET_SKIPPED);
    }

    #[test]
    fn categories_come_from_type_names() {
        for t in Payload::KNOWN_TYPES {
            assert_ne!(Category::of_type(t), Category::Unknown, "{t}");
            assert!(t.starts_with("alice.") && t.contains(".v"), "{t}");
        }
    }
}
