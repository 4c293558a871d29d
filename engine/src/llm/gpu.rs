//! GPUs for llama.cpp: its CUDA back end is one more run-time module (`libggml-cuda.so`),
//! like the CPU kernels, built apart (scripts/build-cuda-module.sh) and shipped as an
//! optional extra. At start Quire loads it when it is there, asks it for devices, and
//! otherwise runs on the CPU exactly as without it, saying in one line why
//! ([`ComputeDevices::cpu_only_because`]). Models then put on the GPU as many of their
//! layers as its free memory holds (`start_model`).
//!
//! Invariant: a module is loaded only when its stamp (`quire-gpu-module.txt`, written by the
//! build script) names the ggml version and the llama-cpp-sys-2 release of the libggml-base
//! this process runs, since a module from another ggml would call into it with another
//! layout and crash; and a GPU is used only when the module has code for its architecture.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The module's file name.
pub const CUDA_MODULE: &str = "libggml-cuda.so";
/// What the build script writes beside the module: the ggml it was built from.
pub const MODULE_STAMP: &str = "quire-gpu-module.txt";
/// A folder to look in before the usual places (the package's, then the build script's).
pub const MODULES_DIR_VAR: &str = "QUIRE_GPU_MODULES";
/// The llama-cpp-sys-2 release this Quire is built with (from Cargo.lock, by build.rs).
pub const LLAMA_CPP_SYS_VERSION: &str = env!("QUIRE_LLAMA_CPP_SYS_VERSION");

/// Whether models may go on a GPU: set from the configuration before llama.cpp starts
/// ([`set_gpu_enabled`]); when off, the CUDA module is not even loaded.
static GPU_ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns GPU use on or off for this process (`gpu` in config.toml). Read when llama.cpp
/// starts: set it before the first model loads.
pub fn set_gpu_enabled(enabled: bool) {
    GPU_ENABLED.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

/// The processors llama.cpp runs models on in this process.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct ComputeDevices {
    /// The instruction sets of the CPU kernels chosen for this processor ("AVX2 AVX512 …").
    pub cpu_features: String,
    /// The GPUs models are put on, best first; empty when they run on the CPU.
    pub gpus: Vec<GpuDevice>,
    /// Why models run on the CPU alone, when they do: a sentence for the user.
    pub cpu_only_because: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct GpuDevice {
    /// llama.cpp's name for it ("CUDA0").
    pub name: String,
    /// What the driver calls it ("NVIDIA H200").
    pub description: String,
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub memory_bytes: u64,
    /// Free when Quire started.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub free_bytes: u64,
}

impl ComputeDevices {
    /// One line: the GPU in use, or the CPU and why no GPU.
    pub fn summary(&self) -> String {
        match (self.gpus.first(), &self.cpu_only_because) {
            (Some(gpu), _) => format!(
                "GPU {} ({}, {} MiB free of {} MiB); CPU kernels {}",
                gpu.name,
                gpu.description,
                gpu.free_bytes >> 20,
                gpu.memory_bytes >> 20,
                self.cpu_features
            ),
            (None, Some(why)) => format!("CPU ({}); no GPU: {why}", self.cpu_features),
            (None, None) => format!("CPU ({})", self.cpu_features),
        }
    }
}

/// How much of a model goes on the GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffloadPlan {
    /// The GPU, as llama.cpp and the driver name it ("CUDA0 (NVIDIA H200)").
    pub device: String,
    /// Repeating layers on the GPU (of `total_layers`), besides the output layer.
    pub layers: u32,
    pub total_layers: u32,
}

impl OffloadPlan {
    /// llama.cpp's `n_gpu_layers`: it puts the output layer on the GPU first, then the last
    /// `n_gpu_layers - 1` repeating layers.
    pub fn n_gpu_layers(&self) -> u32 {
        self.layers + 1
    }
}

