//! The full-text index: one tantivy document per chunk (chunk id, file id, page,
//! title, and `text`: the title followed by the passage), analysed in English with
//! stemming. Search scores `text`, one field: a title scored as a field of its own (its
//! own idf and length norm, added to the passage's) made a query word found in both count
//! twice, and cost 0.027 nDCG@10 on SciFact (see the README); `title_boost` adds such a
//! title match back on top when wanted. Text is not stored here: snippets are cut from
//! the catalog's copy.

use std::path::Path;
use std::sync::Mutex;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, QueryParser, TermQuery, TermSetQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::snippet::{Snippet, SnippetGenerator};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::error::{Error, Result};
use crate::store::catalog::{ChunkId, FileId};

const ANALYZER: &str = "quire_en";
/// Memory for the writer's in-RAM segments; larger batches commit fewer segments.
const WRITER_HEAP_BYTES: usize = 64 * 1024 * 1024;
/// Text fragments shown with a hit.
const SNIPPET_CHARS: usize = 220;
/// tantivy's query parser recurses once per bracket: nesting deeper than this, or
/// a query longer than `MAX_PARSED_QUERY_CHARS`, is read as plain words instead
/// (1,200 "(" overflowed the stack of the thread that parsed them).
const MAX_QUERY_NESTING: usize = 16;
const MAX_PARSED_QUERY_CHARS: usize = 1_000;
/// Words of a query that are matched, at most: the rest of a pasted page adds nothing.
const MAX_QUERY_TERMS: usize = 1_024;

#[derive(Clone, Copy)]
struct Fields {
    chunk_id: Field,
    file_id: Field,
    page: Field,
    title: Field,
    /// The title, then the passage.
    text: Field,
}

/// One change to the index, applied in batches.
#[derive(Debug, Clone)]
pub enum LexicalOp {
    /// Drop every chunk of a file (changed, failed or removed).
    DeleteFile(FileId),
    Add {
        chunk_id: ChunkId,
        file_id: FileId,
        page: u32,
        title: String,
        body: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LexicalHit {
    pub chunk_id: ChunkId,
    pub file_id: FileId,
    pub page: u32,
    pub score: f32,
}

/// The result of a search: the hits, and what is needed to highlight them.
pub struct LexicalResults {
    pub hits: Vec<LexicalHit>,
    snippets: SnippetGenerator,
}

impl LexicalResults {
    /// The best fragment of `text` for this query, with the matched words marked.
    pub fn snippet(&self, text: &str) -> Snippet {
        self.snippets.snippet(text)
    }
}

pub struct LexicalIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    title_boost: f32,
    /// The one writer, created when the first batch is written. Writes come only
    /// from the indexer, which holds the data directory's lock.
    writer: Mutex<Option<IndexWriter>>,
}

impl LexicalIndex {
    /// Opens the index in `dir`, creating it when there is none, or when the one there
    /// has other fields (made by an earlier Quire). Returns whether it was created: then
    /// the caller refills it from the catalog.
    ///
    /// An index of an earlier layout is deleted only after `lock` has given the data
    /// directory's writer lock (returned with the index, for the refill): a process that
    /// writes to it at that moment keeps it, and this one fails as busy.
    pub fn open<Lock>(
        dir: &Path,
        title_boost: f32,
        lock: impl FnOnce() -> Result<Lock>,
    ) -> Result<(LexicalIndex, bool, Option<Lock>)> {
        let open_dir = || {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            tantivy::directory::MmapDirectory::open(dir)
                .map_err(|e| Error::Lexical(tantivy::TantivyError::from(e)))
        };
        let directory = open_dir()?;
        let mut created =
            !Index::exists(&directory).map_err(|e| Error::Lexical(tantivy::TantivyError::from(e)))?;
        let mut index = if created {
            Index::create(directory, schema(), tantivy::IndexSettings::default())?
        } else {
            Index::open(directory)?
        };
        let mut held = None;
        if !created && fields_of(&index.schema()).is_err() {
            drop(index);
            held = Some(lock()?);
            tracing::warn!("the full-text index has an earlier layout; it is made again from the catalog");
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            index = Index::create(open_dir()?, schema(), tantivy::IndexSettings::default())?;
            created = true;
        }
        index.tokenizers().register(ANALYZER, english_analyzer());
        let fields = fields_of(&index.schema())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok((
            LexicalIndex {
                index,
                reader,
                fields,
                title_boost,
                writer: Mutex::new(None),
            },
            created,
            held,
        ))
    }

