//! The commands that talk to a running daemon, and to the Redis stream: what they print.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use daemon::control::{Reply, Request};
use daemon::status::{RedisStatus, Status};
use serde_json::Value;

use crate::ConfigArgs;
use crate::out::Out;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `$XDG_RUNTIME_DIR`, where the control socket lives.
pub fn runtime_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
}

/// Finds the daemon of the config (printing a note when it runs with an older state dir).
async fn locate(args: &ConfigArgs) -> Result<std::path::PathBuf> {
    let (cfg, origin) = crate::config::load(args)?;
    let dir = runtime_dir();
    let found =
        daemon::control::client::locate(&cfg.state_dir, dir.as_deref(), Some(&origin.description))
            .await?;
    if let Some(note) = found.note {
        eprintln!("{note}");
    }
    Ok(found.socket)
}

fn ask(args: &ConfigArgs, request: Request) -> Result<Reply> {
    runtime()?.block_on(async {
        let socket = locate(args).await?;
        Ok(daemon::control::client::request_at(&socket, request).await?)
    })
}

/// A request whose answer is printed in a line.
pub fn simple(args: &ConfigArgs, request: Request) -> Result<ExitCode> {
    let mut out = Out::stdout();
    match ask(args, request)? {
        Reply::Reload { outcome, retried } => {
            let mut text = outcome.to_string();
            if retried > 0 {
                text += &format!("; trying {retried} failed file(s) again");
            }
            out.line(&text);
            return Ok(match outcome {
                daemon::ReloadOutcome::Rejected { .. } => ExitCode::from(1),
                _ => ExitCode::SUCCESS,
            });
        }
        Reply::ProjectCreated { name } => out.line(&format!("created project {name}")),
        Reply::Context(c) => out.line(&format!(
            "active project {}, style {}",
            c.project.as_deref().unwrap_or("-"),
            c.style.as_deref().unwrap_or("-")
        )),
        other => out.line(&format!("{other:?}")),
    }
    Ok(ExitCode::SUCCESS)
}

