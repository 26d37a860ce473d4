//! Finding and reading the config file: `--config`/`$ALICE_CONFIG`, else the XDG location,
//! else built-in defaults. The daemon library checks what it reads (`daemon::Config`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use daemon::Config;

use crate::ConfigArgs;

/// Where the running config came from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The file, when there is one.
    pub path: Option<PathBuf>,
    /// The file the daemon follows for edits: the one in use, or where one would be read
    /// from (so a config written after a start on defaults is found by `alice reload`).
    pub follow: PathBuf,
    /// For logs and `config show`.
    pub description: String,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// Reads and checks a config file. What it leaves out comes from the built-in defaults, and
/// `~` in a folder is the home folder.
pub fn load_file(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read config file {} (create it, or pass --config FILE)",
            path.display()
        )
    })?;
    let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
    Ok(match XdgDefaults::detect() {
        Ok(xdg) => Config::parse_over(&text, path, &xdg.config(), home.as_deref())?,
        Err(_) => Config::parse(&text, path)?,
    })
}

/// On built-in defaults, the default folders are created before the first start (with a
/// config file, a missing inbox is more likely a typo: the daemon says so).
pub fn create_default_folders(cfg: &Config, origin: &Origin) -> Result<()> {
    if origin.path.is_some() {
        return Ok(());
    }
    for dir in &cfg.inboxes {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the default inbox {}", dir.display()))?;
    }
    Ok(())
}

/// Loads `--config`, else the XDG config file, else built-in defaults.
pub fn load(args: &ConfigArgs) -> Result<(Config, Origin)> {
    if let Some(path) = &args.config {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        return Ok((
            load_file(&path)?,
            Origin {
                description: path.display().to_string(),
                follow: path.clone(),
                path: Some(path),
            },
        ));
    }
    let xdg = XdgDefaults::detect()?;
    if xdg.config_file.exists() {
        return Ok((
            load_file(&xdg.config_file)?,
            Origin {
                description: xdg.config_file.display().to_string(),
                path: Some(xdg.config_file.clone()),
                follow: xdg.config_file,
            },
        ));
    }
    Ok((
        xdg.config(),
        Origin {
            path: None,
            description: format!(
                "built-in defaults; no config file at {}",
                xdg.config_file.display()
            ),
            follow: xdg.config_file,
        },
    ))
}

/// Re-reads the config for a reload: the file in use, or the one written since a start on
/// built-in defaults.
pub fn reload(origin: &Origin) -> std::result::Result<Config, String> {
    if !origin.follow.exists() && origin.path.is_none() {
        return Err(format!(
            "there is no config file at {} (running on built-in defaults); write one there (every key is documented in config/alice.toml) and reload again",
            origin.follow.display()
        ));
    }
    load_file(&origin.follow).map_err(|e| format!("{e:#}"))
}

/// Where a config lives when `--config` is not given, and the defaults for a first run.
pub struct XdgDefaults {
    /// `$XDG_CONFIG_HOME/alice/config.toml`.
    pub config_file: PathBuf,
    /// Default inbox.
    pub inbox: PathBuf,
    /// Default organized tree.
    pub organized: PathBuf,
    /// `$XDG_STATE_HOME/alice` (or the data dir where there is no state dir).
    pub state_dir: PathBuf,
}

impl XdgDefaults {
    /// Computes the defaults from the environment (`directories` crate).
    pub fn detect() -> Result<XdgDefaults> {
        let proj = directories::ProjectDirs::from("", "", "alice")
            .context("cannot find the home folder to place the default config; set HOME or pass --config FILE")?;
        let base = directories::UserDirs::new()
            .and_then(|u| {
                u.picture_dir()
                    .map(Path::to_path_buf)
                    .or_else(|| Some(u.home_dir().join("Pictures")))
            })
            .context("cannot find the home folder; set HOME or pass --config FILE")?
            .join("alice");
        Ok(XdgDefaults {
            config_file: proj.config_dir().join("config.toml"),
            inbox: base.join("inbox"),
            organized: base.join("organized"),
            state_dir: proj.state_dir().unwrap_or(proj.data_dir()).to_path_buf(),
        })
    }

    /// The config used when no file exists yet.
    pub fn config(&self) -> Config {
        daemon::config::defaults(
            self.inbox.clone(),
            self.organized.clone(),
            self.state_dir.clone(),
        )
    }
}
