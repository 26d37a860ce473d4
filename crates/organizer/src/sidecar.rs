//! Files that travel with a media file: which names are its sidecars, what each is called
//! beside the media's new name, and a collision index free for the whole group.
//!
//! Recognized sidecars of `stem.ext`:
//! - XMP: `stem.xmp` and `stem.ext.xmp`;
//! - Apple edits: `stem.aae`;
//! - Google Takeout: `stem.ext.json`, `stem.ext.supplemental-metadata.json`, and the names
//!   Takeout truncates to 51 bytes (`<first 46 bytes>.json`);
//! - A1111/Forge generation parameters: `stem.txt`;
//! - files written by generators next to their images: `stem.yaml`, `stem.yml`, `stem.json`.
//!
//! Pairs are groups too: beside a still (`stem.jpg`, `stem.jpeg`, `stem.heic`, `stem.heif`)
//! its camera RAW of the same stem (`stem.cr2`, `stem.dng`, …: RAW+JPEG) and its Live Photo
//! video (`stem.mov`) are *members*: media files of their own that travel with the still,
//! which leads the group (its date and folder are the group's).
//!
//! Extensions are matched in lower or upper case. Everything here is pure, except
//! [`group_index`], which looks at the destination folder beneath its root.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use fsroot::Root;

use crate::MAX_COLLISION_ATTEMPTS;
use crate::error::OrganizeError;
use crate::sanitize::collision_name;
use crate::tree::{holds_content, parse_asset_id};

/// What a sidecar holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SidecarKind {
    /// XMP metadata (`.xmp`).
    Xmp,
    /// Apple photo edits (`.aae`).
    Aae,
    /// Google Takeout metadata (`.json` named after the full file name).
    Takeout,
    /// A1111/Forge generation parameters (`.txt`).
    Parameters,
    /// A generator's settings (`.yaml`, `.yml`, `.json` named after the stem).
    Generator,
    /// Member: the camera RAW of a RAW+JPEG pair.
    Raw,
    /// Member: the video of a Live Photo (`.mov` beside its HEIC/JPEG).
    LiveVideo,
    /// Member: the still of a pair whose other half was new when the still was not (the group
    /// is then placed under the new half's operation, the still beside it).
    Still,
}

impl SidecarKind {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            SidecarKind::Xmp => "xmp",
            SidecarKind::Aae => "aae",
            SidecarKind::Takeout => "takeout",
            SidecarKind::Parameters => "parameters",
            SidecarKind::Generator => "generator",
            SidecarKind::Raw => "raw",
            SidecarKind::LiveVideo => "live-video",
            SidecarKind::Still => "still",
        }
    }

    /// True for members of a pair (media files of their own), false for sidecars.
    pub fn is_member(self) -> bool {
        matches!(
            self,
            SidecarKind::Raw | SidecarKind::LiveVideo | SidecarKind::Still
        )
    }

    /// True when a stored kind name (`raw`, `live-video`, `still`) is a member's.
    pub fn is_member_name(kind: &str) -> bool {
        matches!(kind, "raw" | "live-video" | "still")
    }
}

/// What `{group}` says of a file that travels with `kinds` (its sidecars and members):
/// `live-photo`, `raw+jpeg`, `motion-photo` (one file with an embedded video: `motion`), or
/// `single`.
pub fn group_label(kinds: impl IntoIterator<Item = SidecarKind>, motion: bool) -> &'static str {
    let kinds: Vec<SidecarKind> = kinds.into_iter().collect();
    if kinds.contains(&SidecarKind::LiveVideo) {
        "live-photo"
    } else if kinds.contains(&SidecarKind::Raw) || kinds.contains(&SidecarKind::Still) {
        "raw+jpeg"
    } else if motion {
        "motion-photo"
    } else {
        "single"
    }
}

/// Takeout keeps its JSON file names to this many bytes.
const TAKEOUT_NAME_BYTES: usize = 51;

/// The extensions a sidecar may have, by kind, for names built from the media's stem.
const STEM_SIDECARS: &[(&str, SidecarKind)] = &[
    ("xmp", SidecarKind::Xmp),
    ("aae", SidecarKind::Aae),
    ("txt", SidecarKind::Parameters),
    ("yaml", SidecarKind::Generator),
    ("yml", SidecarKind::Generator),
    ("json", SidecarKind::Generator),
];

/// Extensions of stills that lead a pair.
const STILL_EXTENSIONS: &[&str] = &["jpg", "jpeg", "heic", "heif"];

