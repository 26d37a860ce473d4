//! What a config edit changes, and what each change needs: a pure comparison of two configs.
//!
//! Reload is diff → validate → apply (see [`crate::Running::reload`]): this module only
//! answers "which keys changed, and which of them apply live".

use crate::config::Config;

/// How a changed key takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The organizer's settings: swapped at once, for files discovered from then on.
    Organizer,
    /// The watcher restarts with the new inboxes or watch settings.
    Watcher,
    /// The log filter is swapped.
    LogLevel,
    /// Cannot change while running; kept until the next start.
    Restart,
}

/// One changed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The dotted config key, as written in the file.
    pub key: &'static str,
    /// How it takes effect.
    pub effect: Effect,
}

/// Every key that differs between two configs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    /// In the order the keys appear in the documented config.
    pub changes: Vec<Change>,
}

impl ConfigDiff {
    /// Compares `old` (running) with `new` (just read).
    pub fn between(old: &Config, new: &Config) -> ConfigDiff {
        use Effect::*;
        let (ow, nw) = (&old.watch, &new.watch);
        let candidates = [
            ("inboxes", Watcher, old.inboxes != new.inboxes),
            ("organized", Organizer, old.organized != new.organized),
            ("mode", Organizer, old.mode != new.mode),
            ("state_dir", Restart, old.state_dir != new.state_dir),
            ("template", Organizer, old.template != new.template),
            ("duplicates", Organizer, old.duplicates != new.duplicates),
            ("quarantine", Organizer, old.quarantine != new.quarantine),
            ("undated", Organizer, old.undated != new.undated),
            ("watch.settle_ms", Watcher, ow.settle_ms != nw.settle_ms),
            ("watch.ignore", Watcher, ow.ignore != nw.ignore),
            (
                "watch.poll_interval_s",
                Watcher,
                ow.poll_interval_s != nw.poll_interval_s,
            ),
            (
                "watch.force_polling",
                Watcher,
                ow.force_polling != nw.force_polling,
            ),
            (
                "watch.hash_concurrency",
                Watcher,
                ow.hash_concurrency != nw.hash_concurrency,
            ),
            (
                "watch.orphan_sidecar_s",
                Organizer,
                ow.orphan_sidecar_s != nw.orphan_sidecar_s,
            ),
            ("batch", Organizer, old.batch != new.batch),
            ("catalog", Organizer, old.catalog != new.catalog),
            (
                "watch.group_wait_ms",
                Organizer,
                ow.group_wait_ms != nw.group_wait_ms,
            ),
            ("log.format", Restart, old.log.format != new.log.format),
            ("log.level", LogLevel, old.log.level != new.log.level),
            ("metrics", Restart, old.metrics != new.metrics),
            ("redis", Restart, old.redis != new.redis),
            ("web", Restart, old.web != new.web),
            ("visual", Restart, old.visual != new.visual),
        ];
        ConfigDiff {
            changes: candidates
                .into_iter()
                .filter(|(_, _, changed)| *changed)
                .map(|(key, effect, _)| Change { key, effect })
                .collect(),
        }
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Keys with the given effect.
    pub fn keys(&self, effect: Effect) -> Vec<&'static str> {
        self.changes
            .iter()
            .filter(|c| c.effect == effect)
            .map(|c| c.key)
            .collect()
    }

    /// True when some key has this effect.
    pub fn has(&self, effect: Effect) -> bool {
        self.changes.iter().any(|c| c.effect == effect)
    }

    /// Keys that apply while running.
    pub fn live_keys(&self) -> Vec<&'static str> {
        self.changes
            .iter()
            .filter(|c| c.effect != Effect::Restart)
            .map(|c| c.key)
            .collect()
    }

    /// `new` with every restart-only key kept at `old`'s value: the config that runs after
    /// a live reload.
    pub fn running_config(&self, old: &Config, new: &Config) -> Config {
        let mut next = new.clone();
        next.state_dir = old.state_dir.clone();
        next.log.format = old.log.format;
        next.metrics = old.metrics.clone();
        next.redis = old.redis.clone();
        next.web = old.web.clone();
        next.visual = old.visual.clone();
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RedisSection, defaults};

    fn base() -> Config {
        defaults("/in".into(), "/org".into(), "/state".into())
    }

    #[test]
    fn nothing_changed_is_empty() {
        assert!(ConfigDiff::between(&base(), &base()).is_empty());
    }

    #[test]
    fn organizer_keys_apply_live() {
        let mut new = base();
        new.mode = events::OrganizeMode::Move;
        new.template = "{date}/{name}".into();
        let d = ConfigDiff::between(&base(), &new);
        assert_eq!(d.keys(Effect::Organizer), ["mode", "template"]);
        assert_eq!(d.live_keys(), ["mode", "template"]);
        assert!(!d.has(Effect::Restart));
        assert!(!d.has(Effect::Watcher));
    }

    #[test]
    fn watch_keys_restart_the_watcher_and_are_named_one_by_one() {
        let mut new = base();
        new.inboxes.push("/in2".into());
        new.watch.settle_ms = 900;
        let d = ConfigDiff::between(&base(), &new);
        assert_eq!(d.keys(Effect::Watcher), ["inboxes", "watch.settle_ms"]);
    }

    #[test]
    fn restart_keys_are_kept_at_the_running_value() {
        let old = base();
        let mut new = base();
        new.state_dir = "/elsewhere".into();
        new.log.level = "debug".into();
        new.redis = Some(RedisSection {
            url: "redis://127.0.0.1".into(),
            password_file: None,
            prefix: "alice".into(),
            maxlen: 10,
            consumer: None,
            max_deliveries: 5,
            timeout_ms: 100,
            claim_idle_ms: 1000,
            workers: vec![],
        });
        let d = ConfigDiff::between(&old, &new);
        assert_eq!(d.keys(Effect::Restart), ["state_dir", "redis"]);
        assert_eq!(d.keys(Effect::LogLevel), ["log.level"]);
        let running = d.running_config(&old, &new);
        assert_eq!(running.state_dir, old.state_dir);
        assert_eq!(running.redis, None);
        assert_eq!(running.log.level, "debug");
    }
}
