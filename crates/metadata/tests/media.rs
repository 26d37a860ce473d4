//! Container-format extraction over the committed fixtures
//! (`scripts/fixtures/make_media_fixtures.py` builds them).

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use events::media::{CaptureTime, DateSource, MediaType};
use metadata::{Extraction, MetadataError, extract, extract_path, sniff};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/media")
        .join(name)
}

fn x(name: &str) -> Extraction {
    extract_path(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The capture time an mtime fallback must report for this file.
fn mtime_capture(name: &str) -> CaptureTime {
    let mtime = fs::metadata(fixture(name)).unwrap().modified().unwrap();
    let local: chrono::DateTime<chrono::Local> = mtime.into();
    CaptureTime::with_offset(local.naive_local(), local.offset().local_minus_utc())
}

struct Want {
    name: &'static str,
    media: MediaType,
    format: &'static str,
    dims: Option<(u32, u32)>,
    duration_ms: Option<u64>,
    /// `None` = the mtime fallback.
    taken_at: Option<(&'static str, DateSource)>,
    camera: Option<(&'static str, &'static str)>,
}

const fn w(
    name: &'static str,
    media: MediaType,
    format: &'static str,
    dims: Option<(u32, u32)>,
    duration_ms: Option<u64>,
    taken_at: Option<(&'static str, DateSource)>,
    camera: Option<(&'static str, &'static str)>,
) -> Want {
    Want {
        name,
        media,
        format,
        dims,
        duration_ms,
        taken_at,
        camera,
    }
}

use DateSource::{Exif, Filename, Png, Quicktime, Xmp};
use MediaType::{Image, Video};

#[rustfmt::skip]
const GOOD: &[Want] = &[
    w("camera.jpg", Image, "jpeg", Some((64, 48)), None, Some(("2024-03-15T12:34:56.120+01:00", Exif)), Some(("Canon", "Canon EOS R5"))),
    w("datetime_only.jpg", Image, "jpeg", Some((40, 30)), None, Some(("2023-07-01T08:09:10", Exif)), None),
    // "0000:00:00 00:00:00" and month 13 are rejected: the chain falls through to mtime.
    w("zero_date.jpg", Image, "jpeg", Some((40, 30)), None, None, Some(("Apple", "iPhone 12"))),
    w("xmp_only.jpg", Image, "jpeg", Some((32, 24)), None, Some(("2022-05-06T07:08:09+02:00", Xmp)), None),
    w("plain.jpg", Image, "jpeg", Some((20, 10)), None, None, None),
    w("time_chunk.png", Image, "png", Some((30, 20)), None, Some(("2021-02-03T04:05:06+00:00", Png)), None),
    // XMP beats the tIME chunk the same file carries.
    w("itxt_xmp.png", Image, "png", Some((30, 20)), None, Some(("2020-10-11T12:13:14", Xmp)), None),
    // `Creation Time` text beats tIME (a modification time by spec).
    w("creation_time.png", Image, "png", Some((30, 20)), None, Some(("2019-06-15T10:00:00+02:00", Png)), None),
    w("text_chunks.png", Image, "png", Some((30, 20)), None, None, None),
    w("exif.webp", Image, "webp", Some((50, 40)), None, Some(("2018-08-09T10:11:12-05:00", Exif)), Some(("FUJIFILM", "X-T5"))),
    w("lossless.webp", Image, "webp", Some((33, 17)), None, None, None),
    w("lossy.webp", Image, "webp", Some((35, 19)), None, None, None),
    w("comment.gif", Image, "gif", Some((21, 13)), None, None, None),
    w("image.bmp", Image, "bmp", Some((23, 11)), None, None, None),
    w("camera.tiff", Image, "tiff", Some((24, 18)), None, Some(("2017-06-07T08:09:10", Exif)), Some(("NIKON CORPORATION", "NIKON D850"))),
    w("still.avif", Image, "avif", Some((40, 30)), None, Some(("2024-01-02T03:04:05+09:00", Exif)), Some(("Google", "Pixel 8"))),
    w("exif_item.heic", Image, "heic", Some((4032, 3024)), None, Some(("2024-02-29T23:59:58.500-08:00", Exif)), Some(("Apple", "iPhone 15 Pro"))),
    w("clip.mp4", Video, "mp4", Some((64, 48)), Some(2000), Some(("2024-03-15T12:34:56+00:00", Quicktime)), None),
    w("clip.mov", Video, "mov", Some((64, 48)), Some(2000), Some(("2023-01-02T03:04:05+00:00", Quicktime)), None),
    // The QuickTime creationdate key keeps the local time and offset, so it beats mvhd (UTC).
    w("apple.mov", Video, "mov", Some((64, 48)), Some(2000), Some(("2023-01-02T04:04:05+01:00", Quicktime)), None),
    w("clip.webm", Video, "webm", Some((64, 48)), Some(2000), Some(("2022-11-12T13:14:15+00:00", Quicktime)), None),
    w("clip.mkv", Video, "mkv", Some((64, 48)), Some(2000), Some(("2021-04-05T06:07:08+00:00", Quicktime)), None),
    // Camera RAWs: samples ExifTool ships (image data cut out, headers intact) and TIFF RAWs
    // built from the maker's layout. A Nikon TIFF without sensor data stays `tiff` (above).
    w("exiftool_CanonRaw.cr2", Image, "cr2", Some((3456, 2304)), None, Some(("2005-08-03T18:59:18", Exif)), Some(("Canon", "Canon EOS 350D DIGITAL"))),
    w("exiftool_CanonRaw.cr3", Image, "cr3", Some((6000, 4000)), None, Some(("2018-02-21T12:08:56.210+00:00", Exif)), Some(("Canon", "Canon EOS M50"))),
    w("exiftool_DNG.dng", Image, "dng", Some((3516, 2328)), None, Some(("2005-08-03T18:59:18", Exif)), Some(("Canon", "Canon EOS 350D DIGITAL"))),
    w("exiftool_Nikon.nef", Image, "nef", Some((3040, 2014)), None, Some(("2004-06-09T16:02:35", Exif)), Some(("NIKON CORPORATION", "NIKON D70"))),
    w("exiftool_Panasonic.rw2", Image, "rw2", Some((3648, 2736)), None, Some(("2008-08-06T15:21:56", Exif)), Some(("Panasonic", "DMC-LX3"))),
    w("exiftool_FujiFilm.raf", Image, "raf", Some((4256, 1424)), None, Some(("2007-05-22T13:58:30", Exif)), Some(("FUJIFILM", "FinePix S5Pro"))),
    w("camera.orf", Image, "orf", Some((5240, 3912)), None, Some(("2019-04-05T06:07:08", Exif)), Some(("OLYMPUS CORPORATION", "E-M1MarkII"))),
    w("camera.arw", Image, "arw", Some((6048, 4024)), None, Some(("2020-05-06T07:08:09+09:00", Exif)), Some(("SONY", "ILCE-7M3"))),
    w("camera.pef", Image, "pef", Some((6192, 4128)), None, Some(("2021-06-07T08:09:10", Exif)), Some(("RICOH IMAGING COMPANY, LTD.", "PENTAX K-3 Mark III"))),
    w("exiftool_JXL.jxl", Image, "jxl", Some((200, 130)), None, None, None),
    w("exif.jxl", Image, "jxl", Some((48, 32)), None, Some(("2024-09-10T11:12:13+02:00", Exif)), Some(("Google", "Pixel 9"))),
    w("clip.avi", Video, "avi", Some((64, 48)), Some(2000), Some(("2024-03-15T00:00:00", Quicktime)), None),
    w("clip.ts", Video, "mts", None, Some(1900), None, None),
    w("clip.m2ts", Video, "mts", None, Some(1900), None, None),
    // The clock of the last pack is muxed ahead of the last frame: 1.4 s for 2 s of frames.
    w("clip.mpg", Video, "mpg", Some((64, 48)), Some(1400), None, None),
    w("IMG_20240315_123456.jpg", Image, "jpeg", Some((20, 10)), None, Some(("2024-03-15T12:34:56", Filename)), None),
    w("PXL_20240315_123456789.jpg", Image, "jpeg", Some((20, 10)), None, Some(("2024-03-15T12:34:56.789+00:00", Filename)), None),
    w("IMG-20240315-WA0001.jpg", Image, "jpeg", Some((20, 10)), None, Some(("2024-03-15T00:00:00", Filename)), None),
    w("20240315_123456.jpg", Image, "jpeg", Some((20, 10)), None, Some(("2024-03-15T12:34:56", Filename)), None),
    w("1710505896123.jpg", Image, "jpeg", Some((20, 10)), None, Some(("2024-03-15T12:31:36.123+00:00", Filename)), None),
    w("Screenshot 2024-03-15 at 12.34.56.png", Image, "png", Some((20, 10)), None, Some(("2024-03-15T12:34:56", Filename)), None),
    w("Screenshot_2024-03-15-12-34-56.png", Image, "png", Some((20, 10)), None, Some(("2024-03-15T12:34:56", Filename)), None),
    // A generator's counter is not a date.
    w("ComfyUI_00001_.png", Image, "png", Some((20, 10)), None, None, None),
];

#[test]
fn well_formed_files_give_format_dims_duration_date_and_camera() {
    for want in GOOD {
        let got = x(want.name);
        let i = &got.info;
        let n = want.name;
        assert!(
            got.error.is_none(),
            "{n}: unexpected error {:?}",
            got.error.map(|e| e.to_string())
        );
        assert_eq!(i.media_type, want.media, "{n}");
        assert_eq!(i.format.as_deref(), Some(want.format), "{n}");
        assert_eq!(i.width.zip(i.height), want.dims, "{n}");
        assert_eq!(i.duration_ms, want.duration_ms, "{n}");
        match want.taken_at {
            Some((t, src)) => {
                assert_eq!(i.taken_at.map(|t| t.to_string()).as_deref(), Some(t), "{n}");
                assert_eq!(i.taken_at_source, Some(src), "{n}");
            }
            None => {
                assert_eq!(i.taken_at, Some(mtime_capture(n)), "{n}");
                assert_eq!(i.taken_at_source, Some(DateSource::Mtime), "{n}");
            }
        }
        let camera = i.camera.as_ref().map(|c| {
            (
                c.make.as_deref().unwrap_or(""),
                c.model.as_deref().unwrap_or(""),
            )
        });
        assert_eq!(camera, want.camera, "{n}");
    }
}

fn err(name: &str) -> (Extraction, String) {
    let got = x(name);
    let msg = got
        .error
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| panic!("{name}: expected an error"));
    (got, msg)
}

#[test]
fn broken_files_report_what_is_wrong_and_keep_what_was_learned() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("empty.jpg", None, "file is empty (0 bytes)"),
        (
            "truncated.png",
            Some("png"),
            "png file is truncated: chunk IHDR at byte 8 ends at byte 33 but the file has 20 bytes",
        ),
        (
            "absurd_chunk.png",
            Some("png"),
            "png file is corrupt: chunk tEXt at byte 33 claims 4294967280 bytes",
        ),
        (
            "huge_chunk.png",
            Some("png"),
            "png file is truncated: chunk tEXt at byte 33 ends at byte 2147483677",
        ),
        (
            "no_iend.png",
            Some("png"),
            "png file is truncated: file ends at byte 300 without an IEND chunk",
        ),
        (
            "truncated.jpg",
            Some("jpeg"),
            "jpeg file is truncated: segment 0xFFE1 at byte 20 ends at byte",
        ),
        ("ifd_cycle.jpg", Some("jpeg"), "Already visited IFD"),
        ("next_ifd_cycle.jpg", Some("jpeg"), "Already visited IFD"),
        (
            "truncated.webp",
            Some("webp"),
            "webp file is truncated: chunk \"VP8 \" at byte 30",
        ),
        (
            "truncated.gif",
            Some("gif"),
            "gif file is truncated: logical screen descriptor ends at byte 13 but the file has 10 bytes",
        ),
        (
            "truncated.heic",
            Some("heic"),
            "heic file is truncated: box meta at byte 24",
        ),
        (
            "truncated.mp4",
            Some("mp4"),
            "mp4 file is truncated: box mdat at byte",
        ),
        (
            "small_box.mp4",
            Some("mp4"),
            "has size 4, smaller than its 8-byte header",
        ),
        (
            "truncated.webm",
            Some("webm"),
            "webm file is truncated: element",
        ),
        (
            "ztxt_bomb.png",
            Some("png"),
            "png file: metadata text in total claims",
        ),
    ];
    for &(name, format, msg) in cases {
        let (got, text) = err(name);
        assert_eq!(got.info.format.as_deref(), format, "{name}");
        assert!(
            text.contains(msg),
            "{name}: {text:?} does not contain {msg:?}"
        );
        // Whatever the content, the date chain still ends in the mtime fallback.
        let want = if name == "truncated.mp4" {
            DateSource::Quicktime
        } else {
            DateSource::Mtime
        };
        assert_eq!(got.info.taken_at_source, Some(want), "{name}");
    }
    // Learned before the fault: the moov of a fast-start MP4 precedes the cut mdat.
    let mp4 = x("truncated.mp4").info;
    assert_eq!((mp4.duration_ms, mp4.width), (Some(2000), Some(64)));
    assert_eq!(
        mp4.taken_at.map(|t| t.to_string()).as_deref(),
        Some("2024-03-15T12:34:56+00:00")
    );
    // The zip bomb keeps at most the text budget, but what fit is kept.
    let bomb = x("ztxt_bomb.png").signals;
    let kept: usize = bomb.png_text.iter().map(|(_, v)| v.len()).sum();
    assert!((4 << 20..=16 << 20).contains(&kept), "{kept}");
    // The cycle does not hide the fields read before it.
    assert_eq!(
        x("next_ifd_cycle.jpg")
            .info
            .camera
            .and_then(|c| c.make)
            .as_deref(),
        Some("ACON")
    );
    assert!(matches!(x("empty.jpg").error, Some(MetadataError::Empty)));
    assert!(matches!(
        x("absurd_chunk.png").error,
        Some(MetadataError::Corrupt { format: "png", .. })
    ));
    assert!(matches!(
        x("truncated.png").error,
        Some(MetadataError::Truncated { format: "png", .. })
    ));
}

#[test]
fn unknown_magic_is_other_whatever_the_extension() {
    for name in ["wrong_magic.jpg", "text.png"] {
        let got = x(name);
        assert_eq!(got.info.media_type, MediaType::Other, "{name}");
        assert_eq!(got.info.format, None, "{name}");
        assert!(got.error.is_none(), "{name}");
    }
    assert_eq!(sniff(b""), (MediaType::Other, None));
    assert_eq!(sniff(b"\xff\xd8"), (MediaType::Other, None));
    assert_eq!(
        sniff(b"\0\0\0\x18ftypM4A \0\0\0\0M4A isom"),
        (MediaType::Other, None)
    );
    assert_eq!(
        sniff(b"\0\0\0\x14ftypqt  \0\0\0\0qt  "),
        (MediaType::Video, Some("mov"))
    );
    assert_eq!(
        sniff(b"\0\0\0\x18ftypmif1\0\0\0\0mif1avif"),
        (MediaType::Image, Some("avif"))
    );
    assert_eq!(
        sniff(b"\0\0\0\x18ftypmif1\0\0\0\0mif1heic"),
        (MediaType::Image, Some("heic"))
    );
}

#[test]
fn unreadable_paths_are_io_errors_naming_the_path() {
    let missing = fixture("does-not-exist.jpg");
    let e = extract_path(&missing).expect_err("missing file must fail");
    assert!(matches!(e, MetadataError::Io { .. }));
    assert!(e.to_string().contains("does-not-exist.jpg"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        extract_path(dir.path()),
        Err(MetadataError::Io { .. })
    ));
    // A FIFO would block a plain open until a writer appears; it is refused up front.
    let fifo = dir.path().join("pipe.jpg");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    assert!(matches!(extract_path(&fifo), Err(MetadataError::Io { .. })));
}

#[test]
fn mtime_fallback_is_local_time_with_offset() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("holiday.jpg");
    fs::copy(fixture("plain.jpg"), &p).unwrap();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(t)
        .unwrap();
    let got = extract_path(&p).unwrap().info;
    let local: chrono::DateTime<chrono::Local> = t.into();
    assert_eq!(got.taken_at_source, Some(DateSource::Mtime));
    assert_eq!(
        got.taken_at,
        Some(CaptureTime::with_offset(
            local.naive_local(),
            local.offset().local_minus_utc()
        ))
    );

    // Through the reader API: no mtime, no date.
    let bytes = fs::read(fixture("plain.jpg")).unwrap();
    let got = extract(&mut Cursor::new(&bytes), OsStr::new("holiday.jpg"), None).info;
    assert_eq!((got.taken_at, got.taken_at_source), (None, None));
    let got = extract(&mut Cursor::new(&bytes), OsStr::new("holiday.jpg"), Some(t)).info;
    assert_eq!(got.taken_at_source, Some(DateSource::Mtime));
}

