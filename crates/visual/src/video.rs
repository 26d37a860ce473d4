//! Poster frames of videos, taken by an `ffmpeg` child process under a timeout.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use image::RgbImage;

use crate::VisualError;
use crate::decode::decode_path;

/// Where a poster frame is taken, in seconds; a video shorter than that gets its first frame.
const POSTER_AT: &str = "1";
/// How often a running ffmpeg is checked for completion.
const POLL: Duration = Duration::from_millis(20);
/// Bytes of ffmpeg's error output kept for the reason of a failure.
const STDERR_KEPT: u64 = 400;

/// Why a video has no poster frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoPoster {
    /// The ffmpeg program could not be started (not installed, not on `PATH`, or none
    /// configured).
    NoFfmpeg,
    /// ffmpeg ran but gave no frame (a failure exit, or no frame to give).
    Failed(String),
    /// ffmpeg took longer than the configured timeout and was killed.
    TimedOut,
}

/// The poster frame of the video at `path`: the frame at 1 s (or the first frame of a shorter
/// video), decoded under the same pixel bound as an image. `scratch` is a directory for
/// ffmpeg's output file.
pub fn poster_frame(
    path: &Path,
    ffmpeg: &Path,
    timeout: Duration,
    max_pixels: u64,
    scratch: &Path,
) -> Result<Result<RgbImage, NoPoster>, VisualError> {
    let dir = tempfile::Builder::new()
        .prefix(".tmp-poster-")
        .tempdir_in(scratch)
        .map_err(|e| VisualError::io("create temporary", scratch, e))?;
    let out = dir.path().join("poster.png");
    let deadline = Instant::now() + timeout;
    for seek in [POSTER_AT, "0"] {
        if let Err(reason) = run_ffmpeg(ffmpeg, path, seek, &out, dir.path(), deadline)? {
            return Ok(Err(reason));
        }
        if out.metadata().is_ok_and(|m| m.len() > 0) {
            return decode_path(&out, max_pixels).map(Ok);
        }
    }
    Ok(Err(NoPoster::Failed("no video frame".to_owned())))
}

/// Runs ffmpeg once; `Ok(Err(_))` is a reason to give up on a poster.
fn run_ffmpeg(
    ffmpeg: &Path,
    input: &Path,
    seek: &str,
    out: &Path,
    scratch: &Path,
    deadline: Instant,
) -> Result<Result<(), NoPoster>, VisualError> {
    let stderr_path = scratch.join("stderr");
    let stderr =
        File::create(&stderr_path).map_err(|e| VisualError::io("create", &stderr_path, e))?;
    // `file:` keeps a name that starts with `-` or holds a `:` from being read as an option
    // or a protocol.
    let mut source = OsString::from("file:");
    source.push(input.as_os_str());
    let spawned = Command::new(ffmpeg)
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-ss",
            seek,
            "-i",
        ])
        .arg(source)
        .args(["-frames:v", "1", "-an", "-f", "image2", "-c:v", "png"])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Err(NoPoster::NoFfmpeg)),
        Err(e) => return Err(VisualError::io("run ffmpeg", ffmpeg, e)),
    };
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| VisualError::io("wait for ffmpeg", ffmpeg, e))?
        {
            break status;
        }
        if Instant::now() >= deadline {
            // Killing fails only if it already exited; wait reaps it either way.
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Err(NoPoster::TimedOut));
        }
        std::thread::sleep(POLL);
    };
    if status.success() {
        return Ok(Ok(()));
    }
    let mut message = Vec::new();
    if let Ok(file) = File::open(&stderr_path) {
        let _ = file.take(STDERR_KEPT).read_to_end(&mut message);
    }
    let message = String::from_utf8_lossy(&message);
    Ok(Err(NoPoster::Failed(format!(
        "ffmpeg {status}: {}",
        message.trim()
    ))))
}
