//! The TIFF-based RAW readers: the first input byte picks a CR2, ORF, RW2 or plain TIFF header (DNG, NEF, ARW and PEF are named from tags inside), the rest follows it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let headers: [&[u8]; 4] = [b"II*\0\x10\0\0\0CR\x02\0", b"IIRO", b"IIU\0", b"MM\0*"];
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut file = headers[usize::from(pick) % headers.len()].to_vec();
    file.extend_from_slice(rest);
    let _ = metadata::extract(
        &mut std::io::Cursor::new(file),
        std::ffi::OsStr::new("fuzz.raw"),
        None,
    );
});
