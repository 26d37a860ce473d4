//! The Canon CR3 path (ISO-BMFF walker plus CMT blocks): the input follows a crx ftyp box.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = b"\0\0\0\x18ftypcrx \0\0\0\x01crx isom".to_vec();
    file.extend_from_slice(data);
    let _ = metadata::extract(
        &mut std::io::Cursor::new(file),
        std::ffi::OsStr::new("fuzz.cr3"),
        None,
    );
});