/// What a model needs on a GPU, from its GGUF header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFootprint {
    /// The weights (the size of its files, every part of a split model).
    pub bytes: u64,
    /// Repeating layers (`<architecture>.block_count`).
    pub layers: u32,
    /// The KV cache of one layer for one token of context, in bytes (F16 keys and values).
    pub cache_bytes_per_token_layer: u64,
    /// Tokens in the vocabulary: the logits of a prompt batch take this many floats per token.
    pub vocabulary: u64,
}

/// Prompt tokens llama.cpp computes at once (its default micro-batch): the logits and
/// activations of that many tokens sit on the GPU together.
const MICRO_BATCH_TOKENS: u64 = 512;

/// Kept free on the GPU for the CUDA context, cuBLAS and llama.cpp's compute buffers.
const GPU_RESERVE_BYTES: u64 = 768 << 20;

/// The layers of `model` (with a context of `context_tokens`) that fit in `free_bytes`:
/// all of them when they do, otherwise as many as fit beside the output layer. `None`
/// when not one does.
pub fn layers_that_fit(model: &ModelFootprint, context_tokens: usize, free_bytes: u64) -> Option<u32> {
    if model.layers == 0 {
        return None;
    }
    let per_layer_weights = model.bytes / (u64::from(model.layers) + 1);
    let per_layer_cache = model.cache_bytes_per_token_layer * context_tokens as u64;
    let per_layer = per_layer_weights + per_layer_cache;
    let logits = model.vocabulary * MICRO_BATCH_TOKENS * 4;
    let usable = free_bytes.saturating_sub(GPU_RESERVE_BYTES + logits);
    // The output layer (embeddings, head) is about one layer's weights, and goes first.
    let layers = usable.saturating_sub(per_layer_weights) / per_layer.max(1);
    match layers.min(u64::from(model.layers)) as u32 {
        0 => None,
        n => Some(n),
    }
}

/// The footprint of the GGUF model at `path`, from its header.
pub fn footprint(path: &Path) -> crate::error::Result<ModelFootprint> {
    let fail = |message: String| crate::error::Error::Generator {
        path: path.to_path_buf(),
        message,
    };
    let header = super::read_gguf(path, fail)?;
    let number = |name: &str| header.model_number(name);
    let layers = number("block_count").unwrap_or(0);
    let width = number("embedding_length").unwrap_or(0);
    let heads = number("attention.head_count").unwrap_or(1).max(1);
    let kv_heads = number("attention.head_count_kv").unwrap_or(heads);
    let head_width = number("attention.key_length").unwrap_or(width / heads);
    Ok(ModelFootprint {
        bytes: header.bytes,
        layers: u32::try_from(layers).unwrap_or(u32::MAX),
        // Keys and values, two bytes each.
        cache_bytes_per_token_layer: 2 * kv_heads * head_width * 2,
        vocabulary: header
            .content
            .metadata
            .get("tokenizer.ggml.tokens")
            .and_then(|tokens| tokens.to_vec().ok())
            .map_or(0, |tokens| tokens.len() as u64),
    })
}

/// The folders a CUDA module is looked for in, in order: [`MODULES_DIR_VAR`], the
/// package's (`<prefix>/lib/quire/gpu`, where the optional CUDA extra installs it; not the
/// CPU kernels' folder, from which llama.cpp would load it unchecked), and the build script's.
pub fn module_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(MODULES_DIR_VAR).filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(installed) = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("lib").join("quire")))
        .filter(|dir| dir.is_dir())
    {
        dirs.push(installed.join("gpu"));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")));
    if let Some(cache) = cache {
        dirs.push(cache.join("quire").join("gpu").join("cuda"));
    }
    dirs
}

/// What the build script recorded of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleStamp {
    /// The lowest GPU architecture it has code for (80: compute capability 8.0); GPUs
    /// below it cannot run it. None when the stamp does not say.
    pub lowest_architecture: Option<u32>,
}

