//! The one error type of the engine. Messages are shown to people as they are:
//! each says what failed and, where there is one, for which file. They name no
//! front end's commands: the CLI and the desktop app each add their own remedy
//! (see [`Error::audience`] and the typed payloads).

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("catalog database: {0}")]
    Catalog(#[from] sqlx::Error),

    #[error("catalog schema upgrade failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),

    #[error("full-text index: {0}")]
    Lexical(#[from] tantivy::TantivyError),

    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },

    #[error("{} is not a folder", path.display())]
    NotAFolder { path: PathBuf },

    #[error("{} is not in the library", path.display())]
    UnknownFolder { path: PathBuf },

    #[error(
        "another Quire process{} is indexing {} right now; wait for it to finish and try again",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        data_dir.display()
    )]
    Busy { data_dir: PathBuf, pid: Option<u32> },

    #[error(
        "{}: {message}. Quire needs a sentence-embedding model there: a folder (config.json, \
         model.safetensors, tokenizer.json) or a GGUF embedding model; `scripts/fetch-models.sh` \
         installs the default one, or set `embedder` in config.toml",
        path.display()
    )]
    Model { path: PathBuf, message: String },

    #[error("{}: {message}", path.display())]
    Generator { path: PathBuf, message: String },

    #[error("{what}: {message}")]
    NotFound { what: String, message: String },

    #[error("there is no chat {id}")]
    UnknownChat { id: i64 },

    #[error(
        "cannot start Quire's extraction helper ({}): {message}; Quire reads files only through it",
        program.display()
    )]
    Helper { program: PathBuf, message: String },

    #[error("stopped")]
    Cancelled,

    #[error("vector index: {0}")]
    Vectors(String),

    #[error("the embedding model failed: {0}")]
    Embedding(String),

    #[error("cannot watch folders: {0}")]
    Watch(String),

    #[error("cannot encode {what}: {message}")]
    Encoding { what: &'static str, message: String },

    /// A chat model was handed to a library that has loaded its own (a caller's mistake).
    #[error("this library already has its chat model loaded")]
    GeneratorAlreadyLoaded,

    #[error("a background task failed: {0}")]
    Task(String),
}

/// Who can act on an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// What the user did or must do: a folder or file, a model, a setting, another
    /// Quire at work, a stop they asked for. The front end words the remedy.
    User,
    /// A failure inside Quire or its stores: worth a bug report, not a retry.
    Internal,
}

impl Error {
    pub fn audience(&self) -> Audience {
        match self {
            Error::Io { .. }
            | Error::Config { .. }
            | Error::NotAFolder { .. }
            | Error::UnknownFolder { .. }
            | Error::Busy { .. }
            | Error::Model { .. }
            | Error::Generator { .. }
            | Error::NotFound { .. }
            | Error::UnknownChat { .. }
            | Error::Watch(_)
            | Error::Cancelled => Audience::User,
            Error::Catalog(_)
            | Error::Migration(_)
            | Error::Lexical(_)
            | Error::Helper { .. }
            | Error::Vectors(_)
            | Error::Embedding(_)
            | Error::Encoding { .. }
            | Error::GeneratorAlreadyLoaded
            | Error::Task(_) => Audience::Internal,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(err: tokio::task::JoinError) -> Self {
        Error::Task(err.to_string())
    }
}

impl From<tantivy::query::QueryParserError> for Error {
    fn from(err: tantivy::query::QueryParserError) -> Self {
        Error::Lexical(tantivy::TantivyError::InvalidArgument(err.to_string()))
    }
}
