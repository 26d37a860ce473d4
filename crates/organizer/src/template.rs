//! Destination templates: `{date}/{project}/{source}/{name}` and friends.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

use crate::sanitize::{
    MAX_NAME_BYTES, guard_temp_prefix, sanitize_component, sanitize_name, split_ext,
    truncate_bytes, truncate_name,
};

/// The default layout: `2024-03-15/cyberpunk/midjourney/original-name.png`.
pub const DEFAULT_TEMPLATE: &str = "{date}/{project}/{source}/{name}";

/// The classic AliceMultiverse layout with numbered files:
/// `2024-03-15/cyberpunk/midjourney/cyberpunk-00042.png`.
pub const CLASSIC_TEMPLATE: &str = "{date}/{project}/{source}/{project}-{seq:05}{ext}";

/// Shown in errors so a user who mistyped a placeholder sees the valid ones.
const KNOWN: &str = "{date} {year} {month} {day} {project} {source} {media} {group} {name} \
                     {stem}
 {ext} {hash8} {camera} {seq} {seq:05}";

/// What `{date}` and `{year}` say for a file filed without a date.
pub const UNDATED: &str = "undated";

/// Widest `{seq:N}`: u64 has at most 20 digits.
const MAX_SEQ_WIDTH: usize = 20;

/// A parsed destination template.
///
/// A template is a relative path of `/`-separated components made of literal text and
/// placeholders:
///
/// | placeholder | value |
/// |---|---|
/// | `{date}` | capture date `YYYY-MM-DD` (`undated` for a file filed without a date) |
/// | `{year}` `{month}` `{day}` | `2024`, `03`, `15` |
/// | `{project}` | project name, sanitized |
/// | `{source}` | source label (AI tool, `camera` or `other`), sanitized |
/// | `{media}` | kind of media: `photo`, `video`, `raw` (camera RAW) or `other` |
/// | `{group}` | the files it travels with: `raw+jpeg`, `live-photo`, `motion-photo` (one file with an embedded video) or `single` |
/// | `{name}` | original file name, sanitized with [`crate::sanitize_name`] |
/// | `{stem}` | `{name}` without its extension |
/// | `{ext}` | extension of `{name}` with its dot, original case (`.JPG`); empty when none |
/// | `{hash8}` | first 8 hex digits of the asset id |
/// | `{camera}` | camera label, sanitized; `unknown-camera` when none |
/// | `{seq}` `{seq:05}` | the sequence number, zero-padded to the given width (`{seq:5}` is the same) |
///
/// Braces are always placeholder syntax. The template must be relative, without `.`/`..` or
/// empty components, and its last component (the file name) must contain `{name}`,
/// `{stem}`, `{seq}` or `{hash8}`, otherwise every file would compete for one name.
///
/// Rendering cannot escape the destination root: every value is sanitized, every rendered
/// component is non-empty, not `.`/`..`, at most 255 bytes, and never named like a temporary
/// file of this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    components: Vec<Vec<Piece>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Var(Var),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Date,
    Year,
    Month,
    Day,
    Project,
    Source,
    Media,
    Group,
    Name,
    Stem,
    Ext,
    Hash8,
    Camera,
    Seq { width: usize },
}

/// The values a template is rendered with, for one file.
#[derive(Debug, Clone, Copy)]
pub struct PlanVars<'a> {
    /// Capture date (wall-clock date at the place of capture); `None` files the file as
    /// undated: `{date}` and `{year}` render `undated`, `{month}` and `{day}` render `00`.
    pub date: Option<NaiveDate>,
    /// Project name, unsanitized (the template sanitizes).
    pub project: &'a str,
    /// Source label: the AI label, else `camera`, else `other` (see `events::source_label`).
    pub source: &'a str,
    /// Kind of media: `photo`, `video`, `raw` or `other` (sanitized like the source).
    pub media: &'a str,
    /// Kind of group the file leads: `raw+jpeg`, `live-photo`, `motion-photo` or `single`
    /// (sanitized like the source).
    pub group: &'a str,
    /// The original file name (the last component of the inbox path).
    pub name: &'a OsStr,
    /// The asset id (BLAKE3 hex); only `{hash8}` reads it.
    pub asset_id: &'a str,
    /// Camera label (see [`crate::camera_label`]), when known.
    pub camera: Option<&'a str>,
    /// Sequence number; required when [`Template::uses_seq`].
    pub seq: Option<u64>,
}