#[test]
fn signals_are_filled_from_every_container() {
    let s = x("text_chunks.png").signals;
    let text = |k: &str| {
        s.png_text
            .iter()
            .find(|(kk, _)| kk == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        text("parameters").as_deref(),
        Some("a caf\u{e9} at dusk\nSteps: 20, Sampler: Euler a, Seed: 42")
    );
    assert_eq!(text("Comment"), Some("zipped comment ".repeat(20)));
    assert_eq!(
        text("prompt").as_deref(),
        Some("{\"3\": {\"class_type\": \"KSampler\"}} \u{2713}")
    );
    assert!(s.c2pa.iter().any(|c| c == "Adobe_Firefly"), "{:?}", s.c2pa);

    let s = x("comment_c2pa.jpg").signals;
    assert!(s.c2pa.iter().any(|c| c == "Adobe_Firefly"), "{:?}", s.c2pa);
    assert!(
        s.other_text
            .contains(&("jpeg:COM".into(), "Generated by a test".into()))
    );

    let s = x("camera.jpg").signals;
    assert_eq!(s.exif_software.as_deref(), Some("Firmware 1.8.1"));
    assert_eq!(
        (s.exif_make.as_deref(), s.exif_model.as_deref()),
        (Some("Canon"), Some("Canon EOS R5"))
    );

    let s = x("itxt_xmp.png").signals;
    assert_eq!(s.xmp.len(), 1);
    assert!(s.xmp[0].contains("exif:DateTimeOriginal"));
    assert!(s.png_text.iter().any(|(k, _)| k == "XML:com.adobe.xmp"));

    let s = x("exif.webp").signals;
    assert!(s.xmp.iter().any(|p| p.contains("Test Tool 1.0")));

    assert!(
        x("comment.gif")
            .signals
            .other_text
            .contains(&("gif:comment".into(), "made for a test".into()))
    );
    let s = x("clip.mp4").signals;
    assert!(
        s.other_text
            .iter()
            .any(|(k, v)| k == "quicktime:\u{a9}too" && v.starts_with("Lavf")),
        "{:?}",
        s.other_text
    );
    assert!(
        s.other_text
            .contains(&("quicktime:\u{a9}cmt".into(), "test clip".into()))
    );
    let s = x("apple.mov").signals;
    assert!(s.other_text.contains(&(
        "quicktime:com.apple.quicktime.software".into(),
        "17.2".into()
    )));
    let s = x("clip.webm").signals;
    assert!(
        s.other_text
            .contains(&("matroska:Title".into(), "webm title".into()))
    );
    assert!(
        s.other_text
            .iter()
            .any(|(k, v)| k == "matroska:WritingApp" && v.starts_with("Lavf"))
    );
}

#[test]
fn ai_detection_sees_the_signals() {
    // An A1111-style `parameters` chunk next to a ComfyUI-style `prompt`: some tool is named,
    // which one is the AI rules' business (tests/ai_*.rs).
    assert!(x("text_chunks.png").info.ai.is_some());
    assert_eq!(x("camera.jpg").info.ai, None);
}

/// A reader over a virtual file: real bytes at both ends, zeros in a huge middle, counting
/// every byte handed out.
struct Sparse {
    head: Vec<u8>,
    hole: u64,
    tail: Vec<u8>,
    pos: u64,
    served: u64,
}

impl Sparse {
    fn len(&self) -> u64 {
        self.head.len() as u64 + self.hole + self.tail.len() as u64
    }
}

impl Read for Sparse {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (h, hole) = (self.head.len() as u64, self.hole);
        let n = if self.pos < h {
            let n = buf.len().min((h - self.pos) as usize);
            buf[..n].copy_from_slice(&self.head[self.pos as usize..self.pos as usize + n]);
            n
        } else if self.pos < h + hole {
            let n = buf.len().min((h + hole - self.pos) as usize);
            buf[..n].fill(0);
            n
        } else {
            let off = (self.pos - h - hole) as usize;
            let n = buf.len().min(self.tail.len().saturating_sub(off));
            buf[..n].copy_from_slice(&self.tail[off..off + n]);
            n
        };
        self.pos += n as u64;
        self.served += n as u64;
        Ok(n)
    }
}

