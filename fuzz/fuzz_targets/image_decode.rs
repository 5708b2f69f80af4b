#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| samkit_fuzz::image_decode(data));