/// A template that cannot be parsed, or values it cannot be rendered with.
///
/// Positions are 1-based character columns in the template text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template is empty.
    #[error("template is empty — use e.g. \"{DEFAULT_TEMPLATE}\"")]
    Empty,
    /// The template starts with `/`.
    #[error("template must be relative to the organized folder: remove the leading '/'")]
    Absolute,
    /// An unknown placeholder name.
    #[error("unknown placeholder {{{name}}} at column {column} — known placeholders: {KNOWN}")]
    UnknownPlaceholder {
        /// The name between the braces.
        name: String,
        /// Column of the `{`.
        column: usize,
    },
    /// A placeholder with a format it does not take, or a bad `{seq:N}` width.
    #[error(
        "bad format {spec:?} for placeholder {{{name}}} at column {column} — only {{seq}} takes \
         a width, as {{seq:05}} (1 to {MAX_SEQ_WIDTH} digits)"
    )]
    BadFormat {
        /// The placeholder name.
        name: String,
        /// The text after the `:`.
        spec: String,
        /// Column of the `{`.
        column: usize,
    },
    /// A `{` without its `}` (or with a `{` or `/` before it).
    #[error("'{{' at column {column} is not closed by '}}'")]
    Unclosed {
        /// Column of the `{`.
        column: usize,
    },
    /// A `}` without a `{`.
    #[error("'}}' at column {column} has no matching '{{'")]
    Unopened {
        /// Column of the `}`.
        column: usize,
    },
    /// Two `/` in a row, or a trailing `/`.
    #[error("empty folder name at column {column} (double or trailing '/')")]
    EmptyComponent {
        /// Column where the empty component starts.
        column: usize,
    },
    /// A `.` or `..` component.
    #[error(
        "'{component}' at column {column} is not allowed: templates cannot point outside the organized folder"
    )]
    DotComponent {
        /// `.` or `..`.
        component: String,
        /// Column where the component starts.
        column: usize,
    },
    /// A control character in the template text.
    #[error("control character at column {column} in template")]
    ControlCharacter {
        /// Its column.
        column: usize,
    },
    /// The file-name component has no per-file placeholder.
    #[error(
        "the file name part of the template (after the last '/') must contain {{name}}, {{stem}}, \
         {{seq}} or {{hash8}}, otherwise all files compete for one name"
    )]
    NoFileName,
    /// The template uses `{seq}` but no sequence number was given.
    #[error("template uses {{seq}} but no sequence number was given")]
    MissingSeq,
    /// `{hash8}` needs an asset id of at least 8 hex digits.
    #[error("asset id {asset_id:?} is not hex — {{hash8}} needs a BLAKE3 hex id")]
    BadAssetId {
        /// The id as given.
        asset_id: String,
    },
}

