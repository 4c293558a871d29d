//! The catalog: folders, files (path, size, mtime, content hash, status, message)
//! and chunks (file, page, byte span, text) in SQLite, in WAL mode with a busy
//! timeout. It is the source of truth; the full-text index can be rebuilt from it.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use crate::chunk::Chunk;
use crate::error::{Error, Result};

pub type FolderId = i64;
pub type FileId = i64;
pub type ChunkId = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Indexed,
    /// Deliberately not indexed: binary, empty, too large, unsupported type.
    Skipped,
    /// Should be indexed but could not be read or parsed.
    Error,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Indexed => "indexed",
            FileStatus::Skipped => "skipped",
            FileStatus::Error => "error",
        }
    }
}

impl FromStr for FileStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "indexed" => Ok(FileStatus::Indexed),
            "skipped" => Ok(FileStatus::Skipped),
            "error" => Ok(FileStatus::Error),
            other => Err(Error::Catalog(sqlx::Error::Decode(
                format!("unknown file status {other:?}").into(),
            ))),
        }
    }
}

/// One page of an indexed file as its chunks hold it: each chunk's byte span in
/// the page's text and its text (`page_text[span] == text`; chunks overlap, and
/// only whitespace lies outside every chunk).
#[derive(Debug, Clone)]
pub struct PageChunks {
    pub title: Option<String>,
    /// Pages the file has.
    pub pages: u32,
    pub chunks: Vec<(std::ops::Range<usize>, String)>,
}

#[derive(Debug, Clone)]
pub struct Folder {
    pub id: FolderId,
    pub path: PathBuf,
}

/// What the catalog knows of a file, as the indexer needs it.
#[derive(Debug, Clone)]
pub struct FileRecord {
    pub id: FileId,
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
    pub hash: Option<String>,
    pub status: FileStatus,
    /// Pages whose text is in pictures, left unread for want of OCR.
    pub pages_awaiting_ocr: u32,
}

/// A chunk with the file it belongs to, for showing a search hit.
#[derive(Debug, Clone)]
pub struct ChunkDetail {
    pub chunk_id: ChunkId,
    pub file_id: FileId,
    pub path: PathBuf,
    pub title: Option<String>,
    pub page: u32,
    pub span_start: usize,
    pub span_end: usize,
    pub text: String,
    pub read_by_ocr: bool,
}

/// A file's size and modification time, as read from the file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: i64,
}

impl FileStamp {
    /// A stamp no file on disk has: the file it stands for is read again next time.
    pub fn unsettled(size: u64) -> FileStamp {
        FileStamp {
            size,
            mtime_ns: i64::MIN,
        }
    }
}

/// The new content of one file: what the indexer extracted.
#[derive(Debug, Clone)]
pub struct IndexedContent {
    pub hash: String,
    pub title: Option<String>,
    pub page_count: u32,
    /// Pages whose text is in pictures, left unread for want of OCR.
    pub pages_awaiting_ocr: u32,
    pub chunks: Vec<Chunk>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct FolderSummary {
    #[serde(serialize_with = "crate::serde_path::lossy")]
    pub path: PathBuf,
    pub indexed: u64,
    pub skipped: u64,
    pub errors: u64,
    pub chunks: u64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct FileProblem {
    #[serde(serialize_with = "crate::serde_path::lossy")]
    pub path: PathBuf,
    pub status: FileStatus,
    pub message: String,
}

/// What is recorded of a file after it was read.
#[derive(Debug, Clone, Copy)]
pub struct FileState<'a> {
    pub hash: Option<&'a str>,
    pub status: FileStatus,
    /// Why it is not indexed.
    pub message: Option<&'a str>,
    /// Pages whose text is in pictures, left unread for want of OCR (a picture file
    /// not read for that reason counts one).
    pub pages_awaiting_ocr: u32,
}

/// An indexed file with pages whose text is in pictures, left unread because OCR was
/// off or Tesseract missing when it was read.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct AwaitingOcr {
    #[serde(serialize_with = "crate::serde_path::lossy")]
    pub path: PathBuf,
    pub pages: u32,
}

/// Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct Catalog {
    pub(crate) pool: SqlitePool,
}

/// Sets a `meta` key (bind the key, then the value).
const SET_META: &str =
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value";

impl Catalog {
    pub async fn open(path: &Path) -> Result<Catalog> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Catalog { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Registers a folder (idempotent) and returns it.
    pub async fn add_folder(&self, path: &Path) -> Result<Folder> {
        sqlx::query("INSERT INTO folders (path, added_at) VALUES (?, ?) ON CONFLICT(path) DO NOTHING")
            .bind(path_bytes(path))
            .bind(now_secs())
            .execute(&self.pool)
            .await?;
        self.folder(path).await?.ok_or_else(|| Error::UnknownFolder {
            path: path.to_path_buf(),
        })
    }

    pub async fn folder(&self, path: &Path) -> Result<Option<Folder>> {
        let row = sqlx::query("SELECT id, path FROM folders WHERE path = ?")
            .bind(path_bytes(path))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Folder {
            id: r.get(0),
            path: path_from_bytes(r.get(1)),
        }))
    }

    pub async fn folders(&self) -> Result<Vec<Folder>> {
        let rows = sqlx::query("SELECT id, path FROM folders ORDER BY path")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Folder {
                id: r.get(0),
                path: path_from_bytes(r.get(1)),
            })
            .collect())
    }

    /// Forgets a folder and everything indexed from it; returns the ids of its
    /// files and the new vector generation.
    pub async fn remove_folder(&self, folder: FolderId) -> Result<(Vec<FileId>, i64)> {
        let mut batch = self.begin().await?;
        let ids: Vec<FileId> = sqlx::query_scalar("SELECT id FROM files WHERE folder_id = ?")
            .bind(folder)
            .fetch_all(&mut *batch.tx)
            .await?;
        sqlx::query("DELETE FROM folders WHERE id = ?")
            .bind(folder)
            .execute(&mut *batch.tx)
            .await?;
        let generation = batch.bump_generation().await?;
        batch.commit().await?;
        Ok((ids, generation))
    }

    /// Moves the files of folder `inner` to folder `outer` and forgets `inner`.
    pub async fn merge_folder(&self, inner: FolderId, outer: FolderId) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE files SET folder_id = ? WHERE folder_id = ?")
            .bind(outer)
            .bind(inner)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM folders WHERE id = ?")
            .bind(inner)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn files_in_folder(&self, folder: FolderId) -> Result<Vec<FileRecord>> {
        let rows =
            sqlx::query(
                "SELECT id, path, size, mtime_ns, hash, status, pages_awaiting_ocr FROM files WHERE folder_id = ?",
            )
                .bind(folder)
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|r| {
                Ok(FileRecord {
                    id: r.get(0),
                    path: path_from_bytes(r.get(1)),
                    size: u64::try_from(r.get::<i64, _>(2)).unwrap_or(0),
                    mtime_ns: r.get(3),
                    hash: r.get(4),
                    status: r.get::<String, _>(5).parse()?,
                    pages_awaiting_ocr: u32::try_from(r.get::<i64, _>(6)).unwrap_or(0),
                })
            })
            .collect()
    }

    pub async fn begin(&self) -> Result<CatalogBatch> {
        Ok(CatalogBatch {
            tx: self.pool.begin().await?,
            removed_chunks: Vec::new(),
        })
    }

    /// Chunks by id with their files, in the order asked for. Ids that no longer
    /// exist are left out.
    pub async fn chunk_details(&self, ids: &[ChunkId]) -> Result<Vec<ChunkDetail>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; ids.len()].join(",");
        let sql = format!(
            "SELECT c.id, c.file_id, f.path, f.title, c.page, c.span_start, c.span_end, c.text, c.read_by_ocr \
             FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id IN ({placeholders})"
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut by_id: std::collections::HashMap<ChunkId, ChunkDetail> = rows
            .into_iter()
            .map(|r| {
                let detail = ChunkDetail {
                    chunk_id: r.get(0),
                    file_id: r.get(1),
                    path: path_from_bytes(r.get(2)),
                    title: r.get(3),
                    page: u32::try_from(r.get::<i64, _>(4)).unwrap_or(0),
                    span_start: usize::try_from(r.get::<i64, _>(5)).unwrap_or(0),
                    span_end: usize::try_from(r.get::<i64, _>(6)).unwrap_or(0),
                    text: r.get(7),
                    read_by_ocr: r.get(8),
                };
                (detail.chunk_id, detail)
            })
            .collect();
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// Every chunk, for rebuilding the full-text index: (chunk, file, page, title, text).
    pub async fn all_chunks(&self) -> Result<Vec<(ChunkId, FileId, u32, Option<String>, String)>> {
        let rows = sqlx::query(
            "SELECT c.id, c.file_id, c.page, f.title, c.text FROM chunks c JOIN files f ON f.id = c.file_id ORDER BY c.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    u32::try_from(r.get::<i64, _>(2)).unwrap_or(0),
                    r.get(3),
                    r.get(4),
                )
            })
            .collect())
    }

    /// The counter that moves with every change to the stored vectors.
    pub async fn vector_generation(&self) -> Result<i64> {
        let value: String = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'vector_generation'")
            .fetch_one(&self.pool)
            .await?;
        Ok(value.parse().unwrap_or(0))
    }

    pub async fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(SET_META)
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every stored vector, for building the graph.
    pub async fn all_vectors(&self) -> Result<Vec<(ChunkId, Vec<f32>)>> {
        let rows = sqlx::query("SELECT chunk_id, vector FROM vectors ORDER BY chunk_id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get(0), vector_from_bytes(r.get::<&[u8], _>(1))))
            .collect())
    }

    /// Puts `vectors`, made by the embedder `identity`, in place of every stored
    /// vector, all at once (none: the embedder changed and passages wait to be embedded
    /// again); returns the new generation.
    pub async fn replace_vectors(&self, vectors: &[(ChunkId, Vec<f32>)], identity: &str) -> Result<i64> {
        let mut batch = self.begin().await?;
        sqlx::query("DELETE FROM vectors").execute(&mut *batch.tx).await?;
        batch.store_vectors(vectors).await?;
        sqlx::query(SET_META)
            .bind("embedder")
            .bind(identity)
            .execute(&mut *batch.tx)
            .await?;
        let generation = batch.bump_generation().await?;
        batch.commit().await?;
        Ok(generation)
    }

    /// Up to `limit` chunks that have no vector yet: (chunk, its file's title, text).
    pub async fn chunks_without_vectors(
        &self,
        limit: usize,
    ) -> Result<Vec<(ChunkId, Option<String>, String)>> {
        let rows = sqlx::query(
            "SELECT c.id, f.title, c.text FROM chunks c JOIN files f ON f.id = c.file_id \
             LEFT JOIN vectors v ON v.chunk_id = c.id WHERE v.chunk_id IS NULL ORDER BY c.id LIMIT ?",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    pub async fn count_chunks_without_vectors(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM chunks c LEFT JOIN vectors v ON v.chunk_id = c.id WHERE v.chunk_id IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Every file's path, by id.
    pub async fn file_paths(&self) -> Result<std::collections::HashMap<FileId, PathBuf>> {
        let rows = sqlx::query("SELECT id, path FROM files")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get(0), path_from_bytes(r.get(1))))
            .collect())
    }

    /// What became of the file at `path` when it was last indexed; None: Quire never saw it.
    pub async fn file_status(&self, path: &Path) -> Result<Option<FileStatus>> {
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM files WHERE path = ?")
            .bind(path_bytes(path))
            .fetch_optional(&self.pool)
            .await?;
        status.map(|s| s.parse()).transpose()
    }

    /// The indexed file at `path` and the chunks of its page `page`, in page order;
    /// None when no indexed file has that path.
    pub async fn page_chunks(&self, path: &Path, page: u32) -> Result<Option<PageChunks>> {
        let file =
            sqlx::query("SELECT id, title, page_count FROM files WHERE path = ? AND status = 'indexed'")
                .bind(path_bytes(path))
                .fetch_optional(&self.pool)
                .await?;
        let Some(file) = file else {
            return Ok(None);
        };
        let file_id: FileId = file.get(0);
        let rows = sqlx::query(
            "SELECT span_start, span_end, text FROM chunks WHERE file_id = ? AND page = ? ORDER BY span_start, span_end",
        )
        .bind(file_id)
        .bind(i64::from(page))
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(PageChunks {
            title: file.get(1),
            pages: u32::try_from(file.get::<i64, _>(2)).unwrap_or(0),
            chunks: rows
                .into_iter()
                .map(|r| {
                    let start = usize::try_from(r.get::<i64, _>(0)).unwrap_or(0);
                    let end = usize::try_from(r.get::<i64, _>(1)).unwrap_or(start);
                    (start..end, r.get(2))
                })
                .collect(),
        }))
    }

    /// Which file each chunk belongs to.
    pub async fn chunk_files(&self) -> Result<std::collections::HashMap<ChunkId, FileId>> {
        let rows = sqlx::query("SELECT id, file_id FROM chunks")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn chunk_ids_in_folder(&self, folder: FolderId) -> Result<Vec<ChunkId>> {
        Ok(sqlx::query_scalar(
            "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.folder_id = ?",
        )
        .bind(folder)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn chunk_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chunks")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub async fn folder_summaries(&self) -> Result<Vec<FolderSummary>> {
        let rows = sqlx::query(
            "SELECT d.path, \
                    COALESCE(SUM(f.status = 'indexed'), 0), \
                    COALESCE(SUM(f.status = 'skipped'), 0), \
                    COALESCE(SUM(f.status = 'error'), 0), \
                    (SELECT COUNT(*) FROM chunks c JOIN files g ON g.id = c.file_id WHERE g.folder_id = d.id) \
             FROM folders d LEFT JOIN files f ON f.folder_id = d.id \
             GROUP BY d.id ORDER BY d.path",
        )
        .fetch_all(&self.pool)
        .await?;
        let count = |r: &sqlx::sqlite::SqliteRow, i: usize| u64::try_from(r.get::<i64, _>(i)).unwrap_or(0);
        Ok(rows
            .iter()
            .map(|r| FolderSummary {
                path: path_from_bytes(r.get(0)),
                indexed: count(r, 1),
                skipped: count(r, 2),
                errors: count(r, 3),
                chunks: count(r, 4),
            })
            .collect())
    }

    /// Records that each file (path, hash) was inside an extraction helper when Quire
    /// stopped: once more in a row for the same content, the first time for new content.
    pub async fn note_interrupted_reads(&self, reads: &[(PathBuf, String)]) -> Result<()> {
        if reads.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (path, hash) in reads {
            sqlx::query(
                "INSERT INTO interrupted_reads (path, hash, times) VALUES (?, ?, 1) \
                 ON CONFLICT(path) DO UPDATE SET \
                   times = CASE WHEN hash = excluded.hash THEN times + 1 ELSE 1 END, hash = excluded.hash",
            )
            .bind(path_bytes(path))
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every interrupted read on record: path → (hash of the content, times in a row).
    pub async fn interrupted_reads(&self) -> Result<std::collections::HashMap<PathBuf, (String, u32)>> {
        let rows = sqlx::query("SELECT path, hash, times FROM interrupted_reads")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let times = u32::try_from(r.get::<i64, _>(2)).unwrap_or(u32::MAX);
                (path_from_bytes(r.get(0)), (r.get(1), times))
            })
            .collect())
    }

    /// Indexed files with pages of pictures left unread for want of OCR, and how many.
    pub async fn awaiting_ocr(&self) -> Result<Vec<AwaitingOcr>> {
        let rows = sqlx::query(
            "SELECT path, pages_awaiting_ocr FROM files WHERE status = 'indexed' AND pages_awaiting_ocr > 0 \
             ORDER BY path",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AwaitingOcr {
                path: path_from_bytes(r.get(0)),
                pages: u32::try_from(r.get::<i64, _>(1)).unwrap_or(0),
            })
            .collect())
    }

    /// Files that are not indexed, with the reason, errors first.
    pub async fn problems(&self) -> Result<Vec<FileProblem>> {
        let rows = sqlx::query(
            "SELECT path, status, COALESCE(message, '') FROM files WHERE status != 'indexed' \
             ORDER BY status = 'skipped', path",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(FileProblem {
                    path: path_from_bytes(r.get(0)),
                    status: r.get::<String, _>(1).parse()?,
                    message: r.get(2),
                })
            })
            .collect()
    }
}

