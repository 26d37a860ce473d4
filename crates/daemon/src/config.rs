//! The daemon's TOML config: parsing, defaults, validation.
//!
//! The binary reads the file; this module turns its text into a checked [`Config`].

use std::path::{Path, PathBuf};

use events::OrganizeMode;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

macro_rules! bail {
    ($($arg:tt)*) => { return Err(Error::Config(format!($($arg)*))) };
}

/// Default destination template.
pub const DEFAULT_TEMPLATE: &str = "{date}/{project}/{source}/{name}";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON lines when stdout is not a terminal, human-readable on a terminal.
    #[default]
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Human,
    /// Native journald records (structured fields, no JSON); falls back to JSON on stdout
    /// when there is no journal.
    Journald,
}

impl LogFormat {
    /// Every format's name, as written in the config and on the command line.
    pub const NAMES: [&'static str; 4] = ["auto", "json", "human", "journald"];
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<LogFormat, String> {
        match s {
            "auto" => Ok(LogFormat::Auto),
            "json" => Ok(LogFormat::Json),
            "human" => Ok(LogFormat::Human),
            "journald" => Ok(LogFormat::Journald),
            other => Err(format!(
                "unknown log format {other:?}; expected one of {}",
                LogFormat::NAMES.join(", ")
            )),
        }
    }
}

/// `[watch]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchSection {
    /// A file is processed once it has been closed and unchanged for this long.
    pub settle_ms: u64,
    /// Extra glob patterns (relative to the inbox) to ignore, besides temporary names.
    pub ignore: Vec<String>,
    /// Interval of the periodic scan used when inotify cannot watch a tree.
    pub poll_interval_s: u64,
    /// Scan periodically instead of using inotify (network filesystems).
    pub force_polling: bool,
    /// Files hashed at once (0 = number of CPUs).
    pub hash_concurrency: usize,
    /// A sidecar file (`.xmp`, `.aae`, …) still waiting in the inbox for its media this many
    /// seconds after it was first seen is listed by `alice status` (never deleted).
    pub orphan_sidecar_s: u64,
    /// A camera RAW or a Live Photo's video whose still is not in the inbox waits this long
    /// for it before it is organized on its own (a still that comes later takes it along).
    pub group_wait_ms: u64,
}

impl Default for WatchSection {
    fn default() -> Self {
        WatchSection {
            settle_ms: 500,
            ignore: Vec::new(),
            poll_interval_s: 30,
            force_polling: false,
            hash_concurrency: 0,
            orphan_sidecar_s: 600,
            group_wait_ms: 3000,
        }
    }
}

/// `[batch]` section: how the organizer batches placements (one durability barrier and one
/// catalog transaction per batch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchSection {
    /// Most files in one batch.
    pub files: usize,
    /// Most MiB in one batch (a batch always takes at least one file).
    pub mib: u64,
    /// Longest a batch waits for files still being prepared, in milliseconds; a file with
    /// nothing else on the way is placed at once.
    pub window_ms: u64,
}

impl Default for BatchSection {
    fn default() -> Self {
        let d = pipeline::BatchLimits::default();
        BatchSection {
            files: d.files,
            mib: d.bytes >> 20,
            window_ms: d.window.as_millis() as u64,
        }
    }
}

impl BatchSection {
    fn validate(&self) -> Result<()> {
        if !(1..=4096).contains(&self.files) {
            bail!(
                "key `batch.files`: {} is out of range (1 to 4096)",
                self.files
            );
        }
        if !(1..=65536).contains(&self.mib) {
            bail!("key `batch.mib`: {} is out of range (1 to 65536)", self.mib);
        }
        if self.window_ms > 10_000 {
            bail!(
                "key `batch.window_ms`: {} ms is too long (at most 10000)",
                self.window_ms
            );
        }
        Ok(())
    }

    fn limits(&self) -> pipeline::BatchLimits {
        pipeline::BatchLimits {
            files: self.files,
            bytes: self.mib << 20,
            window: std::time::Duration::from_millis(self.window_ms),
        }
    }
}

