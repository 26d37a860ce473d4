//! Deterministic mutation fuzzing of every parser entry point, without coverage guidance.
//!
//! Each case takes a committed fixture and applies a few structure-aware mutations (bit
//! flips, "interesting" length values such as 0, 1, 7, 8, 0x7FFFFFFF and 0xFFFFFFFF written
//! over 2/4/8-byte fields, truncation, chunk duplication, random insertions) chosen by a
//! fixed-seed xorshift, then runs `extract` on it. The properties checked: no panic, and
//! I/O stays bounded (a counting reader; no case may pull more than 8 MiB however large the
//! lengths it claims). The count defaults to 20 000 cases so `cargo test` stays quick;
//! `METADATA_FUZZ_CASES=500000 cargo test --release -p metadata --test fuzz_mutations`
//! runs a long campaign with the same seed sequence. Coverage-guided targets for
//! `cargo fuzz` live in `crates/metadata/fuzz/`. Crashers found either way are pinned in
//! `regressions()` below.

use std::ffi::OsStr;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::PathBuf;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: [u64; 12] = [
    0,
    1,
    2,
    7,
    8,
    9,
    16,
    0x7F,
    0xFF,
    0xFFFF,
    0x7FFF_FFFF,
    0xFFFF_FFFF,
];

fn mutate(rng: &mut XorShift, data: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            2 if len >= 8 => {
                // Overwrite a big- or little-endian length field with an edge value.
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let width = [2usize, 4, 8][rng.below(3)];
                let i = rng.below(len - width + 1);
                let bytes = v.to_be_bytes();
                let mut field = bytes[8 - width..].to_vec();
                if rng.below(2) == 0 {
                    field.reverse();
                }
                data[i..i + width].copy_from_slice(&field);
            }
            3 if len > 0 => data.truncate(rng.below(len)),
            4 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let chunk = data[a..b].to_vec();
                let at = rng.below(len);
                data.splice(at..at, chunk);
            }
            5 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(at..at, junk);
            }
            _ if len > 1 => {
                let a = rng.below(len);
                let b = (a + rng.below(32)).min(len);
                data.drain(a..b);
            }
            _ => {}
        }
    }
}

/// A cursor that counts the bytes it hands out.
struct Counting<'a> {
    inner: Cursor<&'a [u8]>,
    served: u64,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.served += n as u64;
        Ok(n)
    }
}

impl Seek for Counting<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.inner.seek(to)
    }
}

fn run_one(data: &[u8], name: &str) -> u64 {
    let mut r = Counting {
        inner: Cursor::new(data),
        served: 0,
    };
    let x = metadata::extract(&mut r, OsStr::new(name), None);
    // Touch the result so nothing is optimized away, and exercise Display on errors.
    if let Some(e) = &x.error {
        assert!(!e.to_string().is_empty());
    }
    r.served
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/media");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        // The zip bomb is a resource test (tests/media.rs); mutating it only burns time.
        .filter(|(n, d)| !d.is_empty() && n != "ztxt_bomb.png")
        .collect();
    out.sort();
    assert!(out.len() > 30, "fixtures missing");
    out
}

#[test]
fn mutated_fixtures_never_panic_and_io_stays_bounded() {
    let cases: usize = std::env::var("METADATA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let corpus = fixtures();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut max_served = 0;
    for case in 0..cases {
        let (name, base) = &corpus[rng.below(corpus.len())];
        let mut data = base.clone();
        mutate(&mut rng, &mut data);
        let result = std::panic::catch_unwind(|| run_one(&data, name));
        match result {
            Ok(served) => {
                max_served = max_served.max(served);
                assert!(
                    served <= 8 << 20,
                    "case {case} ({name}): read {served} bytes"
                );
            }
            Err(_) => {
                let path = std::env::temp_dir().join(format!("metadata-crash-{case}-{name}"));
                let _ = std::fs::write(&path, &data);
                panic!(
                    "case {case} from {name} panicked; input saved to {}",
                    path.display()
                );
            }
        }
    }
    eprintln!("{cases} mutated cases, most bytes read by one case: {max_served}");
}

/// Inputs that once broke a parser, kept so they never do again.
#[test]
fn regressions() {
    let cases: &[(&str, &[u8])] = &[
        // Found by this harness (case 192): an `ftyp` header cut to 14 bytes made the brand
        // list range 16..14 and panicked in `sniff`.
        ("short_ftyp.mp4", b"\0\0\0\x1cftyp(@\x06iso"),
        // ISO-BMFF box with size 1 (64-bit) whose largesize is smaller than its header.
        (
            "largesize.mp4",
            b"\0\0\0\x10ftypisom\0\0\0\0\0\0\0\x01mdat\0\0\0\0\0\0\0\x08",
        ),
        // Matroska with an unknown-size EBML header.
        (
            "unknown.webm",
            b"\x1a\x45\xdf\xa3\x01\xff\xff\xff\xff\xff\xff\xff\x42\x82\x84webm",
        ),
        // PNG whose IHDR claims a zero size.
        (
            "zero.png",
            b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\0\0\0\0\0\x08\x02\0\0\0\0\0\0\0",
        ),
        // GIF with a global colour table flag and nothing after.
        ("gct.gif", b"GIF89a\x10\0\x10\0\xf7\0\0"),
        // JPEG made only of fill bytes.
        ("fill.jpg", b"\xff\xd8\xff\xff\xff\xff\xff\xff\xff\xff"),
        // WebP whose RIFF size is smaller than the header.
        ("riff.webp", b"RIFF\x00\x00\x00\x00WEBPVP8X"),
        // Found by this harness (case 15737): an AVI video stream header whose length and
        // scale multiply past u64 (an overflow panic in debug builds).
        (
            "overflow.avi",
            b"RIFF\x30\0\0\0AVI strh\x24\0\0\0vids\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\
              \xff\xff\xff\xff\x01\0\0\0\0\0\0\0\xff\xff\xff\xff",
        ),
    ];
    for (name, data) in cases {
        run_one(data, name);
    }

    // Found by `cargo fuzz` review of the isobmff target: an iloc with all field sizes 0 lets
    // every item claim 65535 extents while consuming 6 bytes, which once meant gigabytes of
    // extent records. Now the extent total is capped and the box reported as malformed.
    let mut iloc = vec![0u8, 0, 0, 0, 0x00, 0x00];
    iloc.extend_from_slice(&4096u16.to_be_bytes());
    for id in 0..4096u16 {
        iloc.extend_from_slice(&id.to_be_bytes());
        iloc.extend_from_slice(&[0, 0, 0xFF, 0xFF]);
    }
    let iloc_box = [&((8 + iloc.len()) as u32).to_be_bytes()[..], b"iloc", &iloc].concat();
    let meta_body = [&[0u8, 0, 0, 0][..], &iloc_box].concat();
    let meta = [
        &((8 + meta_body.len()) as u32).to_be_bytes()[..],
        b"meta",
        &meta_body,
    ]
    .concat();
    let file = [&b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"[..], &meta].concat();
    let x = metadata::extract(&mut Cursor::new(&file), OsStr::new("bomb.heic"), None);
    let err = x.error.map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("iloc box is malformed"), "{err}");
}