/// One write batch: changes to many files in one transaction, committed after
/// the full-text index has committed the same batch.
pub struct CatalogBatch {
    tx: Transaction<'static, Sqlite>,
    /// Chunks deleted by this batch, for the vector graph's tombstones.
    removed_chunks: Vec<ChunkId>,
}

impl CatalogBatch {
    /// Stores a file's new content, replacing its old chunks; returns its id and
    /// the ids of the new chunks (in chunk order).
    pub async fn store_indexed(
        &mut self,
        folder: FolderId,
        path: &Path,
        stamp: FileStamp,
        content: &IndexedContent,
    ) -> Result<(FileId, Vec<ChunkId>)> {
        let state = FileState {
            hash: Some(&content.hash),
            status: FileStatus::Indexed,
            message: None,
            pages_awaiting_ocr: content.pages_awaiting_ocr,
        };
        let file_id = self.upsert_file(folder, path, stamp, &state).await?;
        sqlx::query("UPDATE files SET title = ?, page_count = ?, extracted_at = ? WHERE id = ?")
            .bind(&content.title)
            .bind(content.page_count)
            .bind(now_secs())
            .bind(file_id)
            .execute(&mut *self.tx)
            .await?;
        self.delete_chunks(file_id).await?;
        let mut chunk_ids = Vec::with_capacity(content.chunks.len());
        for chunk in &content.chunks {
            let id: ChunkId = sqlx::query_scalar(
                "INSERT INTO chunks (file_id, ordinal, page, span_start, span_end, text, read_by_ocr) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(file_id)
            .bind(chunk.ordinal)
            .bind(chunk.page)
            .bind(i64::try_from(chunk.span.start).unwrap_or(i64::MAX))
            .bind(i64::try_from(chunk.span.end).unwrap_or(i64::MAX))
            .bind(&chunk.text)
            .bind(chunk.read_by_ocr)
            .fetch_one(&mut *self.tx)
            .await?;
            chunk_ids.push(id);
        }
        Ok((file_id, chunk_ids))
    }

    /// Records a file that is skipped or failed; any chunks it had are dropped.
    /// Returns its id.
    pub async fn store_unindexed(
        &mut self,
        folder: FolderId,
        path: &Path,
        stamp: FileStamp,
        state: &FileState<'_>,
    ) -> Result<FileId> {
        let file_id = self.upsert_file(folder, path, stamp, state).await?;
        self.delete_chunks(file_id).await?;
        Ok(file_id)
    }

    /// The file is unchanged in content; only its stamp (and path, for a rename) moved.
    pub async fn update_location(&mut self, file: FileId, path: &Path, stamp: FileStamp) -> Result<()> {
        sqlx::query("UPDATE files SET path = ?, size = ?, mtime_ns = ?, updated_at = ? WHERE id = ?")
            .bind(path_bytes(path))
            .bind(i64::try_from(stamp.size).unwrap_or(i64::MAX))
            .bind(stamp.mtime_ns)
            .bind(now_secs())
            .bind(file)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The read of `path` finished (or the file changed or went): its interrupted reads are settled.
    pub async fn forget_interrupted_read(&mut self, path: &Path) -> Result<()> {
        sqlx::query("DELETE FROM interrupted_reads WHERE path = ?")
            .bind(path_bytes(path))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn remove_file(&mut self, file: FileId) -> Result<()> {
        self.delete_chunks(file).await?;
        sqlx::query("DELETE FROM files WHERE id = ?")
            .bind(file)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    async fn upsert_file(
        &mut self,
        folder: FolderId,
        path: &Path,
        stamp: FileStamp,
        state: &FileState<'_>,
    ) -> Result<FileId> {
        let id = sqlx::query_scalar(
            "INSERT INTO files (folder_id, path, size, mtime_ns, hash, status, message, pages_awaiting_ocr, \
               updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT(path) DO UPDATE SET folder_id = excluded.folder_id, size = excluded.size, \
               mtime_ns = excluded.mtime_ns, hash = excluded.hash, status = excluded.status, \
               message = excluded.message, pages_awaiting_ocr = excluded.pages_awaiting_ocr, \
               updated_at = excluded.updated_at \
             RETURNING id",
        )
        .bind(folder)
        .bind(path_bytes(path))
        .bind(i64::try_from(stamp.size).unwrap_or(i64::MAX))
        .bind(stamp.mtime_ns)
        .bind(state.hash)
        .bind(state.status.as_str())
        .bind(state.message)
        .bind(state.pages_awaiting_ocr)
        .bind(now_secs())
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    async fn delete_chunks(&mut self, file: FileId) -> Result<()> {
        let ids: Vec<ChunkId> = sqlx::query_scalar("DELETE FROM chunks WHERE file_id = ? RETURNING id")
            .bind(file)
            .fetch_all(&mut *self.tx)
            .await?;
        self.removed_chunks.extend(ids);
        Ok(())
    }

    /// Stores the vectors of chunks written in this batch.
    pub async fn store_vectors(&mut self, vectors: &[(ChunkId, Vec<f32>)]) -> Result<()> {
        for (chunk, vector) in vectors {
            sqlx::query("INSERT OR REPLACE INTO vectors (chunk_id, vector) VALUES (?, ?)")
                .bind(chunk)
                .bind(vector_bytes(vector))
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// Chunks this batch deleted so far.
    pub fn removed_chunks(&self) -> &[ChunkId] {
        &self.removed_chunks
    }

    /// Moves the vector generation on; returns the new value.
    pub async fn bump_generation(&mut self) -> Result<i64> {
        let value: String = sqlx::query_scalar(
            "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) \
             WHERE key = 'vector_generation' RETURNING value",
        )
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(value.parse().unwrap_or(0))
    }
}

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Vectors are stored as little-endian f32 bytes.
fn vector_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn vector_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Paths are stored as their raw bytes on Unix, so any file name round-trips.
#[cfg(unix)]
pub(crate) fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(unix)]
pub(crate) fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

#[cfg(not(unix))]
pub(crate) fn path_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().into_owned().into_bytes()
}

#[cfg(not(unix))]
pub(crate) fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_through_their_bytes() {
        let vector = [0.0, -1.5, f32::MIN_POSITIVE, 3.25e7];
        let bytes = vector_bytes(&vector);
        assert_eq!(bytes.len(), 16);
        assert_eq!(vector_from_bytes(&bytes), vector);
    }
}
