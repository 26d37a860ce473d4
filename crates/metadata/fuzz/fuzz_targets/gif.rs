//! The gif parser: the input follows that format's magic bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = b"GIF89a".to_vec();
    file.extend_from_slice(data);
    let _ = metadata::extract(
        &mut std::io::Cursor::new(file),
        std::ffi::OsStr::new("fuzz.gif"),
        None,
    );
});