impl Template {
    /// Parses and validates a template. See [`Template`] for the syntax.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        if text.is_empty() {
            return Err(TemplateError::Empty);
        }
        if text.starts_with('/') {
            return Err(TemplateError::Absolute);
        }
        let mut components: Vec<Vec<Piece>> = Vec::new();
        let mut pieces: Vec<Piece> = Vec::new();
        let mut literal = String::new();
        let mut component_start = 1;
        let mut chars = text.chars().enumerate().map(|(i, c)| (i + 1, c)).peekable();
        while let Some((column, c)) = chars.next() {
            match c {
                '/' => {
                    flush_literal(&mut literal, &mut pieces);
                    components.push(finish_component(
                        std::mem::take(&mut pieces),
                        component_start,
                    )?);
                    component_start = column + 1;
                }
                '{' => {
                    let mut inner = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '}')) => break,
                            Some((_, '{' | '/')) | None => {
                                return Err(TemplateError::Unclosed { column });
                            }
                            Some((_, ch)) => inner.push(ch),
                        }
                    }
                    flush_literal(&mut literal, &mut pieces);
                    pieces.push(Piece::Var(parse_placeholder(&inner, column)?));
                }
                '}' => return Err(TemplateError::Unopened { column }),
                c if c.is_control() => return Err(TemplateError::ControlCharacter { column }),
                c => literal.push(c),
            }
        }
        flush_literal(&mut literal, &mut pieces);
        components.push(finish_component(pieces, component_start)?);
        let per_file = components.last().is_some_and(|last| {
            last.iter().any(|p| {
                matches!(
                    p,
                    Piece::Var(Var::Name | Var::Stem | Var::Seq { .. } | Var::Hash8)
                )
            })
        });
        if !per_file {
            return Err(TemplateError::NoFileName);
        }
        Ok(Template {
            text: text.to_owned(),
            components,
        })
    }

    /// The template text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the template contains `{seq}`: the caller must then supply
    /// [`PlanVars::seq`] (for example one more than the number of files already filed under
    /// the same project, which is the catalog's business).
    pub fn uses_seq(&self) -> bool {
        self.vars().any(|v| matches!(v, Var::Seq { .. }))
    }

    fn vars(&self) -> impl Iterator<Item = Var> + '_ {
        self.components.iter().flatten().filter_map(|p| match p {
            Piece::Var(v) => Some(*v),
            Piece::Literal(_) => None,
        })
    }

    /// Renders the relative destination path of one file. The result is always relative,
    /// has no `.`/`..`/empty components, and each component fits in 255 bytes (the file name
    /// is shortened in its stem, keeping the extension).
    pub fn render(&self, vars: &PlanVars<'_>) -> Result<PathBuf, TemplateError> {
        let name = sanitize_name(vars.name);
        let (stem, ext) = split_ext(name.as_bytes());
        let project = sanitize_component(vars.project);
        let source = sanitize_component(vars.source);
        let media = sanitize_component(vars.media);
        let group = sanitize_component(vars.group);
        let camera = vars
            .camera
            .map(sanitize_component)
            .filter(|c| c != "_")
            .unwrap_or_else(|| "unknown-camera".to_owned());
        let hash8 = if self.vars().any(|v| v == Var::Hash8) {
            let id = vars.asset_id;
            if id.len() < 8 || !id.bytes().take(8).all(|b| b.is_ascii_hexdigit()) {
                return Err(TemplateError::BadAssetId {
                    asset_id: id.to_owned(),
                });
            }
            id[..8].to_ascii_lowercase()
        } else {
            String::new()
        };
        if self.uses_seq() && vars.seq.is_none() {
            return Err(TemplateError::MissingSeq);
        }

        let mut path = PathBuf::new();
        let last = self.components.len() - 1;
        for (i, pieces) in self.components.iter().enumerate() {
            let mut out: Vec<u8> = Vec::new();
            for piece in pieces {
                match piece {
                    Piece::Literal(s) => out.extend_from_slice(s.as_bytes()),
                    Piece::Var(v) => match v {
                        Var::Date | Var::Year | Var::Month | Var::Day => {
                            out.extend_from_slice(date_part(*v, vars.date).as_bytes())
                        }
                        Var::Project => out.extend_from_slice(project.as_bytes()),
                        Var::Source => out.extend_from_slice(source.as_bytes()),
                        Var::Media => out.extend_from_slice(media.as_bytes()),
                        Var::Group => out.extend_from_slice(group.as_bytes()),
                        Var::Name => out.extend_from_slice(name.as_bytes()),
                        Var::Stem => out.extend_from_slice(stem),
                        Var::Ext => out.extend_from_slice(ext),
                        Var::Hash8 => out.extend_from_slice(hash8.as_bytes()),
                        Var::Camera => out.extend_from_slice(camera.as_bytes()),
                        Var::Seq { width } => {
                            let seq = vars.seq.unwrap_or_default();
                            out.extend_from_slice(format!("{seq:0width$}").as_bytes());
                        }
                    },
                }
            }
            // Values can be empty ({ext} alone) or dots ("{ext}" of "x..."); a component must
            // be a real name, so such a component becomes underscores.
            if out.iter().all(|&b| b == b'.') {
                out = vec![b'_'; out.len().max(1)];
            }
            guard_temp_prefix(&mut out);
            let out = if i == last {
                truncate_name(&out, MAX_NAME_BYTES)
            } else {
                truncate_bytes(&out, MAX_NAME_BYTES).to_vec()
            };
            path.push(OsString::from_vec(out));
        }
        Ok(path)
    }
}

