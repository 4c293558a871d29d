#![no_main]

use quire_engine::extract::Document;
use quire_engine::Config;

// Any text, form feeds starting new pages, chunked with the default sizes and with
// tiny ones (so that short inputs still split and overlap).
libfuzzer_sys::fuzz_target!(|text: &str| {
    let document = Document::from_pages(None, text.split('\x0c').map(str::to_string));
    quire_fuzz::chunk_everything(&document, &Config::default());
    let tiny = Config {
        chunk_min_tokens: 4,
        chunk_max_tokens: 12,
        chunk_overlap_tokens: 3,
        ..Config::default()
    };
    quire_fuzz::chunk_everything(&document, &tiny);
});
