include!("../build-support/llama_libraries.rs");

fn main() {
    link_llama_libraries();
    record_llama_cpp_sys_version();
}

/// The llama-cpp-sys-2 release in the workspace's Cargo.lock, as `QUIRE_LLAMA_CPP_SYS_VERSION`:
/// a CUDA module is loaded only when its stamp names the same one (src/llm/gpu.rs).
fn record_llama_cpp_sys_version() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let lock = std::path::Path::new(&manifest_dir).join("..").join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let version = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|text| {
            let after = text.split("name = \"llama-cpp-sys-2\"\n").nth(1)?;
            let line = after.lines().next()?;
            Some(line.strip_prefix("version = \"")?.strip_suffix('"')?.to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=QUIRE_LLAMA_CPP_SYS_VERSION={version}");
}
