//! The Fujifilm RAF reader: the input follows the RAF magic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = b"FUJIFILMCCD-RAW ".to_vec();
    file.extend_from_slice(data);
    let _ = metadata::extract(
        &mut std::io::Cursor::new(file),
        std::ffi::OsStr::new("fuzz.raf"),
        None,
    );
});
