//! The windows show Quire's own pages and nothing else: a link in an answer, a
//! document or a compromised page cannot take a window to another site, where
//! Quire's commands would be one call away.

use tauri::plugin::{Builder, TauriPlugin};
use tauri::{Runtime, Url};

/// Refuses every top-level navigation away from the app's own pages.
pub fn guard<R: Runtime>() -> TauriPlugin<R> {
    Builder::new("navigation-guard")
        .on_navigation(|_webview, url| {
            let allowed = is_app_page(url);
            if !allowed {
                tracing::warn!("refused to leave Quire for {url}");
            }
            allowed
        })
        .build()
}

/// Quire's pages: `tauri://localhost` on Linux and macOS, `http(s)://tauri.localhost` on
/// Windows only (elsewhere that name is an ordinary host, served by whatever listens),
/// never with a port.
fn is_app_page(url: &Url) -> bool {
    if url.port().is_some() {
        return false;
    }
    match url.scheme() {
        "tauri" => url.host_str() == Some("localhost"),
        "http" | "https" => cfg!(windows) && url.host_str() == Some("tauri.localhost"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_apps_own_pages_may_be_shown() {
        assert!(is_app_page(&Url::parse("tauri://localhost/index.html").unwrap()));
        let windows_page = Url::parse("http://tauri.localhost/quick.html").unwrap();
        assert_eq!(is_app_page(&windows_page), cfg!(windows));
        for theirs in [
            "tauri://localhost:8080/index.html",
            "http://tauri.localhost:8080/",
            "https://example.com/",
            "http://localhost:8080/",
            "file:///etc/passwd",
            "tauri://evil.example/",
            "javascript:alert(1)",
            "data:text/html,hi",
        ] {
            assert!(!is_app_page(&Url::parse(theirs).unwrap()), "{theirs}");
        }
    }
}