/// Members of a pair beside a still, by extension: camera RAWs, and the Live Photo video.
const MEMBERS: &[(&str, SidecarKind)] = &[
    ("dng", SidecarKind::Raw),
    ("cr2", SidecarKind::Raw),
    ("cr3", SidecarKind::Raw),
    ("nef", SidecarKind::Raw),
    ("arw", SidecarKind::Raw),
    ("pef", SidecarKind::Raw),
    ("orf", SidecarKind::Raw),
    ("rw2", SidecarKind::Raw),
    ("raf", SidecarKind::Raw),
    ("mov", SidecarKind::LiveVideo),
];

/// Extensions of the media files sidecars are looked for beside (what the metadata readers
/// recognize), for [`media_names_for`].
const MEDIA_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "jpe", "webp", "gif", "tif", "tiff", "bmp", "heic", "heif", "avif",
    "jxl", "mp4", "m4v", "mov", "webm", "mkv", "avi", "ts", "m2ts", "mts", "mpg", "mpeg", "dng",
    "cr2", "cr3", "nef", "arw", "pef", "orf", "rw2", "raf",
];

/// True when `name` is a still that may lead a pair (`.jpg`, `.jpeg`, `.heic`, `.heif`).
pub fn is_still(name: &OsStr) -> bool {
    let (_, ext) = split_ext(name.as_bytes());
    STILL_EXTENSIONS
        .iter()
        .any(|e| ext.eq_ignore_ascii_case(e.as_bytes()))
}

/// The kind of member of a pair `name` would be beside a still: [`SidecarKind::Raw`] for a
/// camera RAW, [`SidecarKind::LiveVideo`] for a `.mov`.
pub fn member_kind(name: &OsStr) -> Option<SidecarKind> {
    let (_, ext) = split_ext(name.as_bytes());
    MEMBERS
        .iter()
        .find(|(e, _)| ext.eq_ignore_ascii_case(e.as_bytes()))
        .map(|(_, kind)| *kind)
}

/// True when `name` has an extension a sidecar can have.
pub fn has_sidecar_extension(name: &OsStr) -> bool {
    let (_, ext) = split_ext(name.as_bytes());
    STEM_SIDECARS
        .iter()
        .any(|(e, _)| ext.eq_ignore_ascii_case(e.as_bytes()))
}

/// True when only sidecars have `name`'s extension (`.xmp`, `.aae`): such a file is a
/// sidecar even before its media arrives. A `.txt`, `.json` or `.yaml` file is one only
/// beside its media.
pub fn has_sidecar_only_extension(name: &OsStr) -> bool {
    let (_, ext) = split_ext(name.as_bytes());
    ext.eq_ignore_ascii_case(b"xmp") || ext.eq_ignore_ascii_case(b"aae")
}

/// The names of the media files `sidecar_name` would be a sidecar of (each one pairs:
/// [`sidecar_of`] agrees), built from the media extensions the metadata readers know, in
/// lower and upper case. A Takeout name cut short is not reversed.
pub fn media_names_for(sidecar_name: &OsStr) -> Vec<OsString> {
    let bytes = sidecar_name.as_bytes();
    let (_, own_ext) = split_ext(bytes);
    let is = |e: &&str| own_ext.eq_ignore_ascii_case(e.as_bytes());
    let as_sidecar = STEM_SIDECARS.iter().map(|(e, _)| e).any(is);
    let as_member = MEMBERS.iter().map(|(e, _)| e).any(is);
    // Every candidate name ends in a sidecar's or a member's extension: any other file (the
    // common case: a picture) belongs to no media, and is answered without building names.
    if !as_sidecar && !as_member {
        return Vec::new();
    }
    // A member (RAW, Live Photo video) only ever travels with a still.
    let media_exts = if as_sidecar {
        MEDIA_EXTENSIONS
    } else {
        STILL_EXTENSIONS
    };
    let mut out: Vec<OsString> = Vec::new();
    let mut bases = vec![split_ext(bytes).0];
    if let Some(b) = bytes.strip_suffix(b".supplemental-metadata.json") {
        bases.push(b);
    }
    for base in bases {
        // The full-name forms: `name.ext.xmp`, `name.ext.json`.
        if !split_ext(base).1.is_empty() {
            out.push(OsString::from_vec(base.to_vec()));
        }
        // The stem forms: `stem.xmp`, `stem.txt`, … beside `stem.<media ext>`.
        for ext in media_exts {
            for e in [ext.to_string(), ext.to_ascii_uppercase()] {
                out.push(OsString::from_vec(join(base, format!(".{e}").as_bytes())));
            }
        }
    }
    out.retain(|m| sidecar_of(m, sidecar_name).is_some());
    out.dedup();
    out
}

