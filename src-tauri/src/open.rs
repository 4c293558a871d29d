//! Opening a cited file at its page. System openers take no page, so for PDFs a
//! viewer that does (when one is installed) is started directly.
//!
//! Only documents are handed to a viewer. The system opener runs what it is
//! given by type, so a cited `.desktop`, `.sh`, `.bat`, `.js` or `.hta` file (or
//! an executable a compromised page names) would be launched, not shown: anything
//! but a document type Quire reads is revealed in the file manager instead.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Extensions of documents a viewer shows and never runs: what Quire extracts, less
/// the source code and scripts it also indexes as text, HTML (a browser runs its
/// scripts) and CSV (a spreadsheet runs its formulas); those are read in the passage view.
const VIEWABLE_DOCUMENTS: &[&str] = &[
    "pdf", "docx", "md", "markdown", "mdown", "mkd", "txt", "text", "rst", "org", "log", "tex",
];

/// Whether `path` names a document type that is safe to hand to the system's viewer.
pub fn is_viewable_document(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| VIEWABLE_DOCUMENTS.contains(&e.as_str()))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_documents_go_to_a_viewer() {
        for document in ["a/report.PDF", "notes.md", "letter.docx", "log.txt", "notes.txt"] {
            assert!(is_viewable_document(Path::new(document)), "{document}");
        }
        for runnable in [
            "evil.desktop",
            "run.sh",
            "setup.bat",
            "payload.js",
            "app.hta",
            "tool",
            "script.py",
            "x.pdf.exe",
            "page.html",
            "sums.csv",
        ] {
            assert!(!is_viewable_document(Path::new(runnable)), "{runnable}");
        }
    }
}
