//! The log settings every front end applies to its own subscriber (the engine only
//! emits `tracing` events and never installs one).

/// The environment variable that sets what is logged, in `tracing-subscriber`'s
/// filter syntax (`QUIRE_LOG=debug`, `QUIRE_LOG=quire_engine::ingest=trace`).
pub const FILTER_ENV: &str = "QUIRE_LOG";

/// What is logged when `QUIRE_LOG` is not set: warnings, except those the model
/// runtimes print on every load (mistralrs about device mapping and paged attention,
/// llama.cpp about quirks of model files), which are not news to users.
pub const DEFAULT_FILTER: &str =
    "warn,mistralrs_core=error,mistralrs=error,llama-cpp-2=error,llama_cpp_2=error";