/// How a sidecar's name is built from its media's name: the part of the media's name it
/// keeps, and what follows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Form {
    /// `stem` + suffix (`.xmp`, `.txt`, …).
    Stem(Vec<u8>),
    /// full name + suffix (`.xmp`, `.json`, …).
    Full(Vec<u8>),
    /// A Takeout name cut to [`TAKEOUT_NAME_BYTES`]: beside a renamed media it becomes the
    /// full name + suffix, uncut.
    Cut(Vec<u8>),
}

/// One possible sidecar name of a media file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The sidecar's name beside the media.
    pub name: OsString,
    /// What it holds.
    pub kind: SidecarKind,
    form: Form,
}

impl Candidate {
    /// The file `name` as a member of the group led by `media`, named after its stem
    /// (`IMG_1.JPG` beside `IMG_1.CR2`); `None` when `name` does not start with that stem.
    pub fn beside(name: &OsStr, media: &OsStr, kind: SidecarKind) -> Option<Candidate> {
        let stem = split_ext(media.as_bytes()).0;
        let suffix = name.as_bytes().strip_prefix(stem)?;
        (!suffix.is_empty()).then(|| Candidate {
            name: name.to_owned(),
            kind,
            form: Form::Stem(suffix.to_vec()),
        })
    }

    /// The file `name` as a member of the group led by `media` whatever its name (a Live
    /// Photo's video told by Apple's content identifier, `IMG_E0100.MOV` beside
    /// `IMG_0100.HEIC`): beside the leader it takes the leader's stem and keeps its own
    /// extension (`IMG_0100.MOV`). `None` for a name without an extension.
    pub fn renamed(name: &OsStr, kind: SidecarKind) -> Option<Candidate> {
        let (_, ext) = split_ext(name.as_bytes());
        (!ext.is_empty()).then(|| Candidate {
            name: name.to_owned(),
            kind,
            form: Form::Stem(join(b".", ext)),
        })
    }

    /// This candidate (of some media file) as one of the group led by `media` instead; a
    /// member whose name does not start with `media`'s stem is [`Candidate::renamed`].
    pub fn rebased(&self, media: &OsStr) -> Option<Candidate> {
        Candidate::beside(&self.name, media, self.kind).or_else(|| match self.kind.is_member() {
            true => Candidate::renamed(&self.name, self.kind),
            false => None,
        })
    }

    /// This sidecar's name beside the media renamed to `media_name`, keeping the pairing.
    pub fn name_beside(&self, media_name: &OsStr) -> OsString {
        let media = media_name.as_bytes();
        let mut out = match &self.form {
            Form::Stem(_) => split_ext(media).0.to_vec(),
            Form::Full(_) | Form::Cut(_) => media.to_vec(),
        };
        match &self.form {
            Form::Stem(s) | Form::Full(s) | Form::Cut(s) => out.extend_from_slice(s),
        }
        OsString::from_vec(out)
    }
}

/// Every name a sidecar of the media file `media_name` may have, each once (first the
/// lowercase extension, then the uppercase one).
pub fn candidates(media_name: &OsStr) -> Vec<Candidate> {
    let media = media_name.as_bytes();
    let (stem, ext) = split_ext(media);
    let mut out: Vec<Candidate> = Vec::new();
    let mut push = |name: Vec<u8>, kind, form| {
        let name = OsString::from_vec(name);
        if name != media_name && !out.iter().any(|c| c.name == name) {
            out.push(Candidate { name, kind, form });
        }
    };
    for (sidecar_ext, kind) in STEM_SIDECARS {
        for e in [sidecar_ext.to_string(), sidecar_ext.to_ascii_uppercase()] {
            let suffix = format!(".{e}").into_bytes();
            if !ext.is_empty() {
                push(join(stem, &suffix), *kind, Form::Stem(suffix.clone()));
            }
            if *kind == SidecarKind::Xmp {
                push(join(media, &suffix), *kind, Form::Full(suffix.clone()));
            }
        }
    }
    if STILL_EXTENSIONS
        .iter()
        .any(|e| ext.eq_ignore_ascii_case(e.as_bytes()))
    {
        for (member_ext, kind) in MEMBERS {
            for e in [member_ext.to_string(), member_ext.to_ascii_uppercase()] {
                let suffix = format!(".{e}").into_bytes();
                push(join(stem, &suffix), *kind, Form::Stem(suffix));
            }
        }
    }
    for suffix in [&b".json"[..], b".supplemental-metadata.json"] {
        let full = join(media, suffix);
        if full.len() > TAKEOUT_NAME_BYTES {
            let keep = TAKEOUT_NAME_BYTES - b".json".len();
            let cut = join(&full[..keep], b".json");
            push(cut, SidecarKind::Takeout, Form::Cut(suffix.to_vec()));
        } else {
            push(full, SidecarKind::Takeout, Form::Full(suffix.to_vec()));
        }
    }
    out
}