    /// Runs `write` with the one writer, creating it on first use.
    fn with_writer<T>(&self, write: impl FnOnce(&mut IndexWriter) -> Result<T>) -> Result<T> {
        let mut guard = self.writer.lock().map_err(|_| {
            Error::Lexical(tantivy::TantivyError::SystemError(
                "the full-text writer was poisoned by an earlier failure".into(),
            ))
        })?;
        let writer = match guard.as_mut() {
            Some(writer) => writer,
            None => guard.insert(self.index.writer(WRITER_HEAP_BYTES)?),
        };
        write(writer)
    }

    /// Applies a batch of changes and commits them; searches see them at once.
    pub fn apply(&self, ops: Vec<LexicalOp>) -> Result<()> {
        let f = self.fields;
        self.with_writer(|writer| {
            for op in ops {
                match op {
                    LexicalOp::DeleteFile(file_id) => {
                        writer.delete_term(Term::from_field_u64(f.file_id, id_u64(file_id)));
                    }
                    LexicalOp::Add {
                        chunk_id,
                        file_id,
                        page,
                        title,
                        body,
                    } => {
                        // Two values of one field: a phrase cannot run from the title into the passage.
                        writer.add_document(doc!(
                            f.chunk_id => id_u64(chunk_id),
                            f.file_id => id_u64(file_id),
                            f.page => u64::from(page),
                            f.title => title.clone(),
                            f.text => title,
                            f.text => body,
                        ))?;
                    }
                }
            }
            writer.commit()?;
            Ok(())
        })?;
        self.reader.reload()?;
        Ok(())
    }

    /// Drops every document (before a rebuild from the catalog).
    pub fn clear(&self) -> Result<()> {
        self.with_writer(|writer| {
            writer.delete_all_documents()?;
            writer.commit()?;
            Ok(())
        })?;
        self.reader.reload()?;
        Ok(())
    }

    /// Releases the writer and its lock, waiting for merges to finish.
    pub fn close_writer(&self) -> Result<()> {
        let writer = self.writer.lock().ok().and_then(|mut g| g.take());
        if let Some(writer) = writer {
            writer.wait_merging_threads()?;
        }
        Ok(())
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// BM25 search over each passage with its title. Any input is accepted: plain words are
    /// analysed like the indexed text; input with deliberate query syntax
    /// ("exact phrase", -exclude, +require, title:word) goes through tantivy's
    /// parser in lenient mode, which drops what it cannot read instead of failing.
    pub fn search(&self, query_text: &str, limit: usize) -> Result<LexicalResults> {
        self.search_within(query_text, limit, None)
    }

    /// [`LexicalIndex::search`] over the passages of `files` only, when given: the
    /// restriction is part of the query, so the best `limit` passages of those files come
    /// back however the rest of the library ranks.
    pub fn search_within(
        &self,
        query_text: &str,
        limit: usize,
        files: Option<&[FileId]>,
    ) -> Result<LexicalResults> {
        let searcher = self.reader.searcher();
        let query = self.parse(query_text);
        let restricted: Box<dyn Query> = match files {
            None => query.box_clone(),
            Some(files) => {
                let terms = files
                    .iter()
                    .map(|&file| Term::from_field_u64(self.fields.file_id, id_u64(file)));
                Box::new(BooleanQuery::new(vec![
                    (Occur::Must, query.box_clone()),
                    (Occur::Must, Box::new(TermSetQuery::new(terms))),
                ]))
            }
        };
        let top = searcher.search(&restricted, &TopDocs::with_limit(limit.max(1)))?;
        let f = self.fields;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let number = |field| doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0);
            hits.push(LexicalHit {
                chunk_id: i64::try_from(number(f.chunk_id)).unwrap_or(i64::MAX),
                file_id: i64::try_from(number(f.file_id)).unwrap_or(i64::MAX),
                page: u32::try_from(number(f.page)).unwrap_or(0),
                score,
            });
        }
        let mut snippets = SnippetGenerator::create(&searcher, &*query, f.text)?;
        snippets.set_max_num_chars(SNIPPET_CHARS);
        Ok(LexicalResults { hits, snippets })
    }