impl Seek for Sparse {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::End(d) => (self.len() as i64 + d) as u64,
            SeekFrom::Current(d) => (self.pos as i64 + d) as u64,
        };
        Ok(self.pos)
    }
}

fn top_level_box<'a>(file: &'a [u8], typ: &[u8; 4]) -> &'a [u8] {
    let mut pos = 0;
    while pos + 8 <= file.len() {
        let size = u32::from_be_bytes(file[pos..pos + 4].try_into().unwrap()) as usize;
        if &file[pos + 4..pos + 8] == typ {
            return &file[pos..pos + size];
        }
        pos += size;
    }
    panic!("no {typ:?} box");
}

#[test]
fn a_4_gib_video_costs_kilobytes_of_io() {
    let mp4 = fs::read(fixture("clip.mp4")).unwrap();
    let hole = 4u64 << 30;
    let mut head = top_level_box(&mp4, b"ftyp").to_vec();
    head.extend_from_slice(&1u32.to_be_bytes());
    head.extend_from_slice(b"mdat");
    head.extend_from_slice(&(hole + 16).to_be_bytes());
    let mut r = Sparse {
        head,
        hole,
        tail: top_level_box(&mp4, b"moov").to_vec(),
        pos: 0,
        served: 0,
    };
    let got = extract(&mut r, OsStr::new("big.mp4"), None);
    assert!(
        got.error.is_none(),
        "{:?}",
        got.error.map(|e| e.to_string())
    );
    assert_eq!(got.info.duration_ms, Some(2000));
    assert_eq!(
        got.info.taken_at.map(|t| t.to_string()).as_deref(),
        Some("2024-03-15T12:34:56+00:00")
    );
    assert!(r.served < 32 * 1024, "read {} bytes", r.served);
}

