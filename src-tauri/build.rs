include!("../build-support/llama_libraries.rs");

/// Every command the windows can call. Listing them makes Tauri generate an
/// `allow-…` permission for each, so a window may call only the commands its
/// capability file (capabilities/*.json) grants it.
const COMMANDS: &[&str] = &[
    "library_status",
    "add_folder",
    "remove_folder",
    "pause_indexing",
    "resume_indexing",
    "ask",
    "stop_generation",
    "list_chats",
    "get_chat",
    "delete_chat",
    "export_chat",
    "open_source",
    "read_passage",
    "read_page_image",
    "search_library",
    "summarize",
    "pick_files",
    "take_dropped_files",
    "get_settings",
    "set_shortcut",
    "set_theme",
    "pick_model",
    "save_engine_settings",
    "change_embedder",
    "open_in_main",
    "hide_quick",
];

fn main() {
    link_llama_libraries();
    let attributes =
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attributes).expect("tauri-build failed");
}
