//! The MPEG stream readers: the first input byte picks a program stream (pack header prefix) or a 188/192-byte transport stream (sync bytes stamped at each packet start).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut file = rest.to_vec();
    match pick % 3 {
        0 => file.splice(0..0, [0, 0, 1, 0xBA]).for_each(drop),
        p => {
            let (size, at) = if p == 1 { (188, 0) } else { (192, 4) };
            file.resize(file.len().max(2 * size), 0);
            for i in (at..file.len()).step_by(size) {
                file[i] = 0x47;
            }
        }
    }
    let _ = metadata::extract(
        &mut std::io::Cursor::new(file),
        std::ffi::OsStr::new("fuzz.mpg"),
        None,
    );
});
