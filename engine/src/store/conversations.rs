//! Conversations (chats, their messages and the citations of each answer) and
//! cached summaries, in the catalog's database.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::catalog::{now_secs, path_bytes, path_from_bytes, Catalog};
use crate::error::{Error, Result};
use crate::llm::Role;

pub type ChatId = i64;
pub type MessageId = i64;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct ChatSummary {
    pub id: ChatId,
    pub title: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub messages: i64,
}

/// A passage an answer rests on: where it is and what it says.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Citation {
    /// The source number the answer uses, as in "[2]".
    pub number: usize,
    #[serde(serialize_with = "crate::serde_path::lossy")]
    pub path: PathBuf,
    pub page: u32,
    /// The sentence(s) of the passage closest to what the answer says.
    pub quote: String,
    /// The whole passage given to the model.
    pub passage: String,
    /// Quire matched the answer to this passage itself because the model wrote no marker.
    pub attributed: bool,
}

/// How an answer's sentence stands against its sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Support {
    /// The model cited a source that supports it.
    Cited,
    /// Quire moved the model's marker to the source that supports it, or added one.
    Corrected,
    /// No source supports it; its markers were removed.
    Unsupported,
}

/// A sentence of an answer that states something, with the sources that back it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Claim {
    /// Byte range of the sentence in the answer's text.
    pub start: usize,
    pub end: usize,
    /// The sentence as shown (with its markers).
    pub text: String,
    /// The sources that support it: the numbers of its markers.
    pub sources: Vec<usize>,
    pub support: Support,
}