    fn parse(&self, query_text: &str) -> Box<dyn Query> {
        if !has_query_syntax(query_text) || !parser_can_take(query_text) {
            return self.terms_query(query_text);
        }
        let mut defaults = vec![self.fields.text];
        if self.title_boost > 0.0 {
            defaults.push(self.fields.title);
        }
        let mut parser = QueryParser::for_index(&self.index, defaults);
        // Also for title:word, which a boost of 0 would score 0.
        if self.title_boost > 0.0 {
            parser.set_field_boost(self.fields.title, self.title_boost);
        }
        let (query, errors) = parser.parse_query_lenient(&sanitize(query_text));
        if !errors.is_empty() {
            tracing::debug!(?errors, "parts of the query were ignored");
        }
        query
    }

    /// Every analysed word of the query, matched in the passage with its title (and in the
    /// title alone, boosted, when `title_boost` is set); scores add up. Unlike the query parser, a hyphenated or
    /// punctuated word ("low-carb", "B12's") is its words, not a strict phrase.
    fn terms_query(&self, query_text: &str) -> Box<dyn Query> {
        let mut analyzer = english_analyzer();
        let mut stream = analyzer.token_stream(query_text);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        while let Some(token) = stream.next() {
            if clauses.len() >= 2 * MAX_QUERY_TERMS {
                break;
            }
            let term_in = |field| {
                TermQuery::new(
                    Term::from_field_text(field, &token.text),
                    IndexRecordOption::WithFreqs,
                )
            };
            if self.title_boost > 0.0 {
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(term_in(self.fields.title)),
                        self.title_boost,
                    )),
                ));
            }
            clauses.push((Occur::Should, Box::new(term_in(self.fields.text))));
        }
        Box::new(BooleanQuery::new(clauses))
    }
}

/// Whether the text uses query syntax on purpose: quotes, a leading + or -,
/// or a field name (title:, text:, and body:, which is read as text:).
fn has_query_syntax(query: &str) -> bool {
    query.contains('"')
        || query.split_whitespace().any(|word| {
            (word.len() > 1 && (word.starts_with('-') || word.starts_with('+')))
                || word.starts_with("title:")
                || word.starts_with("text:")
                || word.starts_with("body:")
        })
}

