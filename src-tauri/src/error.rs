//! What a command returns when it fails: a kind the UI can act on and a message
//! it can show as is.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, thiserror::Error, ts_rs::TS)]
#[error("{message}")]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A path the user never added, dropped or picked.
    OutsideLibrary,
    NotFound,
    /// Another Quire process is writing the library.
    Busy,
    /// The user stopped it.
    Cancelled,
    /// A model is missing or cannot be loaded.
    Model,
    /// A setting the user typed is not valid.
    Invalid,
    Engine,
}

impl CommandError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CommandError {
        CommandError {
            kind,
            message: message.into(),
        }
    }
}

impl From<quire_engine::Error> for CommandError {
    fn from(error: quire_engine::Error) -> CommandError {
        use quire_engine::error::Audience;
        use quire_engine::Error;
        let kind = match &error {
            Error::Busy { .. } => ErrorKind::Busy,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Model { .. } | Error::Generator { .. } => ErrorKind::Model,
            Error::NotFound { .. }
            | Error::UnknownFolder { .. }
            | Error::UnknownChat { .. }
            | Error::NotAFolder { .. } => ErrorKind::NotFound,
            Error::Config { .. } => ErrorKind::Invalid,
            _ => ErrorKind::Engine,
        };
        // The engine says what is wrong; the remedy is worded for this window.
        let message = match &error {
            Error::UnknownFolder { .. } => format!("{error}. Add the folder to the library first."),
            Error::UnknownChat { .. } => format!("{error}; it may have been deleted."),
            _ if error.audience() == Audience::Internal => format!("Quire failed: {error}"),
            _ => error.to_string(),
        };
        CommandError::new(kind, message)
    }
}

pub type CommandResult<T> = Result<T, CommandError>;