/// The candidate of `media_name` named `sidecar_name`, if it is one.
pub fn sidecar_of(media_name: &OsStr, sidecar_name: &OsStr) -> Option<Candidate> {
    candidates(media_name)
        .into_iter()
        .find(|c| c.name == sidecar_name)
}

/// One file of a group placed together, for [`group_index`].
#[derive(Debug, Clone, Copy)]
pub struct GroupFile<'a> {
    /// Its BLAKE3, hex.
    pub asset_id: &'a str,
    /// Its size.
    pub size: u64,
}

/// The first collision index `n` at which the media's name `collision_name(media, n)` and
/// the names of its sidecars beside it (`sidecars[i].name_beside(...)`) are all free in
/// `folder` beneath `root`, or already hold that very file: the group is placed under these
/// names, so it stays paired. A missing folder has every name free.
pub fn group_index(
    root: &Root,
    folder: &Path,
    media_name: &OsStr,
    media: GroupFile<'_>,
    sidecars: &[(&Candidate, GroupFile<'_>)],
) -> Result<u32, OrganizeError> {
    let dir = match root.open_dir(folder) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(1),
        Err(source) => {
            return Err(OrganizeError::ReadFolder {
                path: root.path().join(folder),
                source,
            });
        }
    };
    let fits = |name: &OsStr, f: GroupFile<'_>| -> Result<bool, OrganizeError> {
        match dir.stat(name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            _ => holds_content(&dir, name, &parse_asset_id(f.asset_id)?, f.size),
        }
    };
    for n in 1..=MAX_COLLISION_ATTEMPTS {
        let name = collision_name(media_name, n);
        let mut free = fits(&name, media)?;
        for (c, f) in sidecars {
            if !free {
                break;
            }
            free = fits(&c.name_beside(&name), *f)?;
        }
        if free {
            return Ok(n);
        }
    }
    Err(OrganizeError::TooManyCollisions {
        path: root.path().join(folder).join(media_name),
        attempts: MAX_COLLISION_ATTEMPTS,
    })
}

fn join(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut v = a.to_vec();
    v.extend_from_slice(b);
    v
}