/// The stamp of the module in `dir`, when a process running ggml `ggml_version` from
/// llama-cpp-sys-2 `sys_version` may load it; else why not.
pub fn read_stamp(dir: &Path, ggml_version: &str, sys_version: &str) -> Result<ModuleStamp, String> {
    let module = dir.join(CUDA_MODULE);
    let rebuild =
        "rebuild it with scripts/build-cuda-module.sh, or install the quire-cuda package of this Quire";
    let Ok(text) = std::fs::read_to_string(dir.join(MODULE_STAMP)) else {
        return Err(format!(
            "{} has no {MODULE_STAMP} beside it naming the ggml it was built from; {rebuild}",
            module.display()
        ));
    };
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
    };
    let built_for = (
        value("ggml_version").unwrap_or("an unknown version"),
        value("llama_cpp_sys_2").unwrap_or("an unknown release"),
    );
    if built_for != (ggml_version, sys_version) {
        return Err(format!(
            "{} was built for ggml {} (llama-cpp-sys-2 {}), and this Quire runs ggml \
             {ggml_version} (llama-cpp-sys-2 {sys_version}); {rebuild}",
            module.display(),
            built_for.0,
            built_for.1
        ));
    }
    // "80-real;86-real;89-real;90": CMake's names, the number first.
    let lowest_architecture = value("architectures").and_then(|list| {
        list.split(';')
            .filter_map(|arch| {
                let digits: String = arch.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<u32>().ok()
            })
            .min()
    });
    Ok(ModuleStamp { lowest_architecture })
}

#[cfg(feature = "llama-cpp")]
pub(crate) use runtime::{load_cuda_module, start_model};

/// The processors llama.cpp runs models on: the GPU its CUDA module found, or the CPU and
/// why no GPU (`gpu_allowed` false: the settings turn the GPU off). Starts llama.cpp if
/// nothing has yet, which loads no model. `None` in a build without llama.cpp.
pub fn devices(gpu_allowed: bool) -> Option<ComputeDevices> {
    #[cfg(feature = "llama-cpp")]
    {
        Some(match super::llama::backend() {
            Ok(_) => runtime::compute_devices(gpu_allowed),
            Err(e) => ComputeDevices {
                cpu_features: String::new(),
                gpus: Vec::new(),
                cpu_only_because: Some(e.to_string()),
            },
        })
    }
    #[cfg(not(feature = "llama-cpp"))]
    {
        let _ = gpu_allowed;
        None
    }
}

#[cfg(feature = "llama-cpp")]
mod runtime {
    use std::ffi::{CStr, CString};
    use std::path::Path;
    use std::sync::atomic::Ordering;
    use std::sync::OnceLock;

    use llama_cpp_2::model::params::LlamaModelParams;

    use super::{
        layers_that_fit, module_dirs, read_stamp, ComputeDevices, GpuDevice, OffloadPlan, CUDA_MODULE,
        GPU_ENABLED, LLAMA_CPP_SYS_VERSION,
    };
    use crate::error::Result;

    /// A GPU with its index among ggml's devices.
    type Indexed = (usize, GpuDevice);

    /// What loading the CUDA module found, set once when llama.cpp starts: the GPUs, or why
    /// there are none.
    static FOUND: OnceLock<(Vec<Indexed>, Option<String>)> = OnceLock::new();

    /// Loads llama.cpp's CUDA module if GPUs are wanted and one is there and usable; called
    /// once, after the CPU kernels are loaded. Never fails: what went wrong is the reason
    /// models run on the CPU.
    pub(crate) fn load_cuda_module() {
        FOUND.get_or_init(|| {
            let found = if GPU_ENABLED.load(Ordering::Relaxed) {
                find_and_load()
            } else {
                Err("GPU use is turned off in the settings (gpu = false)".into())
            };
            match found {
                Ok(gpus) => {
                    for (_, gpu) in &gpus {
                        tracing::info!(
                            device = %gpu.name,
                            description = %gpu.description,
                            free_mib = gpu.free_bytes >> 20,
                            "llama.cpp runs models on the GPU"
                        );
                    }
                    (gpus, None)
                }
                Err(why) => {
                    tracing::info!("llama.cpp runs models on the CPU: no GPU: {why}");
                    (Vec::new(), Some(why))
                }
            }
        });
    }

