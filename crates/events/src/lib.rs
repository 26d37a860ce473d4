//! AliceMultiverse events: the envelope and every payload type.
pub mod media;
