//! The isobmff parser: the input follows that format's magic bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    file.extend_from_slice(data);
    let _ = metadata::extract(
        &mut std::io::Cursor::new(file),
        std::ffi::OsStr::new("fuzz.heic"),
        None,
    );
});