    /// The processors models run on; `gpu_allowed` false when the settings turn the GPU off.
    pub(crate) fn compute_devices(gpu_allowed: bool) -> ComputeDevices {
        let (gpus, why) = FOUND
            .get()
            .cloned()
            .unwrap_or_else(|| (Vec::new(), Some("llama.cpp has not started".to_string())));
        let gpus: Vec<GpuDevice> = gpus.into_iter().map(|(_, gpu)| gpu).collect();
        let cpu_features = super::super::llama::cpu_features();
        match gpus.first() {
            Some(gpu) if !gpu_allowed => ComputeDevices {
                cpu_features,
                cpu_only_because: Some(format!(
                    "the GPU ({}) is turned off in the settings (gpu = false)",
                    gpu.description
                )),
                gpus: Vec::new(),
            },
            _ => ComputeDevices {
                cpu_features,
                gpus,
                cpu_only_because: why,
            },
        }
    }

    /// Starts the model at `path` (`start` loads it with the parameters given) with what
    /// fits of it on the GPU with the most free memory now; when that fails (memory others
    /// took meanwhile, an estimate that fell short), again on the CPU alone. Without a GPU,
    /// with llama.cpp's defaults, as before GPUs; with `gpu_allowed` false, on no GPU at all.
    pub(crate) fn start_model<T>(
        path: &Path,
        context_tokens: usize,
        gpu_allowed: bool,
        start: impl Fn(LlamaModelParams, Option<OffloadPlan>) -> Result<T>,
    ) -> Result<T> {
        let gpus = FOUND.get().map(|(gpus, _)| gpus.as_slice()).unwrap_or_default();
        if gpus.is_empty() {
            return start(LlamaModelParams::default(), None);
        }
        let Some(plan) = gpu_allowed.then(|| plan(path, context_tokens, gpus)).flatten() else {
            return start(cpu_only(), None);
        };
        let (index, plan) = plan;
        let params = LlamaModelParams::default().with_n_gpu_layers(plan.n_gpu_layers());
        let params = match params.with_devices(&[index]) {
            Ok(params) => params,
            Err(e) => {
                tracing::warn!(
                    "llama.cpp refused {} ({e}); the model runs on the CPU",
                    plan.device
                );
                return start(cpu_only(), None);
            }
        };
        tracing::info!(
            "{}: {} of {} layers on {}",
            path.display(),
            plan.layers,
            plan.total_layers,
            plan.device
        );
        start(params, Some(plan.clone())).or_else(|e| {
            tracing::warn!(
                "{} could not start on {} ({e}); it runs on the CPU",
                path.display(),
                plan.device
            );
            start(cpu_only(), None)
        })
    }

    /// Parameters that keep a model off every GPU: no device at all, so not even single
    /// operations are sent to one.
    fn cpu_only() -> LlamaModelParams {
        LlamaModelParams::default()
            .with_n_gpu_layers(0)
            .with_devices(&[])
            .unwrap_or_else(|_| LlamaModelParams::default().with_n_gpu_layers(0))
    }

    /// The GPU with the most memory free now and how much of the model goes there, if any.
    fn plan(path: &Path, context_tokens: usize, gpus: &[Indexed]) -> Option<(usize, OffloadPlan)> {
        let (index, gpu, free) = gpus
            .iter()
            .map(|(index, gpu)| (*index, gpu, free_bytes(*index).unwrap_or(gpu.free_bytes)))
            .max_by_key(|(_, _, free)| *free)?;
        let footprint = match super::footprint(path) {
            Ok(footprint) => footprint,
            Err(e) => {
                tracing::warn!(
                    "cannot size {} for the GPU ({e}); it runs on the CPU",
                    path.display()
                );
                return None;
            }
        };
        let Some(layers) = layers_that_fit(&footprint, context_tokens, free) else {
            tracing::info!(
                "{} runs on the CPU: not one layer fits in {} MiB free on {}",
                path.display(),
                free >> 20,
                gpu.name
            );
            return None;
        };
        Some((
            index,
            OffloadPlan {
                device: format!("{} ({})", gpu.name, gpu.description),
                layers,
                total_layers: footprint.layers,
            },
        ))
    }

