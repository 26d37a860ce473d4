//! The JPEG XL readers: the first input byte picks the bare codestream or the container signature.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut file = if pick & 1 == 0 {
        b"\xff\x0a".to_vec()
    } else {
        b"\0\0\0\x0cJXL \r\n\x87\n".to_vec()
    };
    file.extend_from_slice(rest);
    let _ = metadata::extract(
        &mut std::io::Cursor::new(file),
        std::ffi::OsStr::new("fuzz.jxl"),
        None,
    );
});