/// Whether tantivy's parser may read this query: short enough, and nested no deeper
/// than [`MAX_QUERY_NESTING`] brackets.
fn parser_can_take(query: &str) -> bool {
    if query.chars().count() > MAX_PARSED_QUERY_CHARS {
        return false;
    }
    let mut depth = 0usize;
    for c in query.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_QUERY_NESTING {
                    return false;
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// Keeps the query syntax people use on purpose ("phrases", -exclusions,
/// title:words) and neutralises what ordinary text triggers by accident: a colon
/// after a word that is not a field name ("Diet: a review") would otherwise
/// select a field that does not exist and lose the word.
fn sanitize(query: &str) -> String {
    query
        .split_inclusive(char::is_whitespace)
        .map(|word| {
            // "-title:x" excludes and "+title:x" requires: the sign belongs to the clause.
            let (sign, unsigned) = word.split_at(usize::from(word.starts_with(['+', '-'])));
            match unsigned.split_once(':') {
                // A field name only with something after it: "Full text: …" keeps its word.
                Some((field, rest)) if !rest.trim().is_empty() && (field == "title" || field == "text") => {
                    word.to_string()
                }
                // The passage's field was called body once.
                Some(("body", rest)) if !rest.trim().is_empty() => format!("{sign}text:{rest}"),
                Some(_) => word.replace(':', " "),
                None => word.to_string(),
            }
        })
        .collect()
}

fn english_analyzer() -> TextAnalyzer {
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser);
    match StopWordFilter::new(Language::English) {
        Some(stop_words) => builder
            .filter(stop_words)
            .filter(Stemmer::new(Language::English))
            .build(),
        None => builder.filter(Stemmer::new(Language::English)).build(),
    }
}

fn schema() -> Schema {
    let mut builder = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let id = NumericOptions::default().set_indexed().set_stored().set_fast();
    builder.add_u64_field("chunk_id", id.clone());
    builder.add_u64_field("file_id", id);
    builder.add_u64_field("page", NumericOptions::default().set_stored());
    builder.add_text_field("title", text.clone());
    builder.add_text_field("text", text);
    builder.build()
}

fn fields_of(schema: &Schema) -> Result<Fields> {
    let field = |name: &str| {
        schema.get_field(name).map_err(|_| {
            Error::Lexical(tantivy::TantivyError::SchemaError(format!(
                "the full-text index has no field {name:?}; it was made by another version of Quire"
            )))
        })
    };
    Ok(Fields {
        chunk_id: field("chunk_id")?,
        file_id: field("file_id")?,
        page: field("page")?,
        title: field("title")?,
        text: field("text")?,
    })
}

fn id_u64(id: i64) -> u64 {
    u64::try_from(id).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accidental_colons_are_words_and_field_syntax_is_kept() {
        assert_eq!(sanitize("Diet: a review"), "Diet  a review");
        assert_eq!(sanitize("title:garden plan"), "title:garden plan");
        assert_eq!(sanitize("body:garden plan"), "text:garden plan");
        assert_eq!(sanitize("plan -body:garden"), "plan -text:garden");
        assert_eq!(
            sanitize("plan -title:garden +text:pond"),
            "plan -title:garden +text:pond"
        );
        assert_eq!(sanitize("Full text: a review"), "Full text  a review");
        assert!(!has_query_syntax("low-carb diets: a review"));
        assert!(has_query_syntax("\"green tea\" -coffee"));
    }

    #[test]
    fn deeply_nested_or_very_long_queries_are_read_as_words() {
        let dir = tempfile::tempdir().unwrap();
        let (index, _, _) = open(dir.path(), 1.2);
        index
            .apply(vec![LexicalOp::Add {
                chunk_id: 1,
                file_id: 1,
                page: 1,
                title: String::new(),
                body: "Pruning the apple tree in February".into(),
            }])
            .unwrap();
        // Query syntax (a field, a quote) with 1,200 brackets: once a stack overflow.
        for query in [
            format!("title:{} apple", "(".repeat(1_200)),
            format!("\"apple tree\" {}", "(".repeat(1_200)),
            format!("+apple {}", "[{".repeat(600)),
        ] {
            let results = index.search(&query, 10).unwrap();
            assert_eq!(results.hits.len(), 1, "{}", &query[..20]);
        }
        let pasted = format!("+pruning {}", "orchard ".repeat(2_000));
        assert_eq!(index.search(&pasted, 10).unwrap().hits.len(), 1);
        assert!(parser_can_take("title:(apple tree) -pear"));
    }

    #[test]
    fn stemmed_search_finds_chunks_and_deletes_by_file() {
        let dir = tempfile::tempdir().unwrap();
        let (index, created, _) = open(dir.path(), 1.5);
        assert!(created);
        let add = |chunk_id, file_id, body: &str| LexicalOp::Add {
            chunk_id,
            file_id,
            page: 1,
            title: String::new(),
            body: body.to_string(),
        };
        index
            .apply(vec![
                add(1, 10, "Running shoes for marathon runners"),
                add(2, 11, "A recipe for apple pie"),
            ])
            .unwrap();
        let results = index.search("runner (shoe", 10).unwrap();
        assert_eq!(results.hits.len(), 1);
        assert_eq!(results.hits[0].chunk_id, 1);
        index.apply(vec![LexicalOp::DeleteFile(10)]).unwrap();
        assert!(index.search("runner shoe", 10).unwrap().hits.is_empty());
        assert_eq!(index.num_docs(), 1);
    }

    #[test]
    fn a_title_word_finds_each_passage_of_its_file_and_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        let (index, _, _) = open(dir.path(), 0.0);
        let add = |chunk_id, file_id, title: &str, body: &str| LexicalOp::Add {
            chunk_id,
            file_id,
            page: 1,
            title: title.to_string(),
            body: body.to_string(),
        };
        index
            .apply(vec![
                add(1, 10, "Boiler service log", "Annual inspection by the engineer."),
                add(2, 10, "Boiler service log", "Pressure topped up in March."),
                add(
                    3,
                    11,
                    "Garden notes",
                    "The boiler shed needs a new roof; boiler parts are stored there.",
                ),
            ])
            .unwrap();
        let hits = index.search("pressure", 10).unwrap().hits;
        assert_eq!(hits.iter().map(|h| h.chunk_id).collect::<Vec<_>>(), [2]);
        // "boiler" once in each title: both passages of the log are found by it.
        let hits = index.search("boiler", 10).unwrap().hits;
        let mut found: Vec<_> = hits.iter().map(|h| h.chunk_id).collect();
        found.sort();
        assert_eq!(found, [1, 2, 3]);
        // A title word is one more word of the passage, not a second, separately scored match:
        // the garden note that says "boiler" twice ranks above a passage that says it once
        // (in its title).
        assert_eq!(hits[0].chunk_id, 3);
        assert_eq!(index.search("title:garden", 10).unwrap().hits.len(), 1);
        // Excluding by a field: the signed clause keeps its field, as the body field's old name.
        let ids = |query: &str| {
            let mut ids: Vec<_> = index
                .search(query, 10)
                .unwrap()
                .hits
                .iter()
                .map(|h| h.chunk_id)
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(ids("boiler -title:garden"), [1, 2]);
        assert_eq!(ids("boiler -body:pressure"), [1, 3]);
    }

    #[test]
    fn an_index_of_an_earlier_layout_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = Schema::builder();
        builder.add_text_field("body", TextOptions::default());
        Index::create_in_dir(dir.path(), builder.build()).unwrap();
        // While another process holds the writer lock, the old index stays as it is.
        let busy = LexicalIndex::open(dir.path(), 0.0, || -> Result<()> {
            Err(Error::Busy {
                data_dir: dir.path().to_path_buf(),
                pid: None,
            })
        });
        assert!(matches!(busy, Err(Error::Busy { .. })));
        assert!(Index::open_in_dir(dir.path()).is_ok_and(|old| old.schema().get_field("body").is_ok()));
        let (index, created, held) = open(dir.path(), 0.0);
        assert!(created, "the caller must refill it");
        assert!(held.is_some(), "it was replaced under the lock");
        assert_eq!(index.num_docs(), 0);
    }

    /// Opens with a lock that is always free.
    fn open(dir: &Path, title_boost: f32) -> (LexicalIndex, bool, Option<()>) {
        LexicalIndex::open(dir, title_boost, || Ok(())).unwrap()
    }
}
