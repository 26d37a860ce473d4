//! MPEG-2 transport streams (`.ts`, AVCHD `.mts`/`.m2ts`) and program streams (`.mpg`,
//! `.vob`).
//!
//! Neither container has a header with the duration, so it is measured from clocks: the first
//! and last program clock reference (PCR, transport stream) or system clock reference (SCR,
//! program stream) found in one read window at each end of the file. That costs two small
//! reads whatever the file's size; a stream whose ends hold no clock gets no duration.
//! Program streams also give the picture size from an MPEG-1/2 sequence header near the
//! start. Capture dates (AVCHD keeps them in H.264 SEI messages) are not read.

use std::io::{Read, Seek};

use super::be16;
use crate::source::Source;
use crate::{Found, MetadataError};

/// MPEG program stream pack header start code.
pub(crate) const PACK_START: &[u8] = &[0, 0, 1, 0xBA];
const SEQUENCE_HEADER: &[u8] = &[0, 0, 1, 0xB3];
/// Bytes read at each end of a transport stream looking for clocks: a PCR comes at least
/// every 100 ms, which at AVCHD's 24 Mbit/s is up to 300 KB apart, but muxers send it far
/// more often than that.
const TS_WINDOW: u64 = 256 * 1024;
/// The same for a program stream, where every pack header (2 KiB apart on a DVD) has a clock.
const PS_WINDOW: u64 = 64 * 1024;
/// How much of the head decides the packet layout (what [`crate::sniff`] saw).
const LAYOUT_BYTES: usize = 1024;
/// Clock references count in 90 kHz units and wrap at 2^33.
const CLOCK_WRAP: u64 = 1 << 33;
const SYNC: u8 = 0x47;

/// Transport stream layout: packet size and where the sync byte sits in a packet (192-byte
/// M2TS packets start with a 4-byte arrival timestamp).
#[derive(Clone, Copy)]
struct Layout {
    size: usize,
    sync_at: usize,
}

/// `Some(packet size)` when `h` starts with at least two packets of 188 or 192 bytes, each
/// with its sync byte where it belongs.
pub(crate) fn ts_packet_size(h: &[u8]) -> Option<usize> {
    layout(h).map(|l| l.size)
}

fn layout(h: &[u8]) -> Option<Layout> {
    [
        Layout {
            size: 188,
            sync_at: 0,
        },
        Layout {
            size: 192,
            sync_at: 4,
        },
    ]
    .into_iter()
    .find(|l| {
        let starts: Vec<usize> = (l.sync_at..h.len()).step_by(l.size).collect();
        starts.len() >= 2 && starts.iter().all(|&i| h[i] == SYNC)
    })
}

pub(crate) fn parse_ts<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    let head = read_window(src, 0, TS_WINDOW)?;
    let Some(l) = layout(&head[..head.len().min(LAYOUT_BYTES)]) else {
        return Err(src.corrupt("transport stream packets lost their sync bytes"));
    };
    let Some((pid, first)) = ts_pcrs(&head, l).next() else {
        return Ok(());
    };
    // The tail window starts on a packet boundary: packets have a fixed size from byte 0.
    let size = l.size as u64;
    let tail_at = src.len().saturating_sub(TS_WINDOW) / size * size;
    let tail = read_window(src, tail_at, TS_WINDOW)?;
    let last = ts_pcrs(&tail, l)
        .filter(|&(p, _)| p == pid)
        .map(|(_, c)| c)
        .last();
    found.duration_ms = last.and_then(|last| clock_span_ms(first, last));
    Ok(())
}

/// The PCRs (with their PID) in a window of whole packets, in order.
fn ts_pcrs(w: &[u8], l: Layout) -> impl Iterator<Item = (u16, u64)> + '_ {
    w.chunks_exact(l.size).filter_map(move |p| {
        let p = &p[l.sync_at..];
        if p[0] != SYNC || p[3] & 0x20 == 0 {
            return None;
        }
        let pid = be16(p, 1)? & 0x1FFF;
        // Adaptation field: length, flags (0x10 = PCR present), then the 33-bit PCR base.
        if p[4] < 7 || p[5] & 0x10 == 0 {
            return None;
        }
        let b = p.get(6..11)?;
        let base = (u64::from(b[0]) << 25)
            | (u64::from(b[1]) << 17)
            | (u64::from(b[2]) << 9)
            | (u64::from(b[3]) << 1)
            | (u64::from(b[4]) >> 7);
        Some((pid, base))
    })
}

