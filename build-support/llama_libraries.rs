// Shared by the build scripts of `quire`, `quire-engine` (its unit tests) and `quire-desktop` (included with `include!`).

/// llama.cpp is linked as shared libraries (libllama, libggml, libggml-base) because its CPU
/// kernels are modules loaded at run time, one per instruction-set level. The binaries built
/// here find the libraries of this very build through an rpath to llama-cpp-sys-2's output
/// directory, as cmake does for its build tree (llama-cpp-sys-2 also hard-links copies into
/// the target directory, but never refreshes them, so those can be stale). A package replaces
/// this rpath with its own library directory: scripts/stage-llama-libraries.sh.
fn link_llama_libraries() {
    println!("cargo:rerun-if-env-changed=DEP_LLAMA_BACKENDS_DIR");
    let Ok(backends_dir) = std::env::var("DEP_LLAMA_BACKENDS_DIR") else {
        return; // built without the llama.cpp runtime
    };
    let Some(out_dir) = std::path::Path::new(&backends_dir).parent() else {
        return;
    };
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    for lib_dir in ["lib", "lib64"] {
        let lib_dir = out_dir.join(lib_dir);
        if lib_dir.is_dir() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
        }
    }
    if target_os == "linux" {
        // DT_RPATH, not DT_RUNPATH: it also applies to libllama's own dependency on libggml.
        println!("cargo:rustc-link-arg=-Wl,--disable-new-dtags");
    }
    remove_dangling_llama_links();
}

/// llama-cpp-sys-2 (0.1.161) hard-links `libllama.so` & co. into the target directory; on
/// Linux those are relative symlinks to versioned names that are not there, so they dangle,
/// and its next build in another output directory (other features, profile) panics with
/// "File exists" when it tries again (upstream: utilityai/llama-cpp-rs pull request 980).
/// Nothing uses those links (the rpath above names the real files), so they are removed
/// after each of its builds.
fn remove_dangling_llama_links() {
    let Ok(out_dir) = std::env::var("OUT_DIR") else {
        return;
    };
    // OUT_DIR is <target>/<profile>/build/<crate>-<hash>/out.
    let Some(profile_dir) = std::path::Path::new(&out_dir).ancestors().nth(3) else {
        return;
    };
    for dir in [
        profile_dir.to_path_buf(),
        profile_dir.join("deps"),
        profile_dir.join("examples"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ours = name.starts_with("libllama") || name.starts_with("libggml");
            let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
            if ours && is_link && std::fs::metadata(&path).is_err() {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}
