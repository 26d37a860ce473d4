//! The AVI reader: the input follows a RIFF AVI header.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = b"RIFF\0\0\0\0AVI ".to_vec();
    file.extend_from_slice(data);
    let riff = u32::try_from(file.len() - 8).unwrap_or(u32::MAX);
    file[4..8].copy_from_slice(&riff.to_le_bytes());
    let _ = metadata::extract(
        &mut std::io::Cursor::new(file),
        std::ffi::OsStr::new("fuzz.avi"),
        None,
    );
});
