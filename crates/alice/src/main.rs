//! The `alice` binary: CLI, config loading, wiring, logging. Business logic lives in the
//! library crates; this is glue.

mod client;
mod config;
mod inspect;
mod logging;
mod man;
mod out;
mod progress;
mod run;
mod search;
mod similar;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// AliceMultiverse: a media organizer daemon.
///
/// Watches inbox folders, identifies every finished image or video by content (BLAKE3), reads
/// its metadata (capture date, camera, which AI tool made it, prompt, model, seed) and files it
/// into an organized tree, without ever losing, overwriting or half-processing a file.
#[derive(Parser)]
#[command(name = "alice", version, about, long_about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format: auto (JSON when the log goes to a pipe or the journal, human on a
    /// terminal), json, human (one short line per file), or journald (native journal fields).
    #[arg(long, global = true, value_name = "FORMAT", value_parser = parse_log_format)]
    log_format: Option<daemon::LogFormat>,
}

/// `--log-format`, given once for any command.
static LOG_FORMAT: std::sync::OnceLock<Option<daemon::LogFormat>> = std::sync::OnceLock::new();

/// The `--log-format` flag, if given.
pub fn log_format_flag() -> Option<daemon::LogFormat> {
    LOG_FORMAT.get().copied().flatten()
}

