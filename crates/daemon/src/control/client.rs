//! The control socket's client side: find the daemon of a config, send one request.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedReadHalf;

use super::{Reply, Request, RequestLine, ResponseLine};
use crate::error::{Error, Result};
use crate::layout::StateLayout;

/// Where a running daemon says its socket is: `state_dir/control.socket` holds the path it
/// listens on, so a client with another runtime dir (e.g. an admin talking to the system
/// service) still finds it; the computed path otherwise.
fn advertised_path(layout: &StateLayout, runtime_dir: Option<&Path>) -> PathBuf {
    std::fs::read(layout.socket_advertisement())
        .ok()
        .map(|b| PathBuf::from(OsString::from_vec(b)))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| layout.socket(runtime_dir))
}

/// Where a daemon's control socket was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The socket.
    pub socket: PathBuf,
    /// Something the user should know (the daemon runs with another state dir than the
    /// config now says).
    pub note: Option<String>,
}

/// Finds the daemon of `state_dir`. When none answers there, a daemon started from the same
/// config file (`config_origin`, as `alice status` reports it) under an earlier `state_dir`
/// is found among the sockets in the runtime dir, with a note that it needs a restart.
pub async fn locate(
    state_dir: &Path,
    runtime_dir: Option<&Path>,
    config_origin: Option<&str>,
) -> Result<Located> {
    let layout = StateLayout::new(state_dir);
    let path = advertised_path(&layout, runtime_dir);
    let err = match UnixStream::connect(&path).await {
        Ok(_) => {
            return Ok(Located {
                socket: path,
                note: None,
            });
        }
        Err(e) => e,
    };
    if let (Some(origin), Some(run), false) = (
        config_origin,
        runtime_dir,
        crate::lock::daemon_running(&layout),
    ) && let Some(found) = same_config_elsewhere(&run.join("alice"), origin).await
    {
        return Ok(found);
    }
    Err(not_found(
        state_dir,
        &path,
        &err,
        crate::lock::daemon_running(&layout),
    ))
}

fn not_found(state_dir: &Path, path: &Path, e: &std::io::Error, running: bool) -> Error {
    Error::Control(match e.kind() {
        std::io::ErrorKind::PermissionDenied => format!(
            "an alice daemon is running for state_dir {} but its control socket {} belongs to another user; run this command as that user",
            state_dir.display(),
            path.display()
        ),
        _ if running => format!(
            "an alice daemon holds state_dir {} but does not answer on {} ({e}); it may be starting or stopping, or run with another $XDG_RUNTIME_DIR",
            state_dir.display(),
            path.display()
        ),
        _ => format!(
            "no alice daemon is running for state_dir {} (control socket {}); start it with `alice run` or `systemctl --user start alice`",
            state_dir.display(),
            path.display()
        ),
    })
}

/// A daemon among the sockets in `dir` whose config is `origin`.
async fn same_config_elsewhere(dir: &Path, origin: &str) -> Option<Located> {
    let sockets = std::fs::read_dir(dir).ok()?;
    for entry in sockets.flatten() {
        let socket = entry.path();
        if socket.extension().is_none_or(|e| e != "sock") {
            continue;
        }
        let asked = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            request_at(&socket, Request::Status),
        )
        .await;
        if let Ok(Ok(Reply::Status(s))) = asked
            && s.config == origin
        {
            let note = format!(
                "note: the daemon of {origin} (pid {}) still runs with the state_dir it started with; the config now names another one, which applies after a restart (systemctl --user restart alice)",
                s.pid
            );
            return Some(Located {
                socket,
                note: Some(note),
            });
        }
    }
    None
}

async fn connect_at(socket: &Path) -> Result<UnixStream> {
    UnixStream::connect(socket).await.map_err(|e| {
        Error::Control(format!(
            "cannot reach the daemon on {}: {e}",
            socket.display()
        ))
    })
}

async fn send(stream: &mut UnixStream, request: Request) -> Result<()> {
    let line = serde_json::to_string(&RequestLine::from(request))
        .map_err(|e| Error::Control(format!("cannot encode the request: {e}")))?;
    stream
        .write_all(format!("{line}\n").as_bytes())
        .await
        .map_err(|e| Error::Control(format!("cannot send the request to the daemon: {e}")))
}

async fn read_reply(lines: &mut Lines<BufReader<OwnedReadHalf>>) -> Result<Reply> {
    let line = lines
        .next_line()
        .await
        .map_err(|e| Error::Control(format!("cannot read the daemon's answer: {e}")))?
        .ok_or_else(|| {
            Error::Control("the daemon closed the connection without answering".into())
        })?;
    let response: ResponseLine = serde_json::from_str(&line).map_err(|e| {
        Error::Control(format!(
            "the daemon's answer is not understood ({e}); is it another version?"
        ))
    })?;
    response.into_result().map_err(Error::Control)
}

/// Sends one request to the daemon of `state_dir` and returns its reply.
pub async fn request(
    state_dir: &Path,
    runtime_dir: Option<&Path>,
    request: Request,
) -> Result<Reply> {
    let found = locate(state_dir, runtime_dir, None).await?;
    request_at(&found.socket, request).await
}

/// Sends one request to the daemon listening on `socket`.
pub async fn request_at(socket: &Path, request: Request) -> Result<Reply> {
    let mut stream = connect_at(socket).await?;
    send(&mut stream, request).await?;
    let (read, _write) = stream.into_split();
    read_reply(&mut BufReader::new(read).lines()).await
}

/// Starts following events: returns the event lines (CloudEvents JSON, or `{"missed": N}`).
pub async fn tail_at(
    socket: &Path,
    type_pattern: Option<String>,
) -> Result<Lines<BufReader<OwnedReadHalf>>> {
    let mut stream = connect_at(socket).await?;
    send(&mut stream, Request::Tail { type_pattern }).await?;
    let (read, _write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    match read_reply(&mut lines).await? {
        Reply::Tailing => Ok(lines),
        other => Err(Error::Control(format!(
            "the daemon answered {other:?} to tail"
        ))),
    }
}
