//! Opening a cited file at its page. System openers take no page, so for PDFs a
//! viewer that does (when one is installed) is started directly.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A viewer's arguments for opening a file at a page.
type PageArguments = fn(&Path, u32) -> Vec<String>;

/// PDF viewers that can open at a page, with how to ask them.
const PAGE_AWARE_VIEWERS: &[(&str, PageArguments)] = &[
    ("evince", |path, page| {
        vec![format!("--page-label={page}"), display(path)]
    }),
    ("okular", |path, page| {
        vec!["-p".into(), page.to_string(), display(path)]
    }),
    ("zathura", |path, page| {
        vec!["-P".into(), page.to_string(), display(path)]
    }),
    ("qpdfview", |path, page| vec![format!("{}#{page}", display(path))]),
];

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A command that opens the PDF `path` at `page`, when such a viewer is installed.
pub fn pdf_viewer_at_page(path: &Path, page: u32) -> Option<Command> {
    let is_pdf = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf"));
    if !is_pdf || cfg!(not(target_os = "linux")) {
        return None;
    }
    PAGE_AWARE_VIEWERS.iter().find_map(|(name, args)| {
        let program = find_in_path(name)?;
        let mut command = Command::new(program);
        command.args(args(path, page));
        Some(command)
    })
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