/// `[catalog]` section: how much full event history the catalog keeps. Older events are
/// folded into their asset's record (what `alice show`, search, undo and the start-up scan
/// need stays); with `[redis]`, the stream is the long-term event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogSection {
    /// Events recorded longer ago than this many days are folded.
    pub history_days: u32,
    /// At most this many of the newest events are kept in full.
    pub history_events: u64,
}

impl Default for CatalogSection {
    fn default() -> Self {
        let d = catalog::HistoryWindow::default();
        CatalogSection {
            history_days: d.days,
            history_events: d.events,
        }
    }
}

/// `[log]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `auto`, `json` or `human`.
    pub format: LogFormat,
    /// A tracing filter: `info`, `debug`, `alice=debug,info`… `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: LogFormat::Auto,
            level: "info".into(),
        }
    }
}

/// `[metrics]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Serve Prometheus metrics.
    pub enabled: bool,
    /// Address of the endpoint (`/metrics`).
    pub listen: std::net::SocketAddr,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            enabled: false,
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

/// `[web]` section: when present, the daemon serves the web gallery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    /// Address of the gallery (loopback unless `allow_remote`).
    pub listen: std::net::SocketAddr,
    /// Allow a `listen` address other machines can reach.
    #[serde(default)]
    pub allow_remote: bool,
    /// Host names (`name:port`) accepted in the Host header besides 127.0.0.1, localhost and
    /// [::1] with the listen port: what a reverse proxy forwards.
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// `[visual]` section: thumbnails and perceptual fingerprints of organized files (the gallery's
/// tiles, `alice similar`). On when present (unless `enabled = false`) or when `[web]` is
/// configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisualSection {
    /// On or off; unset: on (the section is present).
    pub enabled: Option<bool>,
    /// Largest image (width x height) decoded; larger ones are an `AssetFailed` of stage
    /// `visual` (decompression bombs). Decoding needs 3 to 8 bytes per pixel.
    pub max_pixels: u64,
    /// The ffmpeg program for video poster frames (a bare name is looked up on `PATH`); ""
    /// for none (videos get a placeholder).
    pub ffmpeg: String,
    /// The thumbnail cache's budget in MiB; least recently used thumbnails go beyond it.
    pub cache_max_mb: u64,
}

impl Default for VisualSection {
    fn default() -> Self {
        VisualSection {
            enabled: None,
            max_pixels: 100_000_000,
            ffmpeg: "ffmpeg".into(),
            cache_max_mb: 2048,
        }
    }
}

/// Thumbnail sizes (longest side, px): gallery tiles and the asset page.
pub const THUMBNAIL_SIZES: [u32; 2] = [1024, 256];

/// `[redis]` section: when present, every event is also appended to a Redis stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// `redis://[user[:password]@]host:port/db` (`rediss://` for TLS).
    pub url: String,
    /// A file holding the password (kept out of the config file); used when the URL has none.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Key prefix: the stream is `<prefix>:events`, dead letters `<prefix>:dead`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Approximate maximum stream length (`XADD … MAXLEN ~`).
    #[serde(default = "default_maxlen")]
    pub maxlen: u64,
    /// Consumer name in consumer groups (default: the host name).
    #[serde(default)]
    pub consumer: Option<String>,
    /// Deliveries before an entry goes to the dead-letter stream.
    #[serde(default = "default_max_deliveries")]
    pub max_deliveries: u32,
    /// Timeout of one Redis command, in milliseconds.
    #[serde(default = "default_redis_timeout")]
    pub timeout_ms: u64,
    /// Entries pending this long with a consumer that stopped are handed to another one.
    #[serde(default = "default_claim_idle")]
    pub claim_idle_ms: u64,
    /// Stages the daemon leaves to `alice worker` processes (`metadata`, `organizer`).
    #[serde(default)]
    pub workers: Vec<String>,
}

