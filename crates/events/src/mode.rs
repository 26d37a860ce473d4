//! Copy or move: the one mode type of the workspace (config, events, organizer, journal).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Copy or move. Written as `"copy"` / `"move"` in config files and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrganizeMode {
    /// The inbox file stays; a verified copy is placed in the organized tree.
    #[default]
    Copy,
    /// The inbox file is removed once its verified copy (or rename) is durable.
    Move,
}

impl OrganizeMode {
    /// Both modes.
    pub const ALL: [OrganizeMode; 2] = [OrganizeMode::Copy, OrganizeMode::Move];

    /// The lowercase name, as written in config files and events.
    pub fn as_str(self) -> &'static str {
        match self {
            OrganizeMode::Copy => "copy",
            OrganizeMode::Move => "move",
        }
    }
}

impl fmt::Display for OrganizeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name that is neither `copy` nor `move`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mode {0:?}: expected \"copy\" or \"move\"")]
pub struct UnknownMode(pub String);

impl FromStr for OrganizeMode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<OrganizeMode, UnknownMode> {
        OrganizeMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMode(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_the_json_form() {
        for m in OrganizeMode::ALL {
            assert_eq!(m.as_str().parse::<OrganizeMode>(), Ok(m));
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                format!("\"{}\"", m.as_str())
            );
        }
        assert_eq!(OrganizeMode::default(), OrganizeMode::Copy);
        assert_eq!(
            "Move".parse::<OrganizeMode>(),
            Err(UnknownMode("Move".into()))
        );
    }
}