#[test]
fn png_text_after_a_1_gib_idat_is_found_without_reading_it() {
    let png = fs::read(fixture("plain.jpg").with_file_name("time_chunk.png")).unwrap();
    // IHDR ends at byte 33; put a 1 GiB IDAT there, then the original chunks (tIME first).
    let idat_len = 1u64 << 30;
    let mut head = png[..33].to_vec();
    head.extend_from_slice(&(idat_len as u32).to_be_bytes());
    head.extend_from_slice(b"IDAT");
    let mut tail = vec![0u8; 4]; // CRC
    tail.extend_from_slice(&png[33..]);
    let mut r = Sparse {
        head,
        hole: idat_len,
        tail,
        pos: 0,
        served: 0,
    };
    let got = extract(&mut r, OsStr::new("big.png"), None);
    assert!(
        got.error.is_none(),
        "{:?}",
        got.error.map(|e| e.to_string())
    );
    assert_eq!(
        got.info.taken_at.map(|t| t.to_string()).as_deref(),
        Some("2021-02-03T04:05:06+00:00")
    );
    assert!(r.served < 32 * 1024, "read {} bytes", r.served);
}

#[test]
fn raw_photos_and_streams_of_any_size_cost_a_bounded_read() {
    // A NEF whose raw data runs 60 MB past its IFDs: only the first TIFF window is read.
    let mut r = Sparse {
        head: fs::read(fixture("exiftool_Nikon.nef")).unwrap(),
        hole: 60 << 20,
        tail: Vec::new(),
        pos: 0,
        served: 0,
    };
    let got = extract(&mut r, OsStr::new("big.nef"), None).info;
    assert_eq!(got.format.as_deref(), Some("nef"));
    assert_eq!(got.width.zip(got.height), Some((3040, 2014)));
    assert!(r.served <= 264 * 1024, "read {} bytes", r.served);

    // A 1.9 GB transport stream: one window at each end finds the first and last clock.
    let ts = fs::read(fixture("clip.ts")).unwrap();
    assert_eq!(ts.len() % 188, 0);
    let mut r = Sparse {
        head: ts.clone(),
        hole: 188 * 10_000_000,
        tail: ts,
        pos: 0,
        served: 0,
    };
    let got = extract(&mut r, OsStr::new("big.ts"), None).info;
    assert_eq!(got.format.as_deref(), Some("mts"));
    assert_eq!(got.duration_ms, Some(1900));
    assert!(r.served <= 520 * 1024, "read {} bytes", r.served);
}