fn default_prefix() -> String {
    "alice".into()
}
fn default_maxlen() -> u64 {
    1_000_000
}
fn default_max_deliveries() -> u32 {
    5
}
fn default_redis_timeout() -> u64 {
    5000
}
fn default_claim_idle() -> u64 {
    60_000
}

/// Stages that may run as `alice worker`: the catalog stays with the daemon (status, scans and
/// the journal's recovery depend on it).
pub const WORKER_STAGES: [pipeline::Stage; 3] = [
    pipeline::Stage::Metadata,
    pipeline::Stage::Organizer,
    pipeline::Stage::Visual,
];

impl RedisSection {
    /// The URL with the password from `password_file` filled in (never logged: use
    /// `streams::redact`).
    pub fn connection_url(&self) -> Result<String> {
        let Some(file) = &self.password_file else {
            return Ok(self.url.clone());
        };
        let password = std::fs::read_to_string(file).map_err(|e| {
            Error::Config(format!(
                "key `redis.password_file`: cannot read {}: {e}",
                file.display()
            ))
        })?;
        let password: String = password
            .trim_end_matches(['\n', '\r'])
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let Some((scheme, rest)) = self.url.split_once("://") else {
            bail!(
                "key `redis.url`: {} is not a redis:// or rediss:// URL",
                streams::redact(&self.url)
            );
        };
        Ok(match rest.split_once('@') {
            Some((user, host)) if !user.contains(':') => {
                format!("{scheme}://{user}:{password}@{host}")
            }
            Some(_) => self.url.clone(),
            None => format!("{scheme}://:{password}@{rest}"),
        })
    }

    /// Checks the `[redis]` section.
    fn validate(&self) -> Result<()> {
        let r = self;
        if !(r.url.starts_with("redis://")
            || r.url.starts_with("rediss://")
            || r.url.starts_with("redis+unix://"))
        {
            bail!(
                "key `redis.url`: {} must start with redis://, rediss:// or redis+unix://",
                streams::redact(&r.url)
            );
        }
        if r.prefix.is_empty() || r.prefix.contains(char::is_whitespace) {
            bail!("key `redis.prefix`: must be non-empty and without spaces");
        }
        if r.max_deliveries == 0 {
            bail!("key `redis.max_deliveries`: must be at least 1");
        }
        if r.claim_idle_ms < 100 {
            bail!(
                "key `redis.claim_idle_ms`: {} ms is too short; entries still being handled would be taken away (use at least 100, default 60000)",
                r.claim_idle_ms
            );
        }
        for w in &r.workers {
            match w.parse::<pipeline::Stage>() {
                Ok(st) if WORKER_STAGES.contains(&st) => {}
                _ => bail!(
                    "key `redis.workers`: {w:?} cannot run as a worker; the choices are \"metadata\", \"organizer\" and \"visual\" (the catalog stays in the daemon)"
                ),
            }
        }
        Ok(())
    }

    /// The settings of the streams library; the `visual` group exists only when the visual
    /// stage is on.
    pub fn stream_config(&self, state_dir: &Path, visual: bool) -> Result<streams::StreamConfig> {
        let mut c = streams::StreamConfig::new(self.connection_url()?, state_dir);
        c.prefix = self.prefix.clone();
        c.maxlen_approx = self.maxlen;
        if let Some(name) = &self.consumer {
            c.consumer = name.clone();
        }
        c.max_deliveries = self.max_deliveries;
        c.timeout = std::time::Duration::from_millis(self.timeout_ms);
        c.claim_idle = std::time::Duration::from_millis(self.claim_idle_ms);
        // A blocking read returns at once when an entry arrives; its length only bounds how
        // long a stopping daemon or worker waits for its group readers.
        c.block = std::time::Duration::from_millis(500);
        // Every writer (daemon, workers) creates the stage groups before its first append, so
        // no stage, in process or in a worker, misses an event appended before it first read.
        c.groups = pipeline::Stage::ALL
            .iter()
            .filter(|s| visual || **s != pipeline::Stage::Visual)
            .map(|s| s.name().to_owned())
            .collect();
        Ok(c)
    }

