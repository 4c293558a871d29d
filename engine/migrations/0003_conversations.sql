-- Conversations and summaries. A user message keeps the prompt that was sent
-- (question with its numbered sources) so that a resumed chat gives the model
-- exactly what it saw before. Citations carry the quoted passage itself: the
-- answer stays checkable after the document changes. Summaries are keyed by
-- the content hash of the file and the model that wrote them.

CREATE TABLE chats (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    title      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id    INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('user', 'assistant')),
    content    TEXT    NOT NULL,
    prompt     TEXT,
    abstained  INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX messages_chat ON messages(chat_id, id);

CREATE TABLE citations (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    number     INTEGER NOT NULL,
    path       BLOB    NOT NULL,
    page       INTEGER NOT NULL,
    quote      TEXT    NOT NULL,
    passage    TEXT    NOT NULL,
    attributed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX citations_message ON citations(message_id);

CREATE TABLE summaries (
    content_hash TEXT    NOT NULL,
    model        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    summary      TEXT    NOT NULL,
    PRIMARY KEY (content_hash, model)
);