/// `alice status`.
pub fn status(args: &ConfigArgs, json: bool) -> Result<ExitCode> {
    let Reply::Status(s) = ask(args, Request::Status)? else {
        anyhow::bail!("the daemon did not answer with its status");
    };
    let mut out = Out::stdout();
    if json {
        out.line(&serde_json::to_string(&s)?);
    } else {
        for line in describe(&s) {
            out.line(&line);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(s: &Status) -> Vec<String> {
    let (w, t, c) = (&s.watch, &s.this_run, s.catalog.clone().unwrap_or_default());
    let mut lines = vec![
        format!("alice {} (pid {}), up {} s", s.version, s.pid, s.uptime_s),
        format!("config     {}", s.config),
        format!("mode       {}  →  {}", mode_name(s.mode), s.organized),
    ];
    lines.extend(s.inboxes.iter().map(|i| format!("inbox      {i}")));
    lines.push(format!(
        "watching   {} folders, {} inbox(es) polled, {} rescans; hashed {} files ({} known by identity)",
        w.watches, w.polling_inboxes, w.rescans, w.files_hashed, w.identity_cache_hits
    ));
    lines.push(format!(
        "this run   organized {}, duplicates {}, skipped {}, failed {}{}",
        t.organized,
        t.duplicates,
        t.skipped,
        t.failed,
        if t.sidecars > 0 {
            format!(", sidecars {}", t.sidecars)
        } else {
            String::new()
        }
    ));
    // The catalog counts assets (distinct contents); a duplicate is another copy of an
    // organized asset, counted in "this run" only.
    lines.push(format!(
        "catalog    {} assets organized, {} skipped, {} failed (all runs)",
        c.organized, c.skipped, c.failed
    ));
    let ctx = s.context.clone().unwrap_or_default();
    lines.push(format!(
        "context    project {}, style {}",
        ctx.project.as_deref().unwrap_or("-"),
        ctx.style.as_deref().unwrap_or("-")
    ));
    lines.extend(describe_redis(&s.redis));
    let busy: Vec<String> = s
        .queues
        .iter()
        .filter(|q| q.queued > 0 || q.dead_lettered > 0)
        .map(|q| {
            format!(
                "{} {}/{} (dead-lettered {})",
                q.subscriber, q.queued, q.capacity, q.dead_lettered
            )
        })
        .collect();
    lines.push(format!(
        "queues     {}",
        if busy.is_empty() {
            "all empty".to_owned()
        } else {
            busy.join(", ")
        }
    ));
    lines.extend(describe_waiting(s));
    lines
}

/// Files waiting (to be retried, orphan sidecars) and the last errors, a line each.
fn describe_waiting(s: &Status) -> Vec<String> {
    let mut lines = Vec::new();
    if s.retry.waiting > 0 {
        lines.push(format!(
            "retrying   {} file(s) that failed for a reason that may pass, in {} s (or now: alice reload)",
            s.retry.waiting,
            s.retry.next_in_s.unwrap_or(0)
        ));
    }
    for o in &s.orphan_sidecars {
        lines.push(format!(
            "orphan     {} (sidecar waiting {} s for its media; left in the inbox)",
            o.path, o.waiting_s
        ));
    }
    for e in &s.last_errors {
        let d = &e.data;
        lines.push(format!(
            "error      {} {} {}",
            e.time.to_rfc3339(),
            d["path"]
                .as_str()
                .or(d["subscriber"].as_str())
                .unwrap_or(""),
            d["error"].as_str().unwrap_or("")
        ));
    }
    lines
}

/// `copy` or `move`, as in the config.
pub fn mode_name(mode: events::OrganizeMode) -> &'static str {
    match mode {
        events::OrganizeMode::Copy => "copy",
        events::OrganizeMode::Move => "move",
    }
}

fn describe_redis(r: &RedisStatus) -> Vec<String> {
    let r = match r {
        RedisStatus::NotConfigured(text) => return vec![format!("redis      {text}")],
        RedisStatus::Configured(r) => r,
    };
    let mut lines = vec![format!(
        "redis      {} — {}, {} events spooled locally, {} outages",
        r.url,
        if r.connected {
            "connected"
        } else {
            "UNREACHABLE"
        },
        r.spooled,
        r.outages
    )];
    if !r.workers.is_empty() {
        lines.push(format!(
            "workers    {} (run by `alice worker`, not by this daemon)",
            r.workers.join(", ")
        ));
    }
    if let Some(groups) = &r.groups {
        let shown: Vec<String> = groups
            .iter()
            .map(|g| {
                let unread = g.unread.map_or_else(|| "?".to_owned(), |n| n.to_string());
                format!(
                    "{} {} pending, {unread} unread, {} consumers",
                    g.group, g.pending, g.consumers
                )
            })
            .collect();
        lines.push(format!("groups     {}", shown.join("; ")));
    }
    lines
}

/// `alice events tail`.
pub fn tail(args: &ConfigArgs, pattern: Option<String>, json: bool) -> Result<ExitCode> {
    runtime()?.block_on(async move {
        let socket = locate(args).await?;
        let mut lines = daemon::control::client::tail_at(&socket, pattern).await?;
        let mut out = Out::stdout();
        while let Some(line) = lines.next_line().await? {
            if json {
                out.line(&line);
            } else {
                out.line(&tail_line(&line));
            }
            if out.closed() {
                break;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn tail_line(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap_or(Value::Null);
    if let Some(m) = v.get("missed") {
        return format!("… missed {m} events (this terminal could not keep up)");
    }
    let d = &v["data"];
    let what = d["destination"]
        .as_str()
        .map(|dest| format!("{} -> {dest}", d["source_path"].as_str().unwrap_or("")))
        .or_else(|| {
            d["path"].as_str().map(|p| {
                let error = d["error"].as_str().map(|e| format!(": {e}"));
                format!("{p}{}", error.unwrap_or_default())
            })
        })
        .unwrap_or_else(|| d.to_string());
    format!(
        "{} {} {what}",
        v["time"].as_str().unwrap_or(""),
        v["type"].as_str().unwrap_or("")
    )
}

/// `alice web`: prints the gallery's one-time login URL, and opens it in a browser when
/// stdout is a terminal in a graphical session.
pub fn web(args: &ConfigArgs, no_open: bool) -> Result<ExitCode> {
    use std::io::IsTerminal as _;
    let (cfg, origin) = crate::config::load(args)?;
    if cfg.web.is_none() {
        anyhow::bail!(
            "the web gallery is off: add to {}\n\n    [web]\n    listen = \"127.0.0.1:8470\"\n\nthen restart the daemon (`systemctl --user restart alice`) and run `alice web` again",
            origin.follow.display()
        );
    }
    let url = daemon::gallery::login_url(&cfg)?;
    Out::stdout().line(&url);
    let graphical = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    if !no_open && graphical && std::io::stdout().is_terminal() {
        let opened = std::process::Command::new("xdg-open")
            .arg(&url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Err(e) = opened {
            eprintln!("could not open a browser ({e}); open the URL above yourself");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `alice project list`: from the catalog alone.
pub fn list_projects(args: &ConfigArgs) -> Result<ExitCode> {
    let (cfg, _) = crate::config::load(args)?;
    let mut out = Out::stdout();
    let Some((projects, active)) = daemon::query::projects(&cfg)? else {
        out.line("no projects yet (no catalog yet)");
        return Ok(ExitCode::SUCCESS);
    };
    for p in projects {
        let mark = if active.as_deref() == Some(p.name.as_str()) {
            "*"
        } else {
            " "
        };
        out.line(&format!(
            "{mark} {}  {}",
            p.name,
            p.description.unwrap_or_default()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn event_line(line: &str, pattern: Option<&str>, json: bool) -> Option<String> {
    let v: Value = serde_json::from_str(line).unwrap_or(Value::Null);
    let t = v["type"].as_str().unwrap_or("");
    if pattern.is_some_and(|p| !daemon::control::type_matches(p, t)) {
        return None;
    }
    Some(if json {
        line.to_owned()
    } else {
        format!("{} {t} {}", v["time"].as_str().unwrap_or(""), v["data"])
    })
}

/// `alice events replay`: stored events from the Redis stream, as JSON lines.
pub fn redis_replay(
    args: &ConfigArgs,
    since: Option<String>,
    from: Option<String>,
    pattern: Option<String>,
) -> Result<ExitCode> {
    let (cfg, origin) = crate::config::load(args)?;
    let start = match (since, from) {
        (Some(t), _) => {
            let at = chrono::DateTime::parse_from_rfc3339(&t)
                .map(|d| d.with_timezone(&chrono::Utc))
                .or_else(|_| chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc()))
                .with_context(|| format!("--since {t:?}: expected RFC 3339 (2024-03-15T12:00:00Z) or a date (2024-03-15)"))?;
            daemon::query::ReplayFrom::Since(at)
        }
        (None, Some(id)) => daemon::query::ReplayFrom::Id(id),
        (None, None) => daemon::query::ReplayFrom::Start,
    };
    let mut out = Out::stdout();
    let (n, from) = runtime()?.block_on(daemon::query::stream_replay(
        &cfg,
        &origin.description,
        start,
        |line| {
            if let Some(l) = event_line(line, pattern.as_deref(), true) {
                out.line(&l);
            }
        },
    ))?;
    eprintln!("{n} events read from {from}");
    Ok(ExitCode::SUCCESS)
}

/// `alice events tail --redis`: follow the stream live.
pub fn redis_tail(args: &ConfigArgs, pattern: Option<String>, json: bool) -> Result<ExitCode> {
    let (cfg, origin) = crate::config::load(args)?;
    let mut out = Out::stdout();
    runtime()?.block_on(daemon::query::stream_tail(
        &cfg,
        &origin.description,
        |line| {
            if let Some(l) = event_line(line, pattern.as_deref(), json) {
                out.line(&l);
            }
        },
    ))?;
    Ok(ExitCode::SUCCESS)
}