#[derive(Subcommand)]
enum Command {
    /// Watch the inboxes and organize every finished file until SIGINT/SIGTERM.
    ///
    /// Starts with a reconciliation scan of every inbox, then follows inotify events. On
    /// SIGINT/SIGTERM it stops watching, finishes in-flight files and exits 0. Without a config
    /// file it uses defaults under your Pictures folder and says where.
    Run(ConfigArgs),
    /// Organize what is in the inboxes now, then exit (one reconciliation pass).
    ///
    /// Prints a summary (organized, duplicates, skipped, failed). With --dry-run it prints the
    /// plan and changes nothing at all, the catalog included.
    Scan {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print what the daemon would know about each file (metadata, AI source, prompt…).
    ///
    /// Exit status 0 when every file could be opened, even if some are not media or are
    /// corrupt (their `error` says why); 1 when a file could not be opened.
    Inspect {
        /// One JSON object per line per file, in argument order.
        #[arg(long)]
        json: bool,
        /// Files to inspect.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Reverse the last N organize operations.
    ///
    /// Move mode: files go back to where they came from (never replacing anything). Copy mode:
    /// an organized copy is deleted only when its source still exists and is identical.
    Undo {
        #[command(flatten)]
        config: ConfigArgs,
        /// How many operations to reverse, most recent first.
        #[arg(long, value_name = "N")]
        last: usize,
    },
    /// Validate or show the config.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Show what the running daemon is doing: inboxes, queues, counts, recent errors.
    Status {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print the status as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Live events from the running daemon.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Ask the running daemon to re-read its config file (like SIGHUP).
    Reload(ConfigArgs),
    /// Projects: files landing directly in an inbox go to the active project.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// The active style, recorded with every file organized while it is active.
    #[command(subcommand)]
    Style(StyleCommand),
    /// Find organized files by words from their prompt, file name, model, project or style,
    /// and by source, project, style, model, date or media type.
    ///
    /// Prints one line per file: organized path, capture date, source and a prompt excerpt
    /// with the match marked. Reads the catalog directly, so it works with or without the
    /// daemon running. Exit status 0 when something was found, 1 when nothing was.
    Search(search::SearchArgs),
    /// Everything known about one file: metadata, generation parameters, where it came from,
    /// where it went, and its event history.
    Show(search::ShowArgs),
    /// List the near-duplicates of an organized file: the same picture resized, re-encoded,
    /// stripped of metadata, slightly cropped or turned.
    ///
    /// Prints each match's organized path, how it differs (pixels, bytes) and how close it is
    /// (hash distance, grid difference). Needs the visual stage (on with `[web]` or
    /// `[visual]`), which fingerprints files after organizing them. Asks the running daemon,
    /// or without one builds the index from the catalog. Nothing is ever deleted for being
    /// similar. Exit status 0 when near-duplicates were found, 1 when none were (or on an
    /// error: an unknown file, no fingerprint yet, a video without a poster frame).
    Similar(similar::SimilarArgs),
    /// Print a one-time URL that logs a browser in to the web gallery (needs `[web]`).
    ///
    /// On a terminal with a graphical session it also opens the URL with `xdg-open`. The
    /// URL works once, within 10 minutes; the session it starts lasts until the gallery's
    /// secret (`web.secret` in the state dir) is deleted.
    Web {
        #[command(flatten)]
        config: ConfigArgs,
        /// Only print the URL, never open a browser.
        #[arg(long)]
        no_open: bool,
    },
    /// Run one pipeline stage in its own process, fed by the Redis stream.
    ///
    /// Reads the stage's consumer group on `<prefix>:events` (needs `[redis]`, and the stage
    /// listed in `redis.workers` so the daemon does not run it too): its own pending entries
    /// first, entries a stopped worker left behind (after `claim_idle_ms`), then new ones.
    /// What it produces is appended to the stream, where the daemon picks it up. Start several
    /// with different `--consumer` names to share the work. Stops on SIGINT/SIGTERM after
    /// the batch in hand; unacknowledged entries are handled again, never twice in effect.
    Worker {
        /// The stage: metadata, organizer or visual.
        #[arg(value_parser = ["metadata", "organizer", "visual"])]
        stage: String,
        #[command(flatten)]
        config: ConfigArgs,
        /// This worker's name in the consumer group (default: `<redis.consumer>-<stage>`).
        /// Keep it stable across restarts so a restarted worker finds its pending entries.
        #[arg(long, value_name = "NAME")]
        consumer: Option<String>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout: `alice man | man -l -`.
    ///
    /// With --dir, write one page per command instead: alice.1, alice-run.1,
    /// alice-events-tail.1, … (what `man alice-run` shows once they are installed).
    Man {
        /// Write every page into this folder (created if missing).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Follow events live. Lossy: when this terminal cannot keep up, it is told how many it
    /// missed; the daemon never slows down for it.
    Tail {
        #[command(flatten)]
        config: ConfigArgs,
        /// Only types matching this pattern (`*` matches anything), e.g. `alice.asset.*`.
        #[arg(long = "type", value_name = "PATTERN")]
        type_pattern: Option<String>,
        /// Print the CloudEvents JSON of each event.
        #[arg(long)]
        json: bool,
        /// Follow the Redis stream instead of the daemon (needs `[redis]`; works without a
        /// running daemon, sees events of every process writing to the stream).
        #[arg(long)]
        redis: bool,
    },
    /// Print stored events from the Redis stream as JSON lines (needs `[redis]`).
    Replay {
        #[command(flatten)]
        config: ConfigArgs,
        /// Start at this time (RFC 3339, or YYYY-MM-DD for midnight UTC).
        #[arg(long, value_name = "TIME", conflicts_with = "from")]
        since: Option<String>,
        /// Start at this stream entry id (as printed by `redis-cli XRANGE`), included.
        #[arg(long, value_name = "ID")]
        from: Option<String>,
        /// Only events of this type (`*` matches anything).
        #[arg(long = "type", value_name = "TYPE")]
        type_pattern: Option<String>,
    },
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Create a project (needs the running daemon).
    Create {
        #[command(flatten)]
        config: ConfigArgs,
        /// Project name; it becomes a folder name, so it must be a safe one.
        name: String,
        /// What the project is about.
        #[arg(long)]
        description: Option<String>,
    },
    /// Make a project active (needs the running daemon).
    Use {
        #[command(flatten)]
        config: ConfigArgs,
        /// Project name.
        name: String,
    },
    /// List projects (reads the catalog; works without the daemon).
    List(ConfigArgs),
}

#[derive(Subcommand)]
enum StyleCommand {
    /// Choose the active style (needs the running daemon).
    Choose {
        #[command(flatten)]
        config: ConfigArgs,
        /// Style name.
        name: String,
        /// A note about it.
        #[arg(long)]
        note: Option<String>,
    },
    /// Clear the active style (needs the running daemon).
    Clear(ConfigArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file and the folders it names; errors name the file, line, column
    /// and key, and say what to do. Exit 1 on error.
    Check {
        /// The file (default: --config, $ALICE_CONFIG, else the XDG location).
        file: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Print the effective config with every default filled in.
    Show(ConfigArgs),
}

#[derive(Args, Clone)]
struct ConfigArgs {
    /// Config file (default: $XDG_CONFIG_HOME/alice/config.toml).
    #[arg(long, short = 'c', value_name = "FILE", env = "ALICE_CONFIG")]
    config: Option<PathBuf>,
}

fn parse_log_format(s: &str) -> Result<daemon::LogFormat, String> {
    s.parse()
}

fn main() -> ExitCode {
    // The watcher's open-for-writing probe takes a file lease for two system calls; its
    // break notification goes to SIGURG, and SIGIO is ignored too, so no lease event can
    // ever terminate the daemon.
    // SAFETY: setting a signal's disposition to SIG_IGN before any thread starts.
    unsafe { libc::signal(libc::SIGIO, libc::SIG_IGN) };
    let cli = Cli::parse();
    let _ = LOG_FORMAT.set(cli.log_format);
    // For the crash tests only: stop the process at a chosen point of a placement batch.
    if std::env::var_os("ALICE_TEST_FAULT").is_some_and(|v| v == "after-barrier") {
        daemon::set_fault(daemon::Fault::AfterBarrier);
    }
    match real_main(cli) {
        Ok(code) => code,
        // The reader of our output went away (`alice … | head`): not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("alice: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    use daemon::control::Request;
    match cli.command {
        Command::Run(args) => run::watch(&args),
        Command::Scan { config, dry_run } => run::scan(&config, dry_run),
        Command::Inspect { json, files } => inspect::run(json, &files),
        Command::Worker {
            stage,
            config,
            consumer,
        } => run::worker(
            &config,
            stage.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
            consumer,
        ),
        Command::Undo { config, last } => run::undo(&config, last),
        Command::Config(ConfigCommand::Check { file, config }) => config_check(file, config),
        Command::Config(ConfigCommand::Show(args)) => config_show(&args),
        Command::Status { config, json } => client::status(&config, json),
        Command::Events(EventsCommand::Tail {
            config,
            type_pattern,
            json,
            redis: true,
        }) => client::redis_tail(&config, type_pattern, json),
        Command::Events(EventsCommand::Tail {
            config,
            type_pattern,
            json,
            redis: false,
        }) => client::tail(&config, type_pattern, json),
        Command::Events(EventsCommand::Replay {
            config,
            since,
            from,
            type_pattern,
        }) => client::redis_replay(&config, since, from, type_pattern),
        Command::Reload(config) => client::simple(&config, Request::Reload),
        Command::Project(ProjectCommand::Create {
            config,
            name,
            description,
        }) => client::simple(&config, Request::ProjectCreate { name, description }),
        Command::Project(ProjectCommand::Use { config, name }) => {
            client::simple(&config, Request::ProjectUse { name })
        }
        Command::Project(ProjectCommand::List(config)) => client::list_projects(&config),
        Command::Style(StyleCommand::Choose { config, name, note }) => {
            client::simple(&config, Request::StyleChoose { name, note })
        }
        Command::Style(StyleCommand::Clear(config)) => client::simple(&config, Request::StyleClear),
        Command::Web { config, no_open } => client::web(&config, no_open),
        Command::Search(args) => search::search(&args),
        Command::Show(args) => search::show(&args),
        Command::Similar(args) => similar::similar(&args),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "alice",
                &mut script,
            );
            // Through `Out`: `alice completions bash | head` is not an error.
            out::Out::stdout().text(&String::from_utf8_lossy(&script));
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => {
            let cli = <Cli as clap::CommandFactory>::command();
            match dir {
                Some(dir) => man::write_to(cli, &dir)?,
                None => man::print(cli)?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn config_check(file: Option<PathBuf>, mut args: ConfigArgs) -> anyhow::Result<ExitCode> {
    if file.is_some() {
        args.config = file;
    }
    let (cfg, origin) = match config::load(&args) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut out = out::Out::stdout();
    let findings = daemon::preflight::check(&cfg);
    let problems = findings
        .iter()
        .filter(|f| f.severity == daemon::preflight::Severity::Problem)
        .count();
    for f in &findings {
        match f.severity {
            daemon::preflight::Severity::Problem => {
                eprintln!("{origin}: key `{}`: {}", f.key, f.message)
            }
            daemon::preflight::Severity::Note => out.line(&format!("note: {}", f.message)),
        }
    }
    if problems > 0 {
        return Ok(ExitCode::from(1));
    }
    out.line(&format!("{origin}: ok"));
    Ok(ExitCode::SUCCESS)
}

fn config_show(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let (mut cfg, origin) = config::load(args)?;
    cfg.redis = cfg.redis.map(|r| r.masked());
    let mut out = out::Out::stdout();
    out.line(&format!("# effective config ({origin})"));
    out.text(&toml::to_string_pretty(&cfg)?);
    Ok(ExitCode::SUCCESS)
}
