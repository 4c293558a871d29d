-- The catalog: the source of truth for what is indexed. Paths are stored as raw
-- bytes so that file names which are not valid UTF-8 still round-trip.
-- AUTOINCREMENT keeps ids from being reused, so a full-text entry left behind
-- by an interrupted write can never be mistaken for a newer file's chunk.

CREATE TABLE folders (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    path        BLOB    NOT NULL UNIQUE,
    added_at    INTEGER NOT NULL
);

CREATE TABLE files (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    folder_id    INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    path         BLOB    NOT NULL UNIQUE,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    hash         TEXT,
    status       TEXT    NOT NULL CHECK (status IN ('indexed', 'skipped', 'error')),
    message      TEXT,
    title        TEXT,
    page_count   INTEGER NOT NULL DEFAULT 0,
    extracted_at INTEGER,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX files_folder ON files(folder_id);
CREATE INDEX files_hash ON files(hash);

CREATE TABLE chunks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id     INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    page        INTEGER NOT NULL,
    span_start  INTEGER NOT NULL,
    span_end    INTEGER NOT NULL,
    text        TEXT    NOT NULL
);
CREATE INDEX chunks_file ON chunks(file_id);
