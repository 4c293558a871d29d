// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    // Started by the engine to extract files: nothing else runs in this process.
    if let Some(code) = quire_engine::helper::serve_if_requested() {
        return code;
    }
    quire_desktop::run();
    std::process::ExitCode::SUCCESS
}