    fn free_bytes(index: usize) -> Option<u64> {
        // SAFETY: `index` is a device ggml listed when the module loaded; devices are never removed.
        let device = unsafe { llama_cpp_sys_2::ggml_backend_dev_get(index) };
        describe(device).map(|gpu| gpu.free_bytes)
    }

    fn find_and_load() -> std::result::Result<Vec<Indexed>, String> {
        // A module llama.cpp loaded by itself (GGML_BACKEND_PATH) is used as it is.
        let registry = match registered_cuda() {
            Some(registry) => registry,
            None => {
                let dirs = module_dirs();
                let Some(dir) = dirs.iter().find(|dir| dir.join(CUDA_MODULE).is_file()) else {
                    let looked = dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>();
                    return Err(format!(
                        "no CUDA module ({CUDA_MODULE}) in {}; install the quire-cuda package, or \
                         build one with scripts/build-cuda-module.sh",
                        looked.join(", ")
                    ));
                };
                load_module(dir)?
            }
        };
        // SAFETY: plain queries of ggml's device registry.
        let count = unsafe { llama_cpp_sys_2::ggml_backend_dev_count() };
        let gpus: Vec<Indexed> = (0..count)
            .filter_map(|i| {
                // SAFETY: `i` is below the device count.
                let device = unsafe { llama_cpp_sys_2::ggml_backend_dev_get(i) };
                let ours = unsafe { llama_cpp_sys_2::ggml_backend_dev_backend_reg(device) } == registry;
                ours.then(|| describe(device)).flatten().map(|gpu| (i, gpu))
            })
            .collect();
        if gpus.is_empty() {
            return Err("the CUDA module loaded, but CUDA lists no GPU".into());
        }
        Ok(gpus)
    }

    fn registered_cuda() -> Option<llama_cpp_sys_2::ggml_backend_reg_t> {
        // SAFETY: a lookup by a NUL-terminated name.
        let registry = unsafe { llama_cpp_sys_2::ggml_backend_reg_by_name(c"CUDA".as_ptr()) };
        (!registry.is_null()).then_some(registry)
    }

    /// Loads the module in `dir` after checking its stamp, the driver and that the GPUs
    /// can run its code, so that a machine without a usable GPU never maps CUDA's
    /// libraries (some 700 MB of them).
    fn load_module(dir: &Path) -> std::result::Result<llama_cpp_sys_2::ggml_backend_reg_t, String> {
        let module = dir.join(CUDA_MODULE);
        let stamp = read_stamp(dir, &ggml_version(), LLAMA_CPP_SYS_VERSION)?;
        driver::usable_gpus(stamp.lowest_architecture)?;
        let path = CString::new(module.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("{} has a NUL in its path", module.display()))?;
        // SAFETY: `path` is NUL-terminated; the module was built against this ggml (its stamp says so).
        let registry = unsafe { llama_cpp_sys_2::ggml_backend_load(path.as_ptr()) };
        if registry.is_null() {
            // ggml only logs why; the dynamic loader, asked again, gives its own words.
            let Some(problem) = driver::dlopen_problem(&module) else {
                return Err(format!(
                    "{} did not start (QUIRE_LOG=llama-cpp-2=info shows llama.cpp's reason)",
                    module.display()
                ));
            };
            // The loader starts its message with the path, which the sentence already gives.
            let shown = module.display().to_string();
            let problem = problem.strip_prefix(&format!("{shown}: ")).unwrap_or(&problem);
            return Err(format!("{shown} could not be loaded: {problem}"));
        }
        Ok(registry)
    }

