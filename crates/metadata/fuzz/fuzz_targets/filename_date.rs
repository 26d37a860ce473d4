//! File-name date patterns on arbitrary (lossily decoded) names.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = metadata::filename_date::date_from_file_name(&String::from_utf8_lossy(data));
});
