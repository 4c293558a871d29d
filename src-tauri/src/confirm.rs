//! Questions asked before something is lost for good. They are asked from Rust,
//! with the system's dialog over the window that asked, so that no page (a
//! compromised one included) can remove a folder or delete a chat without the
//! user saying yes.

use tauri::{Runtime, WebviewWindow};
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};

/// Asks `question` over `window`; true only when the user pressed `confirm_label`.
/// Closing the dialog or pressing Escape is a no.
pub async fn ask<R: Runtime>(
    window: &WebviewWindow<R>,
    title: &str,
    question: &str,
    confirm_label: &str,
) -> bool {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    window
        .dialog()
        .message(question)
        .title(title)
        .kind(MessageDialogKind::Warning)
        .buttons(MessageDialogButtons::OkCancelCustom(
            confirm_label.to_string(),
            "Cancel".to_string(),
        ))
        .parent(window)
        .show(move |confirmed| {
            let _ = sender.send(confirmed);
        });
    receiver.await.unwrap_or(false)
}