    /// The stages named in `workers` (validated by [`Config::validate`]).
    pub fn worker_stages(&self) -> Vec<pipeline::Stage> {
        self.workers.iter().filter_map(|w| w.parse().ok()).collect()
    }

    /// A copy safe to print: the password in the URL masked.
    pub fn masked(&self) -> RedisSection {
        RedisSection {
            url: streams::redact(&self.url),
            ..self.clone()
        }
    }
}

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Folders to watch.
    #[serde(default)]
    pub inboxes: Vec<PathBuf>,
    /// Root of the organized tree.
    #[serde(default)]
    pub organized: PathBuf,
    /// `copy` or `move`.
    #[serde(default = "default_mode")]
    pub mode: OrganizeMode,
    /// Catalog and other state of this instance.
    #[serde(default)]
    pub state_dir: PathBuf,
    /// Destination template relative to `organized`.
    #[serde(default = "default_template")]
    pub template: String,
    /// Where duplicates go in move mode (default: `duplicates` beside `organized`).
    #[serde(default)]
    pub duplicates: Option<PathBuf>,
    /// Where unreadable media go (default: unset, they stay in the inbox).
    #[serde(default)]
    pub quarantine: Option<PathBuf>,
    /// File media without a capture date under `undated` instead of their modification date.
    #[serde(default)]
    pub undated: bool,
    /// Watcher settings.
    #[serde(default)]
    pub watch: WatchSection,
    /// Placement batches.
    #[serde(default)]
    pub batch: BatchSection,
    /// Catalog history.
    #[serde(default)]
    pub catalog: CatalogSection,
    /// Logging settings.
    #[serde(default)]
    pub log: LogSection,
    /// Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// Redis Streams (optional).
    #[serde(default)]
    pub redis: Option<RedisSection>,
    /// The web gallery (optional).
    #[serde(default)]
    pub web: Option<WebSection>,
    /// Thumbnails and fingerprints (optional; on with `[web]`).
    #[serde(default)]
    pub visual: Option<VisualSection>,
}

fn default_mode() -> OrganizeMode {
    OrganizeMode::Copy
}

fn default_template() -> String {
    DEFAULT_TEMPLATE.to_owned()
}

impl Config {
    /// Parses TOML text and validates it; `origin` names the file in errors, which give the
    /// line, column and key.
    pub fn parse(text: &str, origin: &Path) -> Result<Config> {
        let config = parse_text(text, origin)?;
        config.validated(origin)
    }

    /// Parses TOML text over `defaults`: folders the file leaves out come from there, and a
    /// leading `~` in a path is `home`. Then validates.
    pub fn parse_over(
        text: &str,
        origin: &Path,
        defaults: &Config,
        home: Option<&Path>,
    ) -> Result<Config> {
        let mut config = parse_text(text, origin)?;
        if config.inboxes.is_empty() {
            config.inboxes = defaults.inboxes.clone();
        }
        if config.organized.as_os_str().is_empty() {
            config.organized = defaults.organized.clone();
        }
        if config.state_dir.as_os_str().is_empty() {
            config.state_dir = defaults.state_dir.clone();
        }
        if let Some(home) = home {
            config.expand_home(home);
        }
        config.validated(origin)
    }

    fn validated(self, origin: &Path) -> Result<Config> {
        self.validate()
            .map_err(|e| Error::Config(format!("invalid config {}: {e}", origin.display())))?;
        Ok(self)
    }

    /// Replaces a leading `~` in every folder with `home`.
    fn expand_home(&mut self, home: &Path) {
        let expand = |p: &mut PathBuf| {
            if let Ok(rest) = p.strip_prefix("~") {
                *p = home.join(rest);
            }
        };
        self.inboxes.iter_mut().for_each(expand);
        for p in [&mut self.organized, &mut self.state_dir] {
            expand(p);
        }
        for p in [&mut self.duplicates, &mut self.quarantine]
            .into_iter()
            .flatten()
        {
            expand(p);
        }
    }

