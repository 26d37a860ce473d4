//! Raw metadata strings gathered from a file's containers, handed to AI detection.
//!
//! The container readers (PNG chunks, EXIF, XMP, C2PA, ISO-BMFF, Matroska) fill this struct;
//! [`crate::ai::detect`] decides the tool and parses generation parameters from it. Keeping
//! the two apart means detection rules never touch bytes and parsers never guess tools.

/// Text found in a file's metadata, as close to the source as possible.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// PNG text chunks (`tEXt`, `zTXt`, `iTXt`) as (keyword, text), in file order.
    /// Invalid UTF-8 is decoded lossily (tEXt is Latin-1 by spec; decoded as Latin-1).
    pub png_text: Vec<(String, String)>,
    /// EXIF `UserComment` (0x9286), decoded (ASCII/UNICODE/undefined prefixes handled).
    pub exif_user_comment: Option<String>,
    /// EXIF `ImageDescription` (0x010E).
    pub exif_image_description: Option<String>,
    /// EXIF `Software` (0x0131).
    pub exif_software: Option<String>,
    /// EXIF `Artist` (0x013B).
    pub exif_artist: Option<String>,
    /// EXIF `Make` (0x010F).
    pub exif_make: Option<String>,
    /// EXIF `Model` (0x0110).
    pub exif_model: Option<String>,
    /// EXIF `Copyright` (0x8298).
    pub exif_copyright: Option<String>,
    /// Raw XMP packets (UTF-8 text of `<x:xmpmeta …>`), from PNG iTXt `XML:com.adobe.xmp`,
    /// JPEG APP1 XMP, WebP `XMP ` chunk, TIFF tag 700, ISO-BMFF `uuid`/`XMP_` boxes.
    pub xmp: Vec<String>,
    /// C2PA claim generators (e.g. `Adobe_Firefly`, `ChatGPT`, `OpenAI`…) and other readable
    /// strings from C2PA/JUMBF manifests (PNG `caBX`, JPEG APP11, ISO-BMFF `uuid` C2PA box),
    /// as found. Detection matches on them case-insensitively.
    pub c2pa: Vec<String>,
    /// Other container-level text tags that may carry tool names: QuickTime/MP4 `©too`,
    /// `©swr`, `©cmt`, `©des`, Matroska `WritingApp`/`MuxingApp`/`TITLE`/`COMMENT`, WebP/GIF
    /// comments, JPEG COM segments. (key, value) pairs, key naming the container field.
    pub other_text: Vec<(String, String)>,
}
