#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| quire_fuzz::draw_pdf_page(bytes));