/// One question and its answer, as a chat stores them.
pub struct Exchange<'a> {
    pub question: &'a str,
    /// The user message the model saw (the question with its numbered sources).
    pub prompt: &'a str,
    pub answer: &'a str,
    pub abstained: bool,
    pub citations: &'a [Citation],
    pub claims: &'a [Claim],
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct StoredMessage {
    pub id: MessageId,
    pub role: Role,
    /// What the person typed, or the answer as shown.
    pub content: String,
    /// For a question: the prompt the model saw (question and sources).
    #[serde(skip)]
    pub prompt: Option<String>,
    pub abstained: bool,
    pub created_at: i64,
    pub citations: Vec<Citation>,
    /// For an answer: its claims, each with the sources that support it (or none).
    pub claims: Vec<Claim>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Chat {
    pub id: ChatId,
    pub title: String,
    pub created_at: i64,
    pub messages: Vec<StoredMessage>,
}

/// Where an exchange is stored: in a chat that exists, or in a new chat made with it
/// (so a first question that fails or is stopped leaves no empty chat behind).
#[derive(Debug, Clone, Copy)]
pub enum ChatTarget<'a> {
    Existing(ChatId),
    New { title: &'a str },
}

impl Catalog {
    /// Stores one exchange: the question (with the prompt sent) and the answer with its
    /// citations and claims, in one transaction with the new chat when there is one.
    /// Returns the chat's id.
    pub async fn add_exchange(&self, target: ChatTarget<'_>, exchange: &Exchange<'_>) -> Result<ChatId> {
        let now = now_secs();
        let mut tx = self.pool.begin().await?;
        let chat: ChatId = match target {
            ChatTarget::Existing(id) => id,
            ChatTarget::New { title } => {
                sqlx::query_scalar(
                    "INSERT INTO chats (title, created_at, updated_at) VALUES (?, ?, ?) RETURNING id",
                )
                .bind(title)
                .bind(now)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        let insert = "INSERT INTO messages (chat_id, role, content, prompt, abstained, created_at, claims) \
                      VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id";
        let _: MessageId = sqlx::query_scalar(insert)
            .bind(chat)
            .bind("user")
            .bind(exchange.question)
            .bind(exchange.prompt)
            .bind(false)
            .bind(now)
            .bind(None::<String>)
            .fetch_one(&mut *tx)
            .await?;
        let claims = serde_json::to_string(exchange.claims).map_err(|e| Error::Encoding {
            what: "the answer's claims",
            message: e.to_string(),
        })?;
        let answer_id: MessageId = sqlx::query_scalar(insert)
            .bind(chat)
            .bind("assistant")
            .bind(exchange.answer)
            .bind(None::<String>)
            .bind(exchange.abstained)
            .bind(now)
            .bind(claims)
            .fetch_one(&mut *tx)
            .await?;
        for citation in exchange.citations {
            sqlx::query(
                "INSERT INTO citations (message_id, number, path, page, quote, passage, attributed) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(answer_id)
            .bind(i64::try_from(citation.number).unwrap_or(i64::MAX))
            .bind(path_bytes(&citation.path))
            .bind(i64::from(citation.page))
            .bind(&citation.quote)
            .bind(&citation.passage)
            .bind(citation.attributed)
            .execute(&mut *tx)
            .await?;
        }
        let updated = sqlx::query("UPDATE chats SET updated_at = ? WHERE id = ?")
            .bind(now)
            .bind(chat)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(no_chat(chat));
        }
        tx.commit().await?;
        Ok(chat)
    }

    /// Every chat, the most recently used first.
    pub async fn chats(&self) -> Result<Vec<ChatSummary>> {
        let rows = sqlx::query(
            "SELECT c.id, c.title, c.created_at, c.updated_at, \
             (SELECT COUNT(*) FROM messages m WHERE m.chat_id = c.id) \
             FROM chats c ORDER BY c.updated_at DESC, c.id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ChatSummary {
                id: r.get(0),
                title: r.get(1),
                created_at: r.get(2),
                updated_at: r.get(3),
                messages: r.get(4),
            })
            .collect())
    }

    pub async fn chat(&self, id: ChatId) -> Result<Chat> {
        let row = sqlx::query("SELECT title, created_at FROM chats WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| no_chat(id))?;
        let mut messages: Vec<StoredMessage> = sqlx::query(
            "SELECT id, role, content, prompt, abstained, created_at, claims FROM messages WHERE chat_id = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| StoredMessage {
            id: r.get(0),
            role: if r.get::<String, _>(1) == "user" {
                Role::User
            } else {
                Role::Assistant
            },
            content: r.get(2),
            prompt: r.get(3),
            abstained: r.get(4),
            created_at: r.get(5),
            citations: Vec::new(),
            // Claims are Quire's own JSON; an unreadable one (never expected) only loses the marks.
            claims: r
                .get::<Option<String>, _>(6)
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_default(),
        })
        .collect();
        let citations = sqlx::query(
            "SELECT ci.message_id, ci.number, ci.path, ci.page, ci.quote, ci.passage, ci.attributed \
             FROM citations ci JOIN messages m ON m.id = ci.message_id WHERE m.chat_id = ? ORDER BY ci.rowid",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        for r in citations {
            let message: MessageId = r.get(0);
            if let Some(m) = messages.iter_mut().find(|m| m.id == message) {
                m.citations.push(Citation {
                    number: usize::try_from(r.get::<i64, _>(1)).unwrap_or(0),
                    path: path_from_bytes(r.get(2)),
                    page: u32::try_from(r.get::<i64, _>(3)).unwrap_or(0),
                    quote: r.get(4),
                    passage: r.get(5),
                    attributed: r.get(6),
                });
            }
        }
        Ok(Chat {
            id,
            title: row.get(0),
            created_at: row.get(1),
            messages,
        })
    }

    pub async fn delete_chat(&self, id: ChatId) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM chats WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(no_chat(id));
        }
        Ok(())
    }

    pub async fn cached_summary(&self, content_hash: &str, model: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT summary FROM summaries WHERE content_hash = ? AND model = ?")
                .bind(content_hash)
                .bind(model)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn store_summary(&self, content_hash: &str, model: &str, summary: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO summaries (content_hash, model, created_at, summary) VALUES (?, ?, ?, ?) \
             ON CONFLICT (content_hash, model) DO UPDATE SET summary = excluded.summary, created_at = excluded.created_at",
        )
        .bind(content_hash)
        .bind(model)
        .bind(now_secs())
        .bind(summary)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn no_chat(id: ChatId) -> Error {
    Error::UnknownChat { id }
}