#[test]
fn cut_camera_samples_keep_what_their_headers_say() {
    // ExifTool's AVI samples keep the headers and drop the frames, so the RIFF size overruns
    // the file: that is reported, and the size, duration and date read before it are kept.
    for (name, dims, ms, date) in [
        (
            "exiftool_RIFF.avi",
            (320, 240),
            15533,
            "2003-03-10T15:04:43",
        ),
        (
            "exiftool_Pentax.avi",
            (1280, 720),
            24999,
            "2009-10-27T12:14:34",
        ),
    ] {
        let (got, msg) = err(name);
        assert!(
            msg.starts_with("avi file is truncated: RIFF container ends at byte"),
            "{msg}"
        );
        let i = got.info;
        assert_eq!(i.format.as_deref(), Some("avi"), "{name}");
        assert_eq!(i.width.zip(i.height), Some(dims), "{name}");
        assert_eq!(i.duration_ms, Some(ms), "{name}");
        assert_eq!(i.taken_at.map(|t| t.to_string()).as_deref(), Some(date));
    }
    // Seven 192-byte packets without a clock: a stream, no duration, no error.
    let m2ts = x("exiftool_M2TS.mts");
    assert!(m2ts.error.is_none(), "{:?}", m2ts.error);
    assert_eq!(
        (
            m2ts.info.media_type,
            m2ts.info.format.as_deref(),
            m2ts.info.duration_ms
        ),
        (Video, Some("mts"), None)
    );
}

