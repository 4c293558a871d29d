//! The UI's TypeScript types (ui/src/bindings) are what the Rust types generate:
//! a change on either side that is not carried to the other fails here.
//! `QUIRE_WRITE_BINDINGS=1 cargo test -p quire-desktop --test bindings` rewrites them.

use std::collections::BTreeMap;
use std::path::PathBuf;

fn bindings_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(quire_desktop::bindings::DIR)
}

/// The committed files, by name.
fn committed() -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(bindings_dir()) else {
        return BTreeMap::new();
    };
    entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "ts"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

#[test]
fn ui_bindings_match_the_rust_types() {
    let generated = quire_desktop::bindings::generate().unwrap();
    let committed = committed();
    if generated == committed {
        return;
    }
    if std::env::var_os("QUIRE_WRITE_BINDINGS").is_some_and(|v| v == "1") {
        let dir = bindings_dir();
        std::fs::create_dir_all(&dir).unwrap();
        for name in committed.keys().filter(|name| !generated.contains_key(*name)) {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        for (name, text) in &generated {
            if committed.get(name) != Some(text) {
                std::fs::write(dir.join(name), text).unwrap();
            }
        }
        return;
    }
    let mut problems = Vec::new();
    for (name, text) in &generated {
        match committed.get(name) {
            None => problems.push(format!("{name} is missing")),
            Some(old) if old != text => problems.push(format!("{name} differs; it should be:\n{text}")),
            Some(_) => {}
        }
    }
    for name in committed.keys().filter(|name| !generated.contains_key(*name)) {
        problems.push(format!("{name} is no longer generated"));
    }
    panic!(
        "{} is out of date with the Rust types; run \
         `QUIRE_WRITE_BINDINGS=1 cargo test -p quire-desktop --test bindings` and commit the result.\n{}",
        quire_desktop::bindings::DIR,
        problems.join("\n")
    );
}

/// Durations reach the windows as seconds, the way the bindings declare them.
#[test]
fn durations_are_seconds() {
    let stats = quire_engine::llm::GenerationStats {
        time_to_first_token: std::time::Duration::from_millis(1500),
        total: std::time::Duration::from_millis(4250),
        ..Default::default()
    };
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["time_to_first_token_secs"], 1.5);
    assert_eq!(json["total_secs"], 4.25);
}
