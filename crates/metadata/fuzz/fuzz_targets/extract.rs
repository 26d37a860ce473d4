//! Raw bytes through sniffing and whichever parser the magic selects.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = metadata::extract(
        &mut std::io::Cursor::new(data),
        std::ffi::OsStr::new("fuzz.bin"),
        None,
    );
});
