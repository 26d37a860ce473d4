//! Format sniffing, EXIF/XMP/PNG/ISO-BMFF metadata reading, AI-source detection and generation parameters