#[test]
fn camera_and_stream_magics_sniff_to_their_own_names() {
    let ts = |size: usize, at: usize| {
        let mut h = vec![0u8; 1024];
        for i in (at..h.len()).step_by(size) {
            h[i] = 0x47;
        }
        h
    };
    let cases: &[(&[u8], MediaType, Option<&str>)] = &[
        (b"II*\0\x10\0\0\0CR\x02\0", Image, Some("cr2")),
        (b"II*\0\x08\0\0\0\0\0", Image, Some("tiff")),
        (b"IIRO\x08\0\0\0", Image, Some("orf")),
        (b"MMOR\0\0\0\x08", Image, Some("orf")),
        (b"IIU\0\x08\0\0\0", Image, Some("rw2")),
        (b"FUJIFILMCCD-RAW 0201", Image, Some("raf")),
        (b"\0\0\0\x18ftypcrx \0\0\0\x01crx isom", Image, Some("cr3")),
        (b"\xff\x0a\xfa\x7f", Image, Some("jxl")),
        (
            b"\0\0\0\x0cJXL \r\n\x87\n\0\0\0\x14ftypjxl ",
            Image,
            Some("jxl"),
        ),
        (b"RIFF\0\0\0\0AVI LIST", Video, Some("avi")),
        (&ts(188, 0), Video, Some("mts")),
        (&ts(192, 4), Video, Some("mts")),
        (b"\0\0\x01\xba\x44\0\x04\0\x04\x01", Video, Some("mpg")),
        // One sync byte is not a stream; a text file may well start with "G".
        (b"G", MediaType::Other, None),
        (b"RIFF\0\0\0\0WAVEfmt ", MediaType::Other, None),
    ];
    for (h, media, format) in cases {
        assert_eq!(sniff(h), (*media, *format), "{h:?}");
    }
}