pub(crate) fn parse_ps<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    let head = read_window(src, 0, PS_WINDOW)?;
    if let Some(i) = find(&head, SEQUENCE_HEADER)
        && let Some(d) = head.get(i + 4..i + 7)
    {
        let w = (u32::from(d[0]) << 4) | (u32::from(d[1]) >> 4);
        let h = (u32::from(d[1] & 0x0F) << 8) | u32::from(d[2]);
        found.set_dims(w, h);
    }
    let Some(first) = scr(&head) else {
        return Err(src.corrupt("the first pack header has no valid system clock reference"));
    };
    let tail_at = src.len().saturating_sub(PS_WINDOW);
    let tail = read_window(src, tail_at, PS_WINDOW)?;
    // The last pack header in the tail whose clock parses.
    let last = (0..tail.len())
        .rev()
        .filter(|&i| tail[i..].starts_with(PACK_START))
        .find_map(|i| scr(&tail[i..]));
    found.duration_ms = last.and_then(|last| clock_span_ms(first, last));
    Ok(())
}

/// The system clock reference of the pack header at the start of `p` (MPEG-2 or MPEG-1).
fn scr(p: &[u8]) -> Option<u64> {
    if !p.starts_with(PACK_START) {
        return None;
    }
    let raw = p.get(4..9)?;
    let b: [u64; 5] = std::array::from_fn(|i| u64::from(raw[i]));
    if b[0] & 0xC0 == 0x40 {
        // MPEG-2: '01' SCR[32..30] '1' SCR[29..15] '1' SCR[14..0] '1'.
        Some(
            ((b[0] & 0x38) << 27)
                | ((b[0] & 0x03) << 28)
                | (b[1] << 20)
                | ((b[2] & 0xF8) << 12)
                | ((b[2] & 0x03) << 13)
                | (b[3] << 5)
                | (b[4] >> 3),
        )
    } else if b[0] & 0xF0 == 0x20 {
        // MPEG-1: '0010' SCR[32..30] '1' SCR[29..15] '1' SCR[14..0] '1'.
        Some(
            ((b[0] & 0x0E) << 29)
                | (b[1] << 22)
                | ((b[2] & 0xFE) << 14)
                | (b[3] << 7)
                | (b[4] >> 1),
        )
    } else {
        None
    }
}

/// Milliseconds from one 90 kHz clock value to a later one, across one wrap; `None` when the
/// span is zero (a single clock, or a stream cut to one window).
fn clock_span_ms(first: u64, last: u64) -> Option<u64> {
    let ticks = (last + CLOCK_WRAP - first) % CLOCK_WRAP;
    (ticks > 0).then_some(ticks / 90)
}

fn read_window<R: Read + Seek>(
    src: &mut Source<'_, R>,
    at: u64,
    window: u64,
) -> Result<Vec<u8>, MetadataError> {
    let len = src.len().saturating_sub(at).min(window);
    src.bytes(at, len, window, format_args!("stream window at byte {at}"))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_references_decode_and_span_wraps() {
        // MPEG-2 SCR of 90000 (1 s): base bits spread over the marker-bit layout.
        let scr_bytes = |v: u64| -> [u8; 9] {
            [
                0,
                0,
                1,
                0xBA,
                0x44 | (((v >> 30) & 7) << 3) as u8 | ((v >> 28) & 3) as u8,
                ((v >> 20) & 0xFF) as u8,
                (((v >> 15) & 0x1F) << 3) as u8 | 0x04 | ((v >> 13) & 3) as u8,
                ((v >> 5) & 0xFF) as u8,
                (((v & 0x1F) << 3) as u8) | 0x04,
            ]
        };
        assert_eq!(scr(&scr_bytes(90_000)), Some(90_000));
        assert_eq!(scr(&scr_bytes(CLOCK_WRAP - 1)), Some(CLOCK_WRAP - 1));
        assert_eq!(clock_span_ms(CLOCK_WRAP - 90, 90 * 99), Some(100));
        assert_eq!(clock_span_ms(5, 5), None);
    }

    #[test]
    fn transport_stream_needs_two_synced_packets() {
        let mut ts = vec![0u8; 400];
        ts[0] = SYNC;
        ts[188] = SYNC;
        ts[376] = SYNC;
        assert_eq!(ts_packet_size(&ts), Some(188));
        ts[376] = 0;
        assert_eq!(ts_packet_size(&ts), None);
        assert_eq!(ts_packet_size(&ts[..100]), None);
        let mut m2ts = vec![0u8; 400];
        m2ts[4] = SYNC;
        m2ts[196] = SYNC;
        m2ts[388] = SYNC;
        assert_eq!(ts_packet_size(&m2ts), Some(192));
    }
}