/// `(stem, ext)` split at the last dot, not counting a leading one; `ext` without the dot.
fn split_ext(name: &[u8]) -> (&[u8], &[u8]) {
    match name.iter().rposition(|&b| b == b'.') {
        Some(i) if i > 0 => (&name[..i], &name[i + 1..]),
        _ => (name, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    fn names(media: &str) -> Vec<String> {
        candidates(os(media))
            .into_iter()
            .map(|c| c.name.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_usual_sidecars_are_candidates() {
        let n = names("photo.jpg");
        for s in [
            "photo.xmp",
            "photo.XMP",
            "photo.jpg.xmp",
            "photo.aae",
            "photo.AAE",
            "photo.txt",
            "photo.yaml",
            "photo.yml",
            "photo.json",
            "photo.jpg.json",
            "photo.jpg.supplemental-metadata.json",
        ] {
            assert!(n.iter().any(|x| x == s), "{s} missing from {n:?}");
        }
        assert!(!n.iter().any(|x| x == "photo.jpg"));
    }

    #[test]
    fn kinds_follow_the_name() {
        let kind = |m, s| sidecar_of(os(m), os(s)).map(|c| c.kind);
        assert_eq!(
            kind("00042-99.png", "00042-99.txt"),
            Some(SidecarKind::Parameters)
        );
        assert_eq!(kind("a.png", "a.png.json"), Some(SidecarKind::Takeout));
        assert_eq!(kind("a.png", "a.json"), Some(SidecarKind::Generator));
        assert_eq!(kind("a.png", "a.jpg.xmp"), None);
        assert_eq!(kind("a.png", "b.txt"), None);
    }

    #[test]
    fn takeout_names_cut_to_51_bytes_are_found_and_uncut_beside_a_new_name() {
        let media = "a-very-long-file-name-from-a-phone-camera-20230101.jpg";
        let cut = format!("{}.json", &format!("{media}.json")[..46]);
        assert_eq!(cut.len(), 51);
        let c = sidecar_of(os(media), os(&cut)).expect("cut name");
        assert_eq!(c.kind, SidecarKind::Takeout);
        assert_eq!(
            c.name_beside(os("x (2).jpg")),
            OsString::from("x (2).jpg.json")
        );
    }

    #[test]
    fn a_renamed_media_keeps_its_sidecars_paired() {
        let beside = |m, s, new| {
            sidecar_of(os(m), os(s))
                .unwrap()
                .name_beside(os(new))
                .into_string()
                .unwrap()
        };
        assert_eq!(beside("p.jpg", "p.jpg.xmp", "p (2).jpg"), "p (2).jpg.xmp");
        assert_eq!(beside("p.jpg", "p.XMP", "p (2).jpg"), "p (2).XMP");
        assert_eq!(
            beside("00042-99.png", "00042-99.txt", "cyber-00001.png"),
            "cyber-00001.txt"
        );
    }

    /// The early answer for names that cannot be a sidecar or member loses nothing: every
    /// candidate of every media name still finds its media back.
    #[test]
    fn every_candidate_finds_its_media_back_and_pictures_belong_to_none() {
        for ext in MEDIA_EXTENSIONS {
            for e in [ext.to_string(), ext.to_ascii_uppercase()] {
                let media = OsString::from(format!("IMG_0042.{e}"));
                for c in candidates(&media) {
                    assert!(
                        media_names_for(&c.name).contains(&media),
                        "{:?} should lead back to {media:?}",
                        c.name
                    );
                }
            }
        }
        for name in ["a.png", "b.WEBP", "c.gif", "d.mp4", "e.jpg", "noext"] {
            assert!(media_names_for(os(name)).is_empty(), "{name}");
        }
        assert!(
            media_names_for(os("IMG_1.CR2")).iter().all(|m| is_still(m)),
            "a RAW only travels with a still"
        );
    }

    #[test]
    fn media_names_are_found_back_from_a_sidecar_name() {
        let m = |s| {
            media_names_for(os(s))
                .into_iter()
                .map(|n| n.into_string().unwrap())
                .collect::<Vec<_>>()
        };
        assert!(m("00042-99.txt").contains(&"00042-99.png".to_owned()));
        assert!(m("IMG_1.JPG.xmp").contains(&"IMG_1.JPG".to_owned()));
        assert!(m("IMG_1.xmp").contains(&"IMG_1.CR2".to_owned()));
        assert!(m("a.png.json").contains(&"a.png".to_owned()));
        assert!(m("a.png.supplemental-metadata.json").contains(&"a.png".to_owned()));
        assert!(m("notes.txt").iter().all(|n| n.starts_with("notes.")));
        assert!(has_sidecar_only_extension(os("a.XMP")));
        assert!(!has_sidecar_only_extension(os("a.txt")));
    }

    #[test]
    fn sidecar_extensions_are_known_in_either_case() {
        for n in ["a.xmp", "a.TXT", "b.json", "c.Yaml", "d.aae"] {
            assert!(has_sidecar_extension(os(n)), "{n}");
        }
        for n in ["a.png", "notes", ".xmp"] {
            assert!(!has_sidecar_extension(os(n)), "{n}");
        }
    }

    #[test]
    fn the_group_index_skips_names_any_member_would_collide_with() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        let hash = |b: &[u8]| blake3::hash(b).to_hex().to_string();
        let (m, s) = (hash(b"media"), hash(b"side"));
        let media = GroupFile {
            asset_id: &m,
            size: 5,
        };
        let side = GroupFile {
            asset_id: &s,
            size: 4,
        };
        let c = sidecar_of(os("p.jpg"), os("p.jpg.xmp")).unwrap();
        let group = [(&c, side)];
        assert_eq!(
            group_index(&root, Path::new("day"), os("p.jpg"), media, &group).unwrap(),
            1
        );
        std::fs::create_dir(dir.path().join("day")).unwrap();
        // Only the sidecar's name is taken, by other content: the whole group moves on.
        std::fs::write(dir.path().join("day/p.jpg.xmp"), b"else").unwrap();
        assert_eq!(
            group_index(&root, Path::new("day"), os("p.jpg"), media, &group).unwrap(),
            2
        );
        // Names already holding the group's own files fit (a repeated placement).
        std::fs::write(dir.path().join("day/p (2).jpg"), b"media").unwrap();
        std::fs::write(dir.path().join("day/p (2).jpg.xmp"), b"side").unwrap();
        assert_eq!(
            group_index(&root, Path::new("day"), os("p.jpg"), media, &group).unwrap(),
            2
        );
    }

    #[test]
    fn a_still_leads_its_raw_and_live_photo_video() {
        let kind = |m, s| sidecar_of(os(m), os(s)).map(|c| c.kind);
        assert_eq!(kind("IMG_1.JPG", "IMG_1.CR2"), Some(SidecarKind::Raw));
        assert_eq!(
            kind("IMG_1.HEIC", "IMG_1.MOV"),
            Some(SidecarKind::LiveVideo)
        );
        assert_eq!(kind("IMG_1.jpg", "IMG_1.dng"), Some(SidecarKind::Raw));
        // A RAW leads nothing of the kind, and a PNG has no pairs.
        assert_eq!(kind("IMG_1.CR2", "IMG_1.JPG"), None);
        assert_eq!(kind("a.png", "a.mov"), None);
        assert!(media_names_for(os("IMG_1.MOV")).contains(&OsString::from("IMG_1.HEIC")));
        // Beside a new name the pair keeps its stem.
        let c = sidecar_of(os("IMG_1.JPG"), os("IMG_1.CR2")).unwrap();
        assert_eq!(c.name_beside(os("IMG_1 (2).JPG")), "IMG_1 (2).CR2");
    }

    #[test]
    fn a_group_rebased_on_another_member_keeps_its_names() {
        let xmp = sidecar_of(os("IMG_1.JPG"), os("IMG_1.JPG.xmp")).unwrap();
        let x = xmp.rebased(os("IMG_1.CR2")).unwrap();
        assert_eq!(x.name_beside(os("IMG_1 (2).CR2")), "IMG_1 (2).JPG.xmp");
        let still = Candidate::beside(os("IMG_1.JPG"), os("IMG_1.CR2"), SidecarKind::Still);
        assert_eq!(still.unwrap().name_beside(os("b.CR2")), "b.JPG");
        assert!(Candidate::beside(os("other.JPG"), os("IMG_1.CR2"), SidecarKind::Still).is_none());
        assert_eq!(
            group_label([SidecarKind::Xmp, SidecarKind::Raw], false),
            "raw+jpeg"
        );
        assert_eq!(group_label([SidecarKind::LiveVideo], false), "live-photo");
        assert_eq!(group_label([], true), "motion-photo");
        assert_eq!(group_label([SidecarKind::Xmp], false), "single");
    }

    #[test]
    fn a_live_photo_video_of_another_name_takes_its_stills_stem() {
        let v = Candidate::renamed(os("IMG_E0100.MOV"), SidecarKind::LiveVideo).unwrap();
        assert_eq!(v.name, "IMG_E0100.MOV");
        assert_eq!(v.name_beside(os("IMG_0100.HEIC")), "IMG_0100.MOV");
        assert_eq!(v.name_beside(os("IMG_0100 (2).HEIC")), "IMG_0100 (2).MOV");
        assert!(Candidate::renamed(os("noext"), SidecarKind::LiveVideo).is_none());
        // A member of another name rebased on a RAW keeps its extension; a sidecar is not.
        let still = Candidate::renamed(os("IMG_0100.HEIC"), SidecarKind::Still).unwrap();
        assert_eq!(
            still
                .rebased(os("clip.MOV"))
                .unwrap()
                .name_beside(os("clip.MOV")),
            "clip.HEIC"
        );
        let xmp = sidecar_of(os("a.JPG"), os("a.JPG.xmp")).unwrap();
        assert!(xmp.rebased(os("b.MOV")).is_none());
        assert_eq!(member_kind(os("x.mov")), Some(SidecarKind::LiveVideo));
        assert_eq!(member_kind(os("x.CR3")), Some(SidecarKind::Raw));
        assert_eq!(member_kind(os("x.mp4")), None);
        assert!(is_still(os("x.HEIC")) && is_still(os("x.jpeg")) && !is_still(os("x.png")));
    }
}
