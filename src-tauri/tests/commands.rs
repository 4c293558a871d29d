//! The command layer on Tauri's mock runtime, over a real engine and the real
//! embedding model: what the window may and may not make Quire do.

#[path = "../../tests/common/mod.rs"]
mod common;

use quire_desktop::state::Desktop;
use quire_engine::progress::NoProgress;
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{mock_builder, mock_context, noop_assets, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindowBuilder;

/// Calls command `cmd` with `args` as the main window would; Ok(reply) or Err(error value).
fn invoke(
    webview: &tauri::WebviewWindow<tauri::test::MockRuntime>,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    tauri::test::get_ipc_response(
        webview,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().unwrap())
}

#[test]
fn commands_touch_only_what_the_user_gave_and_report_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = common::household(tmp.path()).canonicalize().unwrap();
    let outside = tmp.path().join("elsewhere.txt");
    std::fs::write(&outside, "Private notes that were never added to Quire.").unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let engine = runtime.block_on(async {
        let engine = quire_engine::Engine::open(common::config(&tmp.path().join("data")))
            .await
            .unwrap();
        engine.index_folder(&folder, &NoProgress).await.unwrap();
        engine
    });
    let app = quire_desktop::with_commands(mock_builder())
        .manage(Desktop::new(engine))
        .build(mock_context(noop_assets()))
        .unwrap();
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();

    let library = invoke(&window, "library_status", json!({})).unwrap();
    let folders = library["folders"].as_array().unwrap();
    assert_eq!(folders.len(), 1, "{library}");
    assert_eq!(folders[0]["path"], folder.to_string_lossy().as_ref());
    assert_eq!(folders[0]["indexed"], 3);
    assert_eq!(library["paused"], false);

    // A file outside the library is refused, by kind and with a message that says why.
    for (cmd, args) in [
        ("open_source", json!({ "path": outside, "page": 1 })),
        (
            "summarize",
            json!({ "path": outside, "onEvent": "__CHANNEL__:1" }),
        ),
        ("open_source", json!({ "path": "/etc/passwd", "page": 1 })),
        (
            "read_passage",
            json!({ "path": outside, "page": 1, "quote": null, "span": null }),
        ),
    ] {
        let error = invoke(&window, cmd, args).unwrap_err();
        assert_eq!(error["kind"], "outside_library", "{cmd}: {error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("not in a folder of your library"),
            "{error}"
        );
    }
    // A path that does not exist says so.
    let missing = invoke(
        &window,
        "open_source",
        json!({ "path": folder.join("gone.pdf"), "page": 1 }),
    )
    .unwrap_err();
    assert_eq!(missing["kind"], "not_found", "{missing}");
    // Only folders of the library can be removed.
    let error = invoke(&window, "remove_folder", json!({ "path": tmp.path() })).unwrap_err();
    assert_eq!(error["kind"], "not_found", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("is not in the library"),
        "{error}"
    );

    // A bad shortcut is refused and the saved one is kept.
    let error = invoke(&window, "set_shortcut", json!({ "shortcut": "Ctrl+Banana" })).unwrap_err();
    assert_eq!(error["kind"], "invalid", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("Ctrl+Banana"),
        "{error}"
    );
    let settings = invoke(&window, "get_settings", json!({ "describeModel": false })).unwrap();
    assert_eq!(settings["shortcut"], "Ctrl+Shift+Space");

    // Pausing shows in the library view; resuming clears it.
    invoke(&window, "pause_indexing", json!({})).unwrap();
    assert_eq!(
        invoke(&window, "library_status", json!({})).unwrap()["paused"],
        true
    );
    invoke(&window, "resume_indexing", json!({})).unwrap();
    assert_eq!(
        invoke(&window, "library_status", json!({})).unwrap()["paused"],
        false
    );

    // Search finds a document by its words; a page of it reads with the hit marked.
    let hits = invoke(
        &window,
        "search_library",
        json!({ "query": "sourdough starter", "folder": null, "fileTypes": [] }),
    )
    .unwrap();
    let hit = &hits[0];
    assert!(hit["path"].as_str().unwrap().ends_with("bread.txt"), "{hits}");
    let page = invoke(
        &window,
        "read_passage",
        json!({ "path": hit["path"], "page": hit["page"], "quote": null, "span": hit["span"] }),
    )
    .unwrap();
    assert!(page["highlight"].is_object(), "{page}");
    // Narrowed to a kind of file the library does not hold there, it finds nothing.
    let none = invoke(
        &window,
        "search_library",
        json!({ "query": "sourdough starter", "folder": null, "fileTypes": ["docx"] }),
    )
    .unwrap();
    assert_eq!(none.as_array().map(Vec::len), Some(0), "{none}");

    // The page may not point the model loader at any file on the disk: only the models
    // folder's files or one the user chose in the dialog.
    let mut answers =
        invoke(&window, "get_settings", json!({ "describeModel": false })).unwrap()["answers"].clone();
    answers["generator"] = json!(outside);
    let error = invoke(&window, "save_engine_settings", json!({ "answers": answers })).unwrap_err();
    assert_eq!(error["kind"], "outside_library", "{error}");

    // The quick box asks in new chats only: earlier conversations are the main window's.
    let quick = WebviewWindowBuilder::new(&app, "quick", Default::default())
        .build()
        .unwrap();
    let error = invoke(
        &quick,
        "ask",
        json!({ "question": "What did we say?", "chat": 1, "onEvent": "__CHANNEL__:2" }),
    )
    .unwrap_err();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("only the main window"),
        "{error}"
    );

    // A shortcut without a modifier would take a key from all typing, everywhere: refused.
    for bare in ["Q", "Space", "Shift+Q"] {
        let error = invoke(&window, "set_shortcut", json!({ "shortcut": bare })).unwrap_err();
        assert_eq!(error["kind"], "invalid", "{bare}: {error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("needs Ctrl, Alt or Super"),
            "{error}"
        );
    }
    assert_eq!(
        invoke(&window, "get_settings", json!({ "describeModel": false })).unwrap()["shortcut"],
        "Ctrl+Shift+Space"
    );
}