    /// The organizer's settings.
    pub fn settings(&self) -> Result<pipeline::Settings> {
        Ok(pipeline::Settings {
            organized: self.organized.clone(),
            mode: self.mode,
            template: organizer::Template::parse(&self.template)
                .map_err(|e| Error::Config(format!("key `template`: {e}")))?,
            duplicates: self.duplicates_dir(),
            quarantine: self.quarantine.clone(),
            undated: self.undated,
            visual: self.visual_settings(),
            group_wait: std::time::Duration::from_millis(self.watch.group_wait_ms),
            batch: self.batch.limits(),
            history: catalog::HistoryWindow {
                days: self.catalog.history_days,
                events: self.catalog.history_events,
            },
        })
    }

    /// Whether the visual stage runs: `[visual] enabled` when set, else whether `[visual]`
    /// or `[web]` is configured.
    pub fn visual_enabled(&self) -> bool {
        match &self.visual {
            Some(VisualSection {
                enabled: Some(on), ..
            }) => *on,
            Some(_) => true,
            None => self.web.is_some(),
        }
    }

    /// The visual stage's settings; `None` when it is off.
    pub fn visual_settings(&self) -> Option<pipeline::VisualSettings> {
        if !self.visual_enabled() {
            return None;
        }
        let v = self.visual.clone().unwrap_or_default();
        Some(pipeline::VisualSettings {
            max_pixels: v.max_pixels,
            ffmpeg: (!v.ffmpeg.is_empty()).then(|| PathBuf::from(&v.ffmpeg)),
            ffmpeg_timeout: std::time::Duration::from_secs(20),
            cache_dir: crate::layout::StateLayout::new(&self.state_dir).thumbnails(),
            sizes: THUMBNAIL_SIZES.to_vec(),
            max_cache_bytes: v.cache_max_mb.saturating_mul(1024 * 1024),
        })
    }

    /// The folders the daemon writes to (organized tree, duplicates, quarantine): never
    /// inbox input, even when found inside an inbox.
    pub fn outputs(&self) -> Vec<PathBuf> {
        let mut out = vec![self.organized.clone(), self.duplicates_dir()];
        out.extend(self.quarantine.clone());
        out
    }

    /// The watcher's settings.
    pub fn watch_config(&self) -> watcher::WatchConfig {
        let defaults = watcher::WatchConfig::default();
        watcher::WatchConfig {
            inboxes: self.inboxes.clone(),
            settle: std::time::Duration::from_millis(self.watch.settle_ms),
            ignore_globs: self.watch.ignore.clone(),
            hash_concurrency: match self.watch.hash_concurrency {
                0 => defaults.hash_concurrency,
                n => n,
            },
            poll_interval: std::time::Duration::from_secs(self.watch.poll_interval_s),
            force_polling: self.watch.force_polling,
            max_watches: None,
        }
    }

    /// The folder that receives duplicates in move mode.
    pub fn duplicates_dir(&self) -> PathBuf {
        self.duplicates.clone().unwrap_or_else(|| {
            self.organized
                .parent()
                .unwrap_or(Path::new("/"))
                .join("duplicates")
        })
    }

