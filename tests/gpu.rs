//! GPUs: without a usable CUDA module Quire says in one line why it runs on the CPU,
//! and runs there exactly as it would without any GPU support.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// `quire` with the CUDA module looked for in `modules` first and, for the build script's
/// place, in a cache folder of the test's own (so a module built on this machine is not found).
fn quire_with_modules(data: &Path, modules: &Path, cache: &Path) -> Command {
    let mut command = quire(data);
    command
        .env("QUIRE_GPU_MODULES", modules)
        .env("XDG_CACHE_HOME", cache);
    command
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("quire runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A library of the household documents, indexed, in `tmp`; with an empty folder to look
/// for CUDA modules in and a cache folder: (data, modules, cache).
fn indexed_household(tmp: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let root = household(tmp);
    let (modules, cache) = (tmp.join("modules"), tmp.join("cache"));
    std::fs::create_dir_all(&modules).unwrap();
    let data = tmp.join("data");
    run(quire_with_modules(&data, &modules, &cache)
        .arg("index")
        .arg(&root));
    (data, modules, cache)
}

/// The line `quire status` gives on where models run.
fn compute_line(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find(|line| line.starts_with("Models run on:"))
        .unwrap_or_else(|| panic!("no compute line in: {text}"))
        .to_string()
}

#[test]
fn without_a_cuda_module_quire_names_where_it_looked_and_runs_on_the_cpu() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, modules, cache) = indexed_household(tmp.path());

    let line = compute_line(&run(quire_with_modules(&data, &modules, &cache).arg("status")));
    assert!(line.starts_with("Models run on: CPU ("), "{line}");
    assert!(
        line.contains("no GPU: no CUDA module (libggml-cuda.so) in ")
            && line.contains(&modules.display().to_string())
            && line.contains("scripts/build-cuda-module.sh"),
        "{line}"
    );
}

#[test]
fn a_mismatched_or_unusable_cuda_module_is_refused_with_its_reason_and_answers_come_from_the_cpu() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, modules, cache) = indexed_household(tmp.path());
    // A copy cut short: the first bytes of an ELF file and nothing after.
    std::fs::write(modules.join("libggml-cuda.so"), b"\x7fELF\x02\x01\x01\0").unwrap();

    // Built for another ggml: refused before it is opened.
    std::fs::write(modules.join("quire-gpu-module.txt"), "ggml_version=0.0.1\n").unwrap();
    let line = compute_line(&run(quire_with_modules(&data, &modules, &cache).arg("status")));
    assert!(
        line.contains("was built for ggml 0.0.1 (") && line.contains("and this Quire runs ggml "),
        "{line}"
    );
    let ours = line
        .split("this Quire runs ggml ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .expect("the line names the ggml Quire runs");

    // The right stamp and a damaged file: the driver is asked first (so that a machine with
    // no usable GPU never maps CUDA's libraries), then the loader, which names the damage.
    std::fs::write(
        modules.join("quire-gpu-module.txt"),
        format!(
            "ggml_version={ours}\nllama_cpp_sys_2={}\n",
            quire_engine::llm::gpu::LLAMA_CPP_SYS_VERSION
        ),
    )
    .unwrap();
    let line = compute_line(&run(quire_with_modules(&data, &modules, &cache).arg("status")));
    assert!(line.starts_with("Models run on: CPU ("), "{line}");
    if Path::new("/proc/driver/nvidia/version").exists() {
        assert!(
            line.contains("libggml-cuda.so could not be loaded: ") && line.contains("too short"),
            "{line}"
        );
    } else {
        assert!(
            line.contains("no GPU: no NVIDIA driver is installed (libcuda.so.1 is missing)"),
            "{line}"
        );
    }

    // And the answer comes, from the CPU.
    let asked = run(quire_with_modules(&data, &modules, &cache)
        .arg("--model")
        .arg(small_generator())
        .args(["ask", "When must the gas boiler be serviced, and by whom?"]));
    let text = String::from_utf8_lossy(&asked.stdout);
    assert!(
        text.contains("Sources:") && text.contains("maintenance.pdf"),
        "{text}"
    );
}

/// With a module from scripts/build-cuda-module.sh (its folder in QUIRE_TEST_CUDA_MODULES):
/// on a machine with an NVIDIA GPU and driver, Quire names the GPU; without a driver, it says
/// that the driver is what is missing.
#[test]
#[ignore = "needs a CUDA module: QUIRE_TEST_CUDA_MODULES=<folder from scripts/build-cuda-module.sh>"]
fn a_built_cuda_module_names_the_gpu_or_the_missing_driver() {
    let modules = std::env::var_os("QUIRE_TEST_CUDA_MODULES").expect("QUIRE_TEST_CUDA_MODULES is set");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let line = compute_line(&run(quire_with_modules(
        &data,
        Path::new(&modules),
        &tmp.path().join("cache"),
    )
    .arg("status")));
    let gpu = Path::new("/proc/driver/nvidia/version").exists();
    if gpu {
        assert!(line.starts_with("Models run on: GPU CUDA0 ("), "{line}");
    } else {
        assert!(
            line.contains("no GPU: no NVIDIA driver is installed (libcuda.so.1 is missing)"),
            "{line}"
        );
    }
}
