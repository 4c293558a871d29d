//! The system's dialogs, awaited: the dialog plugin answers through a callback,
//! and each command waits for that answer.
//!
//! Questions asked before something is lost for good ([`confirm`]) are asked from
//! Rust, over the window that asked, so that no page (a compromised one included)
//! can remove a folder or delete a chat without the user saying yes.

use tauri::{Runtime, WebviewWindow};
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};

/// Shows a dialog with `show`, handing it the callback it answers through, and waits
/// for the answer; None when the dialog went away without one.
pub async fn answer<T: Send + 'static>(show: impl FnOnce(Box<dyn FnOnce(T) + Send>)) -> Option<T> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    show(Box::new(move |answer| {
        let _ = sender.send(answer);
    }));
    receiver.await.ok()
}

/// Asks `question` over `window`; true only when the user pressed `confirm_label`.
/// Closing the dialog or pressing Escape is a no.
pub async fn confirm<R: Runtime>(
    window: &WebviewWindow<R>,
    title: &str,
    question: &str,
    confirm_label: &str,
) -> bool {
    let dialog = window
        .dialog()
        .message(question)
        .title(title)
        .kind(MessageDialogKind::Warning)
        .buttons(MessageDialogButtons::OkCancelCustom(
            confirm_label.to_string(),
            "Cancel".to_string(),
        ))
        .parent(window);
    answer(|reply| dialog.show(reply)).await.unwrap_or(false)
}
