//! Client side of the control socket: the commands that talk to a running daemon.

use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::ConfigArgs;
use crate::control;
use crate::daemon::load_config;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A request whose answer is printed as is (a string) or as JSON.
pub fn simple(args: &ConfigArgs, req: Value) -> Result<ExitCode> {
    let (cfg, _) = load_config(args)?;
    let data = runtime()?.block_on(control::request(&cfg, req))?;
    match data {
        Value::String(s) => println!("{s}"),
        other => println!("{other}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `alice status`.
pub fn status(args: &ConfigArgs, json: bool) -> Result<ExitCode> {
    let (cfg, _) = load_config(args)?;
    let s = runtime()?.block_on(control::request(&cfg, serde_json::json!({"cmd": "status"})))?;
    if json {
        println!("{s}");
        return Ok(ExitCode::SUCCESS);
    }
    let g = |p: &str| s.pointer(p).cloned().unwrap_or(Value::Null);
    let n = |p: &str| s.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    println!(
        "alice {} (pid {}), up {} s",
        g("/version").as_str().unwrap_or("?"),
        g("/pid"),
        g("/uptime_s")
    );
    println!("config     {}", g("/config").as_str().unwrap_or("?"));
    println!(
        "mode       {}  →  {}",
        g("/mode").as_str().unwrap_or("?"),
        g("/organized").as_str().unwrap_or("?")
    );
    for inbox in s
        .pointer("/inboxes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!("inbox      {}", inbox.as_str().unwrap_or("?"));
    }
    println!(
        "watching   {} folders, {} inbox(es) polled, {} rescans; hashed {} files ({} known by identity)",
        n("/watch/watches"),
        n("/watch/polling_inboxes"),
        n("/watch/rescans"),
        n("/watch/files_hashed"),
        n("/watch/identity_cache_hits")
    );
    println!(
        "this run   organized {}, duplicates {}, skipped {}, failed {}",
        n("/this_run/organized"),
        n("/this_run/duplicates"),
        n("/this_run/skipped"),
        n("/this_run/failed")
    );
    println!(
        "catalog    organized {}, duplicate {}, skipped {}, failed {}",
        n("/catalog/organized"),
        n("/catalog/duplicate"),
        n("/catalog/skipped"),
        n("/catalog/failed")
    );
    let ctx = |k: &str| {
        s.pointer(&format!("/context/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned()
    };
    println!(
        "context    project {}, style {}",
        ctx("project"),
        ctx("style")
    );
    let redis = g("/redis");
    match redis.as_str() {
        Some(text) => println!("redis      {text}"),
        None => println!(
            "redis      {} — {}, {} events spooled locally, {} outages",
            redis["url"].as_str().unwrap_or("?"),
            if redis["connected"] == Value::Bool(true) {
                "connected"
            } else {
                "UNREACHABLE"
            },
            redis["spooled"],
            redis["outages"]
        ),
    }
    let workers: Vec<&str> = redis["workers"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !workers.is_empty() {
        println!(
            "workers    {} (run by `alice worker`, not by this daemon)",
            workers.join(", ")
        );
    }
    if let Some(groups) = redis["groups"].as_array() {
        let shown: Vec<String> = groups
            .iter()
            .map(|g| {
                let unread = g["unread"]
                    .as_u64()
                    .map_or_else(|| "?".to_owned(), |n| n.to_string());
                format!(
                    "{} {} pending, {unread} unread, {} consumers",
                    g["group"].as_str().unwrap_or("?"),
                    g["pending"],
                    g["consumers"]
                )
            })
            .collect();
        println!("groups     {}", shown.join("; "));
    }
    let busy: Vec<String> = s
        .pointer("/queues")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|q| {
            q["queued"].as_u64().unwrap_or(0) > 0 || q["dead_lettered"].as_u64().unwrap_or(0) > 0
        })
        .map(|q| {
            format!(
                "{} {}/{} (dead-lettered {})",
                q["subscriber"].as_str().unwrap_or("?"),
                q["queued"],
                q["capacity"],
                q["dead_lettered"]
            )
        })
        .collect();
    println!(
        "queues     {}",
        if busy.is_empty() {
            "all empty".to_owned()
        } else {
            busy.join(", ")
        }
    );
    for e in s
        .pointer("/last_errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let d = &e["data"];
        println!(
            "error      {} {} {}",
            e["time"].as_str().unwrap_or(""),
            d["path"]
                .as_str()
                .or(d["subscriber"].as_str())
                .unwrap_or(""),
            d["error"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `alice events tail`.
pub fn tail(args: &ConfigArgs, pattern: Option<String>, json: bool) -> Result<ExitCode> {
    let (cfg, _) = load_config(args)?;
    runtime()?.block_on(async move {
        let mut stream = control::connect(&cfg).await?;
        let req = serde_json::json!({"cmd": "tail", "type": pattern});
        stream.write_all(format!("{req}\n").as_bytes()).await?;
        let mut lines = BufReader::new(stream).lines();
        let first = lines
            .next_line()
            .await?
            .context("the daemon closed the connection")?;
        anyhow::ensure!(first.contains("\"ok\":true"), "the daemon refused: {first}");
        while let Some(line) = lines.next_line().await? {
            if json {
                println!("{line}");
                continue;
            }
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if let Some(m) = v.get("missed") {
                println!("… missed {m} events (this terminal could not keep up)");
                continue;
            }
            let d = &v["data"];
            let what = d["destination"]
                .as_str()
                .map(|dest| format!("{} -> {dest}", d["source_path"].as_str().unwrap_or("")))
                .or_else(|| {
                    d["path"].as_str().map(|p| {
                        format!(
                            "{p}{}",
                            d["error"]
                                .as_str()
                                .map(|e| format!(": {e}"))
                                .unwrap_or_default()
                        )
                    })
                })
                .unwrap_or_else(|| d.to_string());
            println!(
                "{} {} {what}",
                v["time"].as_str().unwrap_or(""),
                v["type"].as_str().unwrap_or("")
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `alice project list`: from the catalog alone.
pub fn list_projects(args: &ConfigArgs) -> Result<ExitCode> {
    let (cfg, _) = load_config(args)?;
    let path = cfg.state_dir.join("catalog.sqlite3");
    if !path.exists() {
        println!("no projects yet (no catalog at {})", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let c = catalog::Catalog::open_readonly(&path)?;
    let active = c.context()?.active_project;
    for p in c.list_projects()? {
        let mark = if active.as_deref() == Some(p.name.as_str()) {
            "*"
        } else {
            " "
        };
        println!("{mark} {}  {}", p.name, p.description.unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

fn redis_config(args: &ConfigArgs) -> Result<streams::StreamConfig> {
    let (cfg, origin) = load_config(args)?;
    let r = cfg.redis.as_ref().with_context(|| format!("there is no [redis] section in {origin}; events are only kept in the catalog (alice show)"))?;
    r.stream_config(&cfg.state_dir)
}

fn print_event(line: &str, pattern: Option<&str>, json: bool) {
    let v: Value = serde_json::from_str(line).unwrap_or(Value::Null);
    let t = v["type"].as_str().unwrap_or("");
    if pattern.is_some_and(|p| !control::type_matches(p, t)) {
        return;
    }
    if json {
        println!("{line}");
    } else {
        println!("{} {t} {}", v["time"].as_str().unwrap_or(""), v["data"]);
    }
}

/// `alice events replay`: stored events from the Redis stream, as JSON lines.
pub fn redis_replay(
    args: &ConfigArgs,
    since: Option<String>,
    from: Option<String>,
    pattern: Option<String>,
) -> Result<ExitCode> {
    let sc = redis_config(args)?;
    let start = match (since, from) {
        (Some(t), _) => {
            let at = chrono::DateTime::parse_from_rfc3339(&t)
                .map(|d| d.with_timezone(&chrono::Utc))
                .or_else(|_| chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc()))
                .with_context(|| format!("--since {t:?}: expected RFC 3339 (2024-03-15T12:00:00Z) or a date (2024-03-15)"))?;
            streams::ReplayFrom::Since(at)
        }
        (None, Some(id)) => streams::ReplayFrom::Id(id),
        (None, None) => streams::ReplayFrom::Start,
    };
    let n = runtime()?.block_on(streams::replay(&sc, start, None, |line| {
        print_event(line, pattern.as_deref(), true)
    }))?;
    eprintln!("{n} events read from {sc}");
    Ok(ExitCode::SUCCESS)
}

/// `alice events tail --redis`: follow the stream live.
pub fn redis_tail(args: &ConfigArgs, pattern: Option<String>, json: bool) -> Result<ExitCode> {
    let sc = redis_config(args)?;
    runtime()?.block_on(streams::tail(&sc, |line| {
        print_event(line, pattern.as_deref(), json)
    }))?;
    Ok(ExitCode::SUCCESS)
}