    fn describe(device: llama_cpp_sys_2::ggml_backend_dev_t) -> Option<GpuDevice> {
        if device.is_null() {
            return None;
        }
        let text = |p: *const std::ffi::c_char| {
            // SAFETY: ggml returns NUL-terminated strings it owns, or null.
            (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        };
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: `device` is a live device of a registered back end.
        unsafe { llama_cpp_sys_2::ggml_backend_dev_memory(device, &mut free, &mut total) };
        Some(GpuDevice {
            name: text(unsafe { llama_cpp_sys_2::ggml_backend_dev_name(device) })?,
            description: text(unsafe { llama_cpp_sys_2::ggml_backend_dev_description(device) })
                .unwrap_or_default(),
            memory_bytes: total as u64,
            free_bytes: free as u64,
        })
    }

    fn ggml_version() -> String {
        // SAFETY: a static, NUL-terminated string.
        unsafe { CStr::from_ptr(llama_cpp_sys_2::ggml_version()) }
            .to_string_lossy()
            .into_owned()
    }

    /// NVIDIA's driver, asked directly (libcuda.so.1), and the dynamic loader.
    #[cfg(unix)]
    mod driver {
        use std::ffi::{c_int, c_uint, c_void, CStr, CString};
        use std::path::Path;

        type GetInt = unsafe extern "C" fn(*mut c_int) -> c_int;
        type Init = unsafe extern "C" fn(c_uint) -> c_int;
        type DeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
        type DeviceAttribute = unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int;
        /// CUdevice_attribute: compute capability, major and minor.
        const CAPABILITY_MAJOR: c_int = 75;
        const CAPABILITY_MINOR: c_int = 76;

        /// Ok when the driver is there, new enough for CUDA 13, and sees a GPU that the
        /// module's lowest architecture (80: 8.0) runs on; else why not. The driver stays
        /// loaded: it starts threads of its own, and the module needs it anyway.
        pub(super) fn usable_gpus(lowest_architecture: Option<u32>) -> Result<(), String> {
            // SAFETY: the driver library's documented entry points, called with their C signatures.
            unsafe {
                let driver = libc::dlopen(c"libcuda.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
                if driver.is_null() {
                    return Err("no NVIDIA driver is installed (libcuda.so.1 is missing)".into());
                }
                let symbol = |name: &CStr| libc::dlsym(driver, name.as_ptr());
                let function = |name: &CStr| -> Result<*mut c_void, String> {
                    let found = symbol(name);
                    if found.is_null() {
                        Err("libcuda.so.1 is not a working NVIDIA driver".to_string())
                    } else {
                        Ok(found)
                    }
                };
                let version: GetInt = std::mem::transmute(function(c"cuDriverGetVersion")?);
                let init: Init = std::mem::transmute(function(c"cuInit")?);
                let count: GetInt = std::mem::transmute(function(c"cuDeviceGetCount")?);
                let device_get: DeviceGet = std::mem::transmute(function(c"cuDeviceGet")?);
                let attribute: DeviceAttribute = std::mem::transmute(function(c"cuDeviceGetAttribute")?);
                let mut driver_version = 0;
                version(&mut driver_version);
                if driver_version > 0 && driver_version < 13000 {
                    return Err(format!(
                        "the NVIDIA driver supports CUDA {}.{}, and the CUDA module needs CUDA 13.0 \
                         (driver 580 or newer)",
                        driver_version / 1000,
                        driver_version % 1000 / 10
                    ));
                }
                let status = init(0);
                if status != 0 {
                    return Err(format!("the NVIDIA driver did not start (cuInit error {status})"));
                }
                let mut devices = 0;
                count(&mut devices);
                if devices == 0 {
                    return Err("the NVIDIA driver sees no GPU".into());
                }
                let Some(lowest) = lowest_architecture else {
                    return Ok(());
                };
                let mut too_old = Vec::new();
                for ordinal in 0..devices {
                    let (mut device, mut major, mut minor) = (0, 0, 0);
                    if device_get(&mut device, ordinal) != 0
                        || attribute(&mut major, CAPABILITY_MAJOR, device) != 0
                        || attribute(&mut minor, CAPABILITY_MINOR, device) != 0
                    {
                        continue;
                    }
                    let architecture = u32::try_from(major * 10 + minor).unwrap_or(0);
                    if architecture >= lowest {
                        return Ok(());
                    }
                    too_old.push(format!("{major}.{minor}"));
                }
                Err(format!(
                    "the GPU's compute capability ({}) is below what the CUDA module was built for \
                     ({}.{} and newer)",
                    too_old.join(", "),
                    lowest / 10,
                    lowest % 10
                ))
            }
        }

        /// The dynamic loader's complaint about `path`, if it cannot load it.
        pub(super) fn dlopen_problem(path: &Path) -> Option<String> {
            let c_path = CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
            // SAFETY: dlopen/dlerror/dlclose on a NUL-terminated path; the handle is closed at once.
            unsafe {
                let handle = libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
                if handle.is_null() {
                    let message = libc::dlerror();
                    return Some(if message.is_null() {
                        "unknown error".into()
                    } else {
                        CStr::from_ptr(message).to_string_lossy().into_owned()
                    });
                }
                libc::dlclose(handle);
            }
            None
        }
    }

    /// Elsewhere ggml's loader is asked directly, and says why in its log.
    #[cfg(not(unix))]
    mod driver {
        pub(super) fn usable_gpus(_lowest_architecture: Option<u32>) -> Result<(), String> {
            Ok(())
        }

        pub(super) fn dlopen_problem(_path: &std::path::Path) -> Option<String> {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1.5B model in Q4_K_M: 28 layers, 2 KV heads of 128.
    const QWEN_1_5B: ModelFootprint = ModelFootprint {
        bytes: 1_100 << 20,
        layers: 28,
        cache_bytes_per_token_layer: 2 * 2 * 128 * 2,
        vocabulary: 151_936,
    };

    #[test]
    fn a_model_that_fits_goes_whole_with_its_output_layer() {
        let layers = layers_that_fit(&QWEN_1_5B, 4096, 8 << 30);
        assert_eq!(layers, Some(28));
        let plan = OffloadPlan {
            device: "CUDA0".into(),
            layers: 28,
            total_layers: 28,
        };
        assert_eq!(
            plan.n_gpu_layers(),
            29,
            "the output layer and every repeating layer"
        );
    }

    #[test]
    fn a_small_gpu_takes_the_layers_it_holds_and_none_when_it_holds_none() {
        let free = 1_700 << 20;
        let layers = layers_that_fit(&QWEN_1_5B, 4096, free).unwrap();
        assert!((1..28).contains(&layers), "{layers}");
        // What is offloaded fits with the reserve and a micro-batch's logits kept free.
        let per_layer = QWEN_1_5B.bytes / 29 + QWEN_1_5B.cache_bytes_per_token_layer * 4096;
        let logits = QWEN_1_5B.vocabulary * MICRO_BATCH_TOKENS * 4;
        assert!(QWEN_1_5B.bytes / 29 + u64::from(layers) * per_layer <= free - GPU_RESERVE_BYTES - logits);
        assert_eq!(layers_that_fit(&QWEN_1_5B, 4096, 1_000 << 20), None);
    }

    #[test]
    fn a_module_built_for_another_ggml_is_refused_by_its_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read_stamp(dir.path(), "0.26.0", "0.1.161").unwrap_err();
        assert!(missing.contains("no quire-gpu-module.txt"), "{missing}");
        let stamp = |text: &str| std::fs::write(dir.path().join(MODULE_STAMP), text).unwrap();
        stamp("ggml_version=0.25.1\nllama_cpp_sys_2=0.1.161\ncuda=13.0.2\n");
        let other = read_stamp(dir.path(), "0.26.0", "0.1.161").unwrap_err();
        assert!(
            other.contains("built for ggml 0.25.1") && other.contains("runs ggml 0.26.0"),
            "{other}"
        );
        // The same ggml version from another llama.cpp release: its structures may differ.
        stamp("ggml_version=0.26.0\nllama_cpp_sys_2=0.1.160\n");
        let release = read_stamp(dir.path(), "0.26.0", "0.1.161").unwrap_err();
        assert!(release.contains("llama-cpp-sys-2 0.1.160"), "{release}");
        stamp("ggml_version=0.26.0\nllama_cpp_sys_2=0.1.161\narchitectures=86-real;80-real;89-real;90\n");
        let accepted = read_stamp(dir.path(), "0.26.0", "0.1.161").unwrap();
        assert_eq!(accepted.lowest_architecture, Some(80));
    }
}
