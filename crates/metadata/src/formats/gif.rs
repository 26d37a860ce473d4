//! GIF: logical screen size and comment extensions before the first image.
//!
//! Blocks after the first image descriptor would require reading through LZW image data
//! (GIF has no chunk lengths), so the walk stops there; writers put comments first.

use std::io::{Read, Seek};

use super::{TEXT_CAP, le16, push_other};
use crate::source::Source;
use crate::{Found, MetadataError};

/// Most extension blocks before the first image.
const MAX_BLOCKS: usize = 1024;
/// Most sub-blocks in one extension (each at most 255 bytes).
const MAX_SUB_BLOCKS: usize = 4096;

pub(crate) fn parse<R: Read + Seek>(
    src: &mut Source<'_, R>,
    found: &mut Found,
) -> Result<(), MetadataError> {
    let h: [u8; 13] = src.array(0, "logical screen descriptor")?;
    found.set_dims(
        le16(&h, 6).unwrap_or(0).into(),
        le16(&h, 8).unwrap_or(0).into(),
    );
    let flags = h[10];
    let mut pos = 13u64;
    if flags & 0x80 != 0 {
        pos += 3 * (1u64 << ((flags & 7) + 1));
    }
    for _ in 0..MAX_BLOCKS {
        let [intro]: [u8; 1] = src.array(pos, format_args!("block at byte {pos}"))?;
        match intro {
            0x21 => {
                let [label]: [u8; 1] =
                    src.array(pos + 1, format_args!("extension at byte {pos}"))?;
                let start = pos;
                pos += 2;
                let mut text = Vec::new();
                let mut terminated = false;
                for _ in 0..MAX_SUB_BLOCKS {
                    let [n]: [u8; 1] = src.array(pos, format_args!("extension at byte {start}"))?;
                    pos += 1;
                    if n == 0 {
                        terminated = true;
                        break;
                    }
                    let n = u64::from(n);
                    if label == 0xFE && (text.len() as u64) + n <= TEXT_CAP {
                        text.extend(src.bytes(
                            pos,
                            n,
                            255,
                            format_args!("comment at byte {start}"),
                        )?);
                    } else if pos + n > src.len() {
                        return Err(
                            src.truncated(format_args!("extension at byte {start}"), pos + n)
                        );
                    }
                    pos += n;
                }
                if !terminated {
                    return Err(src.too_many("sub-blocks in one extension", MAX_SUB_BLOCKS));
                }
                if label == 0xFE {
                    push_other(found, "gif:comment", &String::from_utf8_lossy(&text));
                }
            }
            0x2C | 0x3B => return Ok(()),
            other => {
                return Err(src.corrupt(format!("unknown block type 0x{other:02x} at byte {pos}")));
            }
        }
    }
    Err(src.too_many("extension blocks", MAX_BLOCKS))
}
