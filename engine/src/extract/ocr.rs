//! Optical character recognition: text read from images (scanned PDF pages, photos
//! of documents) by Tesseract, run as its own program (Debian's `tesseract-ocr`).
//! It runs inside the extraction helper, so it inherits the helper's limits, and it
//! is killed with the helper when a file takes too long.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::ExtractError;

/// Whether and how images are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Ocr {
    /// Turned off in the configuration.
    #[default]
    Off,
    /// Wanted, but Tesseract cannot be run on this system.
    Missing,
    On(OcrOptions),
}

impl Ocr {
    /// Why a file whose text is in images was not read, in words a person can act on.
    pub fn not_read(&self) -> String {
        match self {
            Ocr::Off => "its text is in images, and reading images (OCR) is off (ocr in config.toml)".into(),
            Ocr::Missing | Ocr::On(_) => NEEDS_TESSERACT.into(),
        }
    }
}

/// How images are read; what the configuration and the system's language data say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OcrOptions {
    /// The Tesseract program (on the PATH unless configured).
    pub program: PathBuf,
    /// Tesseract's language codes (`eng`, `deu`, …), read together.
    pub languages: Vec<String>,
}

/// Resolution at which PDF pages are drawn for recognition: Tesseract reads body text
/// best at 300 dpi.
pub const PAGE_DPI: u32 = 300;

/// How long Tesseract may take on one image (a dense 300-dpi page takes a few seconds).
const PAGE_TIMEOUT: Duration = Duration::from_secs(120);

/// Bytes of an image handed to Tesseract, at most (a 300-dpi A3 page in PNG is far less).
const MAX_IMAGE_BYTES: usize = 256 * 1024 * 1024;

/// The one thing a user must do when Tesseract is missing.
pub const NEEDS_TESSERACT: &str = "its text is in images: install Tesseract to read it by OCR (Debian: apt \
     install tesseract-ocr); Quire reads it at the next run";

/// Image formats Tesseract reads, by their first bytes. Anything else is not handed
/// to it: Tesseract reads unrecognised input on stdin as a list of file names.
pub fn is_image(bytes: &[u8]) -> bool {
    const SIGNATURES: [&[u8]; 7] = [
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"II*\0",
        b"MM\0*",
        b"BM",
        b"GIF87a",
        b"GIF89a",
    ];
    SIGNATURES.iter().any(|s| bytes.starts_with(s))
        || (bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP")
}

/// The languages Tesseract has data for on this system (`osd`, which detects script
/// and orientation, is not a language). `None` when Tesseract cannot be run.
pub fn installed_languages(program: &Path) -> Option<Vec<String>> {
    let output = Command::new(program)
        .arg("--list-langs")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    // A header line, then one code per line.
    let listed = String::from_utf8_lossy(&output.stdout);
    Some(
        listed
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|code| !code.is_empty() && *code != "osd")
            .map(str::to_string)
            .collect(),
    )
}

/// The text Tesseract reads in `image` (PNG, JPEG, TIFF, WebP, BMP or GIF) taken at
/// `dpi` dots per inch; empty when the image shows no text.
pub fn recognize(image: &[u8], dpi: u32, options: &OcrOptions) -> Result<String, ExtractError> {
    if !is_image(image) {
        return Err(ExtractError::Failed(
            "not an image Quire can read (PNG, JPEG, TIFF, WebP, BMP or GIF)".into(),
        ));
    }
    if image.len() > MAX_IMAGE_BYTES {
        return Err(ExtractError::Failed("the image is too large to read".into()));
    }
    let languages = if options.languages.is_empty() {
        "eng".to_string()
    } else {
        options.languages.join("+")
    };
    let mut command = Command::new(&options.program);
    command
        .args(["stdin", "stdout", "-l", &languages, "--psm", "3", "--dpi"])
        .arg(dpi.to_string())
        // Tesseract's own threads make it several times slower on a small machine;
        // Quire reads files in parallel instead.
        .env("OMP_THREAD_LIMIT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    end_with_parent(&mut command);
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ExtractError::NeedsOcr(NEEDS_TESSERACT.into()),
        _ => ExtractError::Failed(format!("Tesseract could not be started: {e}")),
    })?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(ExtractError::Failed(
            "Tesseract's pipes could not be opened".into(),
        ));
    };
    // Written from another thread: Tesseract may answer before it has read everything.
    let image = image.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&image);
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let output = std::thread::spawn(move || {
        let mut text = Vec::new();
        stdout.read_to_end(&mut text).map(|_| text)
    });
    // Tesseract is stopped after a while on one image, where no limit of the helper's
    // reaches it (a child process outside Linux, where it does not end with the helper).
    let deadline = Instant::now() + PAGE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!(
                    "Tesseract took longer than {} s to read one image, so Quire stopped it",
                    PAGE_TIMEOUT.as_secs()
                ));
            }
            Err(e) => break Err(format!("Tesseract failed: {e}")),
        }
    };
    let _ = writer.join();
    let errors = errors.join().unwrap_or_default();
    let text = output.join().ok().and_then(Result::ok);
    match (status, text) {
        (Ok(status), Some(text)) if status.success() => Ok(String::from_utf8_lossy(&text).into_owned()),
        (Ok(status), _) => Err(ExtractError::Failed(failure_message(&errors, &languages, status))),
        (Err(why), _) => Err(ExtractError::Failed(why)),
    }
}

/// Tesseract's failure in words a person can act on.
fn failure_message(stderr: &str, languages: &str, status: std::process::ExitStatus) -> String {
    if stderr.contains("Failed loading language") || stderr.contains("Error opening data file") {
        return format!(
            "Tesseract has no language data for {languages} (install tesseract-ocr-<language>, or \
             change ocr_languages in config.toml)"
        );
    }
    let said = stderr
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with("Estimating resolution"))
        .unwrap_or("no reason given");
    format!("Tesseract could not read the image ({status}: {said})")
}

/// Tesseract must not outlive the helper that started it (a helper is killed when a
/// file takes too long).
fn end_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_images_are_handed_to_tesseract() {
        assert!(is_image(b"\x89PNG\r\n\x1a\n...."));
        assert!(is_image(b"RIFF\x10\0\0\0WEBPVP8 "));
        // Tesseract would read this as a list of files to open.
        let options = OcrOptions {
            program: PathBuf::from("tesseract"),
            languages: vec![],
        };
        let err = recognize(b"/etc/passwd\n", 300, &options).unwrap_err();
        assert!(err.to_string().contains("not an image"), "{err}");
    }

    #[test]
    fn a_missing_tesseract_says_what_to_install() {
        let options = OcrOptions {
            program: PathBuf::from("/nonexistent/tesseract"),
            languages: vec!["eng".into()],
        };
        let err = recognize(b"\x89PNG\r\n\x1a\n", 300, &options).unwrap_err();
        assert_eq!(err.to_string(), NEEDS_TESSERACT);
    }
}
