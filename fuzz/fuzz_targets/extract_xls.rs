#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| quire_fuzz::extract_and_chunk("input.xls", bytes));