    /// Checks what serde cannot: absolute paths, no nesting of inboxes and the organized tree.
    pub fn validate(&self) -> Result<()> {
        if self.inboxes.is_empty() {
            bail!("key `inboxes`: at least one inbox folder is needed");
        }
        self.batch.validate()?;
        for (key, path) in [
            ("organized", &self.organized),
            ("state_dir", &self.state_dir),
        ] {
            if path.as_os_str().is_empty() {
                bail!(
                    "key `{key}` is missing; add a line such as {key} = \"/home/me/{}\"",
                    if key == "organized" {
                        "organized"
                    } else {
                        ".local/state/alice"
                    }
                );
            }
        }
        let mut named: Vec<(&str, &Path)> = vec![
            ("organized", &self.organized),
            ("state_dir", &self.state_dir),
        ];
        for inbox in &self.inboxes {
            named.push(("inboxes", inbox));
        }
        let dups = self.duplicates_dir();
        named.push(("duplicates", &dups));
        if let Some(q) = &self.quarantine {
            named.push(("quarantine", q));
        }
        for (key, path) in &named {
            if !path.is_absolute() {
                bail!(
                    "key `{key}`: {} is not an absolute path; write it in full (e.g. /home/me/inbox)",
                    path.display()
                );
            }
        }
        // Compared on the real locations (symlinks, `..`, folders that do not exist yet):
        // an organized tree inside an inbox would make the daemon eat its own output.
        fsroot::check_layout(&fsroot::Layout {
            inboxes: &self.inboxes,
            organized: &self.organized,
            duplicates: &dups,
            quarantine: self.quarantine.as_deref(),
            state_dir: &self.state_dir,
        })
        .map_err(|e| Error::Config(e.to_string()))?;
        self.validate_sections()?;
        organizer::Template::parse(&self.template)
            .map_err(|e| Error::Config(format!("key `template`: {e}")))?;
        Ok(())
    }

    /// The limits of the `[watch]`, `[web]`, `[redis]` and `[visual]` keys.
    fn validate_sections(&self) -> Result<()> {
        if self.watch.settle_ms > 600_000 {
            bail!(
                "key `watch.settle_ms`: {} ms is more than 10 minutes; files would wait too long",
                self.watch.settle_ms
            );
        }
        if self.watch.group_wait_ms > 600_000 {
            bail!(
                "key `watch.group_wait_ms`: {} ms is more than 10 minutes; files would wait too long",
                self.watch.group_wait_ms
            );
        }
        if self.watch.poll_interval_s == 0 {
            bail!("key `watch.poll_interval_s`: must be at least 1");
        }
        if let Some(w) = &self.web {
            web::check_listen(w.listen, w.allow_remote)
                .map_err(|e| Error::Config(e.to_string()))?;
        }
        if let Some(r) = &self.redis {
            r.validate()?;
            if r.worker_stages().contains(&pipeline::Stage::Visual) && !self.visual_enabled() {
                bail!(
                    "key `redis.workers`: \"visual\" is listed but the visual stage is off; add a [visual] section (or [web]) or remove it from the list"
                );
            }
        }
        if let Some(v) = &self.visual {
            if v.max_pixels < 1_000_000 {
                bail!(
                    "key `visual.max_pixels`: {} is less than a megapixel; most photos would fail (default 100000000)",
                    v.max_pixels
                );
            }
            if v.cache_max_mb == 0 {
                bail!("key `visual.cache_max_mb`: must be at least 1 (default 2048)");
            }
        }
        Ok(())
    }
}

/// TOML text to a config, without validation; errors name the file, line, column and key.
fn parse_text(text: &str, origin: &Path) -> Result<Config> {
    toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| s.start);
        let (line, col) = at.map(|s| line_col(text, s)).unwrap_or((0, 0));
        let message = e.message().trim_end();
        // `unknown field \`mdoe\`` already names it.
        let key = at
            .and_then(|s| key_at(text, s))
            .filter(|k| !message.contains(&format!("`{}`", k.rsplit('.').next().unwrap_or(k))));
        Error::Config(format!(
            "{}:{line}:{col}: {}{}",
            origin.display(),
            key.map(|k| format!("key `{k}`: ")).unwrap_or_default(),
            message
        ))
    })
}

/// The dotted key whose line holds `offset` (`watch.settle_ms`), when it is a `key = value`
/// line.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let key = line.split_once('=')?.0.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('#') || key.starts_with('[') {
        return None;
    }
    let table = before[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && !l.starts_with("[["))
        .map(|l| l.trim_matches(['[', ']']).trim().to_owned());
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_owned(),
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, col)
}