fn flush_literal(literal: &mut String, pieces: &mut Vec<Piece>) {
    if !literal.is_empty() {
        pieces.push(Piece::Literal(std::mem::take(literal)));
    }
}

fn finish_component(pieces: Vec<Piece>, column: usize) -> Result<Vec<Piece>, TemplateError> {
    match pieces.as_slice() {
        [] => Err(TemplateError::EmptyComponent { column }),
        [Piece::Literal(s)] if s == "." || s == ".." => Err(TemplateError::DotComponent {
            component: s.clone(),
            column,
        }),
        _ => Ok(pieces),
    }
}

/// The text of a date placeholder; an undated file gets [`UNDATED`] (and `00` for the month
/// and day).
fn date_part(v: Var, date: Option<NaiveDate>) -> String {
    match (v, date) {
        (Var::Date, Some(d)) => d.format("%Y-%m-%d").to_string(),
        (Var::Year, Some(d)) => format!("{:04}", d.year()),
        (Var::Month, Some(d)) => format!("{:02}", d.month()),
        (Var::Day, Some(d)) => format!("{:02}", d.day()),
        (Var::Date | Var::Year, None) => UNDATED.to_owned(),
        _ => "00".to_owned(),
    }
}

fn parse_placeholder(inner: &str, column: usize) -> Result<Var, TemplateError> {
    let (name, spec) = match inner.split_once(':') {
        Some((n, s)) => (n, Some(s)),
        None => (inner, None),
    };
    let var = match name {
        "date" => Var::Date,
        "year" => Var::Year,
        "month" => Var::Month,
        "day" => Var::Day,
        "project" => Var::Project,
        "source" => Var::Source,
        "media" => Var::Media,
        "group" => Var::Group,
        "name" => Var::Name,
        "stem" => Var::Stem,
        "ext" => Var::Ext,
        "hash8" => Var::Hash8,
        "camera" => Var::Camera,
        "seq" => Var::Seq { width: 1 },
        _ => {
            return Err(TemplateError::UnknownPlaceholder {
                name: name.to_owned(),
                column,
            });
        }
    };
    let Some(spec) = spec else { return Ok(var) };
    let bad = || TemplateError::BadFormat {
        name: name.to_owned(),
        spec: spec.to_owned(),
        column,
    };
    if var != (Var::Seq { width: 1 })
        || spec.is_empty()
        || !spec.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    match spec.parse::<usize>() {
        Ok(width) if (1..=MAX_SEQ_WIDTH).contains(&width) => Ok(Var::Seq { width }),
        _ => Err(bad()),
    }
}

impl Default for Template {
    /// [`DEFAULT_TEMPLATE`].
    fn default() -> Self {
        Template {
            text: DEFAULT_TEMPLATE.to_owned(),
            components: vec![
                vec![Piece::Var(Var::Date)],
                vec![Piece::Var(Var::Project)],
                vec![Piece::Var(Var::Source)],
                vec![Piece::Var(Var::Name)],
            ],
        }
    }
}

impl FromStr for Template {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Template::parse(s)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const ID: &str = "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

    fn vars<'a>(name: &'a OsStr) -> PlanVars<'a> {
        PlanVars {
            date: NaiveDate::from_ymd_opt(2024, 3, 5),
            project: "cyberpunk",
            source: "midjourney",
            media: "photo",
            group: "single",
            name,
            asset_id: ID,
            camera: None,
            seq: Some(42),
        }
    }

    fn render(t: &str, v: &PlanVars<'_>) -> PathBuf {
        Template::parse(t).unwrap().render(v).unwrap()
    }

    #[test]
    fn an_undated_file_is_filed_under_undated() {
        let mut v = vars(OsStr::new("a.png"));
        v.date = None;
        assert_eq!(render("{date}/{name}", &v), Path::new("undated/a.png"));
        assert_eq!(
            render("{year}/{month}/{day}/{name}", &v),
            Path::new("undated/00/00/a.png")
        );
    }

    #[test]
    fn media_kind_placeholder() {
        let mut v = vars(OsStr::new("IMG_1.CR2"));
        v.media = "raw";
        assert_eq!(
            render("{media}/{date}/{name}", &v),
            Path::new("raw/2024-03-05/IMG_1.CR2")
        );
        v.group = "raw+jpeg";
        assert_eq!(
            render("{group}/{name}", &v),
            Path::new("raw+jpeg/IMG_1.CR2")
        );
    }

    #[test]
    fn default_and_classic_layouts() {
        let v = vars(OsStr::new("image.PNG"));
        assert_eq!(
            render(DEFAULT_TEMPLATE, &v),
            Path::new("2024-03-05/cyberpunk/midjourney/image.PNG")
        );
        assert_eq!(
            render(CLASSIC_TEMPLATE, &v),
            Path::new("2024-03-05/cyberpunk/midjourney/cyberpunk-00042.PNG")
        );
        assert_eq!(
            Template::default(),
            Template::parse(DEFAULT_TEMPLATE).unwrap()
        );
        assert_eq!(Template::default().to_string(), DEFAULT_TEMPLATE);
        assert!(Template::parse(CLASSIC_TEMPLATE).unwrap().uses_seq());
        assert!(!Template::default().uses_seq());
    }

    #[test]
    fn every_placeholder() {
        let mut v = vars(OsStr::new("shot.tar.JPG"));
        v.camera = Some("Canon EOS R5");
        v.seq = Some(7);
        let t = "{year}/{month}/{day}/{date}/{project}/{source}/{camera}/\
                 {name}|{stem}|{ext}|{hash8}|{seq}|{seq:05}|{seq:3}";
        assert_eq!(
            render(t, &v),
            Path::new(
                "2024/03/05/2024-03-05/cyberpunk/midjourney/Canon EOS R5/\
                 shot.tar.JPG|shot.tar|.JPG|abcdef01|7|00007|007"
            )
        );
        v.camera = None;
        assert_eq!(
            render("{camera}/{name}", &v),
            Path::new("unknown-camera/shot.tar.JPG")
        );
        v.camera = Some("\n");
        assert_eq!(
            render("{camera}/{name}", &v),
            Path::new("unknown-camera/shot.tar.JPG")
        );
        let v = vars(OsStr::new("README"));
        assert_eq!(render("{stem}{ext}", &v), Path::new("README"));
        // A lone {ext} of an extension-less name cannot become an empty folder.
        assert_eq!(render("{ext}/{name}", &v), Path::new("_/README"));
    }

    #[test]
    fn hostile_values_stay_inside() {
        let mut v = vars(OsStr::new("../../etc/passwd"));
        v.project = "../..";
        v.source = "/abs/olute";
        v.camera = Some("a/../b");
        let p = render("{project}/{source}/{camera}/{name}", &v);
        assert!(p.is_relative());
        for c in p.components() {
            assert!(matches!(c, std::path::Component::Normal(_)), "{p:?}");
        }
        assert_eq!(p, Path::new("_../_abs_olute/a_.._b/.._.._etc_passwd"));
        let v = vars(OsStr::new(".alice-tmp-0123456789abcdef-1"));
        let p = render("{name}", &v);
        assert!(!crate::is_temporary_name(p.as_os_str()));
    }

    #[test]
    fn long_rendered_names_are_bounded() {
        let long = format!("{}.webp", "n".repeat(300));
        let mut v = vars(OsStr::new(&long));
        let long_project = "p".repeat(300);
        v.project = &long_project;
        let p = render("{project}-{project}-{project}/{project}-{name}", &v);
        let comps: Vec<_> = p.components().collect();
        assert!(comps[0].as_os_str().len() <= 255);
        let file = comps[1].as_os_str();
        assert_eq!(file.len(), 255);
        assert!(file.as_bytes().ends_with(b"nnn.webp"));
    }

    #[test]
    fn non_utf8_name_renders_byte_exact() {
        let raw = OsStr::from_bytes(b"\xffraw\xfe.JPG");
        let v = vars(raw);
        let p = render("{date}/{name}", &v);
        assert_eq!(p.file_name().unwrap().as_bytes(), raw.as_bytes());
        let p = render("{date}/{stem}-x{ext}", &v);
        assert_eq!(p.file_name().unwrap().as_bytes(), b"\xffraw\xfe-x.JPG");
    }

    #[test]
    fn parse_errors_name_the_problem() {
        use TemplateError::*;
        let cases: Vec<(&str, TemplateError)> = vec![
            ("", Empty),
            ("/{date}/{name}", Absolute),
            (
                "{date}/{nmae}",
                UnknownPlaceholder {
                    name: "nmae".into(),
                    column: 8,
                },
            ),
            (
                "{}/{name}",
                UnknownPlaceholder {
                    name: "".into(),
                    column: 1,
                },
            ),
            ("{date/{name}", Unclosed { column: 1 }),
            ("{date}/{name", Unclosed { column: 8 }),
            ("{date}/{na{me}", Unclosed { column: 8 }),
            ("{date}}/{name}", Unopened { column: 7 }),
            ("{date}//{name}", EmptyComponent { column: 8 }),
            ("{date}/{name}/", EmptyComponent { column: 15 }),
            (
                "{date}/../{name}",
                DotComponent {
                    component: "..".into(),
                    column: 8,
                },
            ),
            (
                "./{name}",
                DotComponent {
                    component: ".".into(),
                    column: 1,
                },
            ),
            ("{date}/\t{name}", ControlCharacter { column: 8 }),
            ("{date}/{project}", NoFileName),
            ("{name}/photo.png", NoFileName),
            (
                "{date:05}/{name}",
                BadFormat {
                    name: "date".into(),
                    spec: "05".into(),
                    column: 1,
                },
            ),
            (
                "{seq:}",
                BadFormat {
                    name: "seq".into(),
                    spec: "".into(),
                    column: 1,
                },
            ),
            (
                "{seq:x5}",
                BadFormat {
                    name: "seq".into(),
                    spec: "x5".into(),
                    column: 1,
                },
            ),
            (
                "{seq:21}",
                BadFormat {
                    name: "seq".into(),
                    spec: "21".into(),
                    column: 1,
                },
            ),
            (
                "{seq:0}",
                BadFormat {
                    name: "seq".into(),
                    spec: "0".into(),
                    column: 1,
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Template::parse(text), Err(want), "template {text:?}");
        }
        // "..x" and "x.." are ordinary names, not parent references.
        assert!(Template::parse("..x/{name}..").is_ok());
        let msg = Template::parse("{date}/{nmae}").unwrap_err().to_string();
        assert!(msg.contains("{nmae}") && msg.contains("column 8") && msg.contains("{seq:05}"));
    }

    #[test]
    fn render_errors() {
        let mut v = vars(OsStr::new("a.png"));
        v.seq = None;
        let t = Template::parse(CLASSIC_TEMPLATE).unwrap();
        assert_eq!(t.render(&v), Err(TemplateError::MissingSeq));
        let mut v = vars(OsStr::new("a.png"));
        v.asset_id = "xyz";
        let t = Template::parse("{hash8}{ext}").unwrap();
        assert!(matches!(
            t.render(&v),
            Err(TemplateError::BadAssetId { .. })
        ));
        // Without {hash8} the id is not needed.
        assert!(Template::default().render(&v).is_ok());
    }
}