/// The config of a first run: no file, these folders, every other key at its default.
pub fn defaults(inbox: PathBuf, organized: PathBuf, state_dir: PathBuf) -> Config {
    Config {
        inboxes: vec![inbox],
        organized,
        mode: OrganizeMode::Copy,
        state_dir,
        template: default_template(),
        duplicates: None,
        quarantine: None,
        undated: false,
        watch: WatchSection::default(),
        batch: BatchSection::default(),
        catalog: CatalogSection::default(),
        log: LogSection::default(),
        metrics: MetricsSection::default(),
        redis: None,
        web: None,
        visual: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
inboxes = ["/tmp/a/inbox"]
organized = "/tmp/a/organized"
mode = "copy"
state_dir = "/tmp/a/state"
[watch]
settle_ms = 500
"#;

    #[test]
    fn minimal_contract_parses() {
        let c = Config::parse(MINIMAL, Path::new("t.toml")).unwrap();
        assert_eq!(c.template, DEFAULT_TEMPLATE);
        assert_eq!(c.watch.settle_ms, 500);
        assert_eq!(c.duplicates_dir(), PathBuf::from("/tmp/a/duplicates"));
    }

    #[test]
    fn the_visual_stage_is_on_with_web_or_its_own_section() {
        let off = Config::parse(MINIMAL, Path::new("t.toml")).unwrap();
        assert!(!off.visual_enabled());
        assert_eq!(off.settings().unwrap().visual, None);
        let web = format!("{MINIMAL}[web]\nlisten = \"127.0.0.1:8470\"\n");
        let on = Config::parse(&web, Path::new("t.toml")).unwrap();
        let v = on.settings().unwrap().visual.expect("on with [web]");
        assert_eq!(v.cache_dir, PathBuf::from("/tmp/a/state/thumbnails"));
        assert_eq!(v.sizes, vec![1024, 256]);
        assert_eq!(v.max_cache_bytes, 2048 * 1024 * 1024);
        assert_eq!(v.ffmpeg, Some(PathBuf::from("ffmpeg")));
        let web_off = format!("{web}[visual]\nenabled = false\n");
        assert!(
            !Config::parse(&web_off, Path::new("t.toml"))
                .unwrap()
                .visual_enabled()
        );
        let own = format!("{MINIMAL}[visual]\nffmpeg = \"\"\nmax_pixels = 20000000\n");
        let c = Config::parse(&own, Path::new("t.toml")).unwrap();
        let v = c.visual_settings().expect("on with [visual]");
        assert_eq!((v.ffmpeg, v.max_pixels), (None, 20_000_000));
        let tiny = format!("{MINIMAL}[visual]\nmax_pixels = 10\n");
        let err = Config::parse(&tiny, Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("visual.max_pixels"), "{err}");
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = MINIMAL.replace("settle_ms = 500", "settle_ms = 500\nsetle = 3");
        let err = Config::parse(&text, Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.toml:8:"), "{err}");
        assert!(err.contains("setle"), "{err}");
    }

    #[test]
    fn organized_inside_inbox_is_rejected() {
        let text = MINIMAL.replace("/tmp/a/organized", "/tmp/a/inbox/organized");
        let err = format!(
            "{:#}",
            Config::parse(&text, Path::new("t.toml")).unwrap_err()
        );
        assert!(err.contains("inside one another"), "{err}");
    }

    #[test]
    fn redis_password_never_shows_and_password_file_fills_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cr:et\n").unwrap();
        let text = format!(
            "{MINIMAL}[redis]\nurl = \"redis://alice@127.0.0.1:6379/0\"\npassword_file = \"{}\"\n",
            pw.display()
        );
        let c = Config::parse(&text, Path::new("t.toml")).unwrap();
        let r = c.redis.as_ref().unwrap();
        assert_eq!(
            r.connection_url().unwrap(),
            "redis://alice:s3cr%3Aet@127.0.0.1:6379/0"
        );
        let inline = RedisSection {
            url: "redis://u:hunter2@h:1/0".into(),
            ..r.clone()
        };
        assert!(!format!("{:?}", inline.masked()).contains("hunter2"));
        for (extra, key) in [
            ("workers = [\"catalog\"]", "redis.workers"),
            ("workers = [\"metadta\"]", "redis.workers"),
            ("claim_idle_ms = 5", "redis.claim_idle_ms"),
        ] {
            let text = format!("{MINIMAL}[redis]\nurl = \"redis://h\"\n{extra}\n");
            let err = format!(
                "{:#}",
                Config::parse(&text, Path::new("t.toml")).unwrap_err()
            );
            assert!(err.contains(key), "{extra}: {err}");
        }
        let ok = format!(
            "{MINIMAL}[redis]\nurl = \"redis://h\"\nworkers = [\"metadata\", \"organizer\"]\n"
        );
        let ok = Config::parse(&ok, Path::new("t.toml")).unwrap();
        assert_eq!(
            ok.redis.unwrap().worker_stages(),
            vec![pipeline::Stage::Metadata, pipeline::Stage::Organizer]
        );
        let bad = format!("{MINIMAL}[redis]\nurl = \"http://x\"\n");
        assert!(
            format!(
                "{:#}",
                Config::parse(&bad, Path::new("t.toml")).unwrap_err()
            )
            .contains("redis.url")
        );
    }

    #[test]
    fn relative_paths_and_bad_templates_are_rejected() {
        let text = MINIMAL.replace("/tmp/a/state", "state");
        let err = format!(
            "{:#}",
            Config::parse(&text, Path::new("t.toml")).unwrap_err()
        );
        assert!(err.contains("state_dir"), "{err}");
        let text = format!("template = \"{{date}}/{{nope}}\"\n{MINIMAL}");
        let err = format!(
            "{:#}",
            Config::parse(&text, Path::new("t.toml")).unwrap_err()
        );
        assert!(err.contains("template"), "{err}");
    }
}

#[cfg(test)]
mod example_file {
    use super::*;

    /// Every key `Config` knows, as dotted paths, from its serialized default form.
    fn keys(value: &toml::Value, prefix: &str, out: &mut Vec<String>) {
        if let toml::Value::Table(t) = value {
            for (k, v) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if v.is_table() {
                    keys(v, &path, out);
                } else {
                    out.push(path);
                }
            }
        }
    }

    #[test]
    fn documented_example_parses_and_mentions_every_key() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/alice.toml"
        ));
        let text = std::fs::read_to_string(path).unwrap();
        Config::parse(&text, path).unwrap();
        let mut full = defaults("/i".into(), "/o".into(), "/s".into());
        full.duplicates = Some("/d".into());
        full.quarantine = Some("/q".into());
        full.redis = Some(RedisSection {
            url: "redis://127.0.0.1:6379/0".into(),
            password_file: Some("/p".into()),
            prefix: default_prefix(),
            maxlen: default_maxlen(),
            consumer: Some("host".into()),
            max_deliveries: default_max_deliveries(),
            timeout_ms: default_redis_timeout(),
            claim_idle_ms: default_claim_idle(),
            workers: vec!["metadata".into()],
        });
        full.web = Some(WebSection {
            listen: "127.0.0.1:8470".parse().unwrap(),
            allow_remote: false,
            hosts: vec!["alice.example:443".into()],
        });
        full.visual = Some(VisualSection {
            enabled: Some(true),
            ..VisualSection::default()
        });
        let mut all = Vec::new();
        keys(&toml::Value::try_from(&full).unwrap(), "", &mut all);
        assert!(all.len() >= 13, "{all:?}");
        for key in all {
            let (section, leaf) = key
                .rsplit_once('.')
                .map_or(("", key.as_str()), |(s, l)| (s, l));
            let documented = text.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{leaf} =")) || l.starts_with(&format!("{leaf}="))
            });
            assert!(documented, "config/alice.toml does not document `{key}`");
            if !section.is_empty() {
                assert!(
                    text.contains(&format!("[{section}]")),
                    "missing section [{section}]"
                );
            }
        }
    }
}
