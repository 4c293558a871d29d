//! Semantic retrieval in the engine: meaning is found without shared words,
//! hybrid search keeps exact terms, the vector graph survives reopening, never
//! returns removed passages, and is rebuilt from the catalog when damaged.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use quire_engine::embed::EmbedderChoice;
use quire_engine::progress::NoProgress;
use quire_engine::retrieve::{Feedback, SearchMode};
use quire_engine::Engine;

fn write_corpus(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    let docs = [
        ("heating.md", "# Home heating\n\nIf the radiators stay cold, bleed the trapped air and top up the boiler pressure to 1.2 bar."),
        ("bread.txt", "Sourdough needs an active starter, a long cold proof in the fridge and a very hot oven."),
        ("travel.txt", "Employees book rail for journeys under four hours; flights need a department head's approval."),
        ("garden.txt", "Tomatoes are sown indoors in March and planted out after the last frost in May."),
        ("finance.txt", "Quarterly revenue grew twelve percent while operating costs fell, lifting the margin."),
    ];
    for (name, text) in docs {
        std::fs::write(root.join(name), text).unwrap();
    }
}

async fn indexed(tmp: &Path) -> (Engine, PathBuf, PathBuf) {
    let root = tmp.join("docs");
    write_corpus(&root);
    let root = root.canonicalize().unwrap();
    let data = tmp.join("data");
    let engine = Engine::open(config(&data)).await.unwrap();
    engine.index_folder(&root, &NoProgress).await.unwrap();
    (engine, root, data)
}

fn files(hits: &[quire_engine::retrieve::SearchHit]) -> Vec<String> {
    hits.iter()
        .map(|h| h.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn meaning_is_found_without_shared_words() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, _, _) = indexed(tmp.path()).await;
    // No word of this question is in heating.md (stemmed or not).
    let question = "my flat is chilly, what should I do?";
    assert!(engine
        .search(question, SearchMode::Bm25, 5)
        .await
        .unwrap()
        .is_empty());
    let vector = engine.search(question, SearchMode::Vector, 5).await.unwrap();
    assert_eq!(files(&vector)[0], "heating.md", "{:?}", files(&vector));
    let hybrid = engine.search(question, SearchMode::Hybrid, 5).await.unwrap();
    assert_eq!(files(&hybrid)[0], "heating.md");

    // Hybrid keeps exact terms: a rare word only BM25 can match precisely.
    let exact = engine.search("margin", SearchMode::Hybrid, 5).await.unwrap();
    assert_eq!(files(&exact)[0], "finance.txt");
    assert!(exact[0].snippet.marked("[", "]").contains("[margin]"));

    let status = engine.status().await.unwrap();
    assert_eq!(status.vectors, Some(5));
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn feedback_moves_a_question_towards_the_passages_it_is_given_also_after_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, _, data) = indexed(tmp.path()).await;
    let question = "my flat is chilly, what should I do?";
    let margin = engine.search("margin", SearchMode::Bm25, 1).await.unwrap();
    let finance = margin[0].chunk_id;
    let towards_finance = Feedback {
        passages: 1,
        weight: 3.0,
    };
    let check = |engine: &Engine| {
        let vector = engine.embed_query(question).unwrap();
        let nearest = engine.search_by_vector(&vector, 5).unwrap();
        assert_ne!(nearest[0].0, finance, "the question alone is about heating");
        let moved = engine
            .moved_query(&towards_finance, &vector, &[finance])
            .unwrap()
            .expect("the passage has a vector");
        let norm: f32 = moved.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-4,
            "a unit vector, as passages are: {norm}"
        );
        let moved_nearest = engine.search_by_vector(&moved, 5).unwrap();
        assert_eq!(moved_nearest[0].0, finance, "{moved_nearest:?}");
        // A passage the library does not hold gives nothing to move towards.
        assert!(engine
            .moved_query(&towards_finance, &vector, &[finance + 1_000_000])
            .unwrap()
            .is_none());
    };
    check(&engine);
    engine.close().await.unwrap();
    // The graph read back from disk holds the same vectors.
    let engine = Engine::open(config(&data)).await.unwrap();
    check(&engine);
    // Hybrid search, which feeds its two best passages back, keeps what it found first on top.
    let hybrid = engine.search(question, SearchMode::Hybrid, 5).await.unwrap();
    assert_eq!(files(&hybrid)[0], "heating.md", "{:?}", files(&hybrid));
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn vectors_persist_forget_removed_files_and_rebuild_when_damaged() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, root, data) = indexed(tmp.path()).await;
    let query = "when do I put the seedlings outside";
    let before = engine.search(query, SearchMode::Vector, 5).await.unwrap();
    assert_eq!(files(&before)[0], "garden.txt");
    engine.close().await.unwrap();

    // Reopened: the same results, from the saved graph.
    let engine = Engine::open(config(&data)).await.unwrap();
    let after = engine.search(query, SearchMode::Vector, 5).await.unwrap();
    let ids = |hits: &[quire_engine::retrieve::SearchHit]| {
        hits.iter().map(|h| (h.chunk_id, h.page)).collect::<Vec<_>>()
    };
    assert_eq!(ids(&before), ids(&after));

    // A deleted file's passages never come back, even as distant neighbours.
    std::fs::remove_file(root.join("garden.txt")).unwrap();
    engine.index_folder(&root, &NoProgress).await.unwrap();
    for mode in [SearchMode::Vector, SearchMode::Hybrid] {
        let hits = engine.search(query, mode, 50).await.unwrap();
        assert!(
            !files(&hits).contains(&"garden.txt".to_string()),
            "{mode:?}: {:?}",
            files(&hits)
        );
        assert_eq!(hits.len(), 4, "every other file is still found");
    }
    engine.close().await.unwrap();

    // A truncated graph file: opening rebuilds the graph from the catalog.
    let graph_dir = data.join("vectors").join("graph");
    let graph_file = std::fs::read_dir(&graph_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".hnsw.graph"))
        .expect("a saved graph");
    let length = std::fs::metadata(&graph_file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&graph_file)
        .unwrap()
        .set_len(length / 2)
        .unwrap();
    let engine = Engine::open(config(&data)).await.unwrap();
    let hits = engine
        .search("sourdough oven", SearchMode::Vector, 5)
        .await
        .unwrap();
    assert_eq!(files(&hits)[0], "bread.txt");
    assert_eq!(hits.len(), 4);
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_model_keyword_search_works_and_indexing_says_how_to_get_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, root, data) = indexed(tmp.path()).await;
    engine.close().await.unwrap();

    let mut no_model = config(&data);
    no_model.models_dir = tmp.path().join("no-models");
    let engine = Engine::open(no_model).await.unwrap();
    let hits = engine.search("sourdough", SearchMode::Bm25, 5).await.unwrap();
    assert_eq!(files(&hits), ["bread.txt"]);
    let message = engine
        .index_folder(&root, &NoProgress)
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("fetch-models.sh"), "{message}");
    let message = engine
        .search("bread", SearchMode::Hybrid, 5)
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("embedding model"), "{message}");
    let status = engine.status().await.unwrap();
    assert!(status.model_problem.is_some());
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_folder_quire_cannot_read_leaves_keyword_search_working_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, _, data) = indexed(tmp.path()).await;
    engine.close().await.unwrap();

    // The default model's folder, with one of its files unreadable (a folder in its place:
    // reading it fails even for an administrator, as a file without read permission would).
    let models = tmp.path().join("models");
    let folder = models.join("all-MiniLM-L6-v2");
    std::fs::create_dir_all(&folder).unwrap();
    for entry in std::fs::read_dir(common::models_dir().join("all-MiniLM-L6-v2")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "sentence_bert_config.json" {
            std::os::unix::fs::symlink(entry.path(), folder.join(entry.file_name())).unwrap();
        }
    }
    std::fs::create_dir(folder.join("sentence_bert_config.json")).unwrap();
    let mut unreadable = config(&data);
    unreadable.models_dir = models;
    let engine = Engine::open(unreadable).await.unwrap();
    let hits = engine.search("sourdough", SearchMode::Bm25, 5).await.unwrap();
    assert_eq!(files(&hits), ["bread.txt"]);
    let problem = engine.status().await.unwrap().model_problem.unwrap();
    assert!(problem.contains("sentence_bert_config.json"), "{problem}");
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_embedding_setup_re_embeds_from_the_catalog_without_extracting_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, root, data) = indexed(tmp.path()).await;
    engine.close().await.unwrap();

    // Other passage/query prefixes make other vectors: the stored ones are stale.
    let mut changed = config(&data);
    changed.query_prefix = Some("query: ".into());
    changed.passage_prefix = Some("passage: ".into());
    let engine = Engine::open(changed.clone()).await.unwrap();
    assert_eq!(
        engine.status().await.unwrap().vectors,
        Some(0),
        "stale vectors are dropped"
    );
    let report = engine.index_folder(&root, &NoProgress).await.unwrap();
    assert!(
        report.extracted.is_empty(),
        "nothing is extracted again: {:?}",
        report.extracted
    );
    assert_eq!(engine.status().await.unwrap().vectors, Some(5));
    let hits = engine
        .search("sourdough oven", SearchMode::Vector, 5)
        .await
        .unwrap();
    assert_eq!(files(&hits)[0], "bread.txt");
    engine.close().await.unwrap();

    // Reopened with the same setup: nothing to redo.
    let engine = Engine::open(changed).await.unwrap();
    assert_eq!(engine.status().await.unwrap().vectors, Some(5));
    engine.close().await.unwrap();
}

/// A second embedding model for tests: nomic-embed-text-v1.5 (GGUF, run by llama.cpp,
/// 768 dimensions where the default has 384), linked into the test's models folder.
fn another_embedder(models: &Path) -> EmbedderChoice {
    let model = models.join("nomic-embed-text-v1.5.f16.gguf");
    std::fs::create_dir_all(models).unwrap();
    std::os::unix::fs::symlink(
        common::models_dir().join("nomic-embed-text-v1.5.f16.gguf"),
        &model,
    )
    .unwrap();
    EmbedderChoice { model, int8: false }
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_embedder_re_embeds_the_library_while_search_goes_on() {
    use quire_engine::cancel::CancelToken;
    use quire_engine::progress::Progress;
    use std::sync::{mpsc, Arc, Mutex};

    let tmp = tempfile::tempdir().unwrap();
    let (engine, _, data) = indexed(tmp.path()).await;
    let engine = Arc::new(engine);
    let second = another_embedder(&tmp.path().join("models"));
    let question = "my flat is chilly, what should I do?";

    // Stopped before it ends, nothing changes.
    let cancel = CancelToken::new();
    cancel.cancel();
    let stopped = engine.change_embedder(&second, &NoProgress, &cancel).await;
    assert!(
        matches!(stopped, Err(quire_engine::Error::Cancelled)),
        "{stopped:?}"
    );
    // A folder without a model is refused with the reason, and nothing changes.
    let error = engine
        .change_embedder(
            &EmbedderChoice {
                model: tmp.path().join("nothing"),
                int8: false,
            },
            &NoProgress,
            &CancelToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, quire_engine::Error::Model { .. }), "{error}");

    // The change pauses at its first progress report, mid-way: search still answers then,
    // from the model and vectors in use.
    let (reported, reports) = mpsc::channel::<Progress>();
    let (resume, resumed) = mpsc::channel::<()>();
    let resumed = Mutex::new(resumed);
    let sink = move |progress: &Progress| {
        if progress.done > 0 && reported.send(progress.clone()).is_ok() {
            let _ = resumed.lock().unwrap().recv();
        }
    };
    let change = {
        let engine = engine.clone();
        let second = second.clone();
        tokio::spawn(async move { engine.change_embedder(&second, &sink, &CancelToken::new()).await })
    };
    let first = tokio::task::spawn_blocking(move || reports.recv().unwrap())
        .await
        .unwrap();
    assert_eq!(first.total, 5, "{first:?}");
    let during = engine.search(question, SearchMode::Vector, 5).await.unwrap();
    assert_eq!(files(&during)[0], "heating.md");
    // Answer settings saved meanwhile apply at once, and are still in force after the change.
    let mut settings = engine.config().answer_settings();
    settings.max_sources = 3;
    engine.apply_answer_settings(&settings).await.unwrap();
    assert_eq!(engine.config().max_sources, 3);
    drop(resume);
    change.await.unwrap().unwrap();
    assert_eq!(
        engine.config().max_sources,
        3,
        "finishing the change must not put back the settings it began with"
    );
    assert_eq!(engine.config().embedder_choice(), second);

    // Every passage has its vector from the new model, and search uses it.
    assert_eq!(engine.status().await.unwrap().vectors, Some(5));
    let after = engine.search(question, SearchMode::Vector, 5).await.unwrap();
    assert_eq!(files(&after)[0], "heating.md");
    quire_engine::config::save_embedder(&data, &second).unwrap();
    Arc::into_inner(engine).unwrap().close().await.unwrap();

    // Saved, the choice holds at the next start, with the vectors made by it; the old
    // model would find them stale.
    let config = quire_engine::Config::load(&data).unwrap();
    assert_eq!(config.embedder_choice(), second);
    let mut reopened_config = common::config(&data);
    reopened_config.embedder = second.model.clone();
    reopened_config.embedder_int8 = second.int8;
    let engine = Engine::open(reopened_config).await.unwrap();
    assert_eq!(engine.status().await.unwrap().vectors, Some(5));
    engine.close().await.unwrap();
    let engine = Engine::open(common::config(&data)).await.unwrap();
    assert_eq!(engine.status().await.unwrap().vectors, Some(0));
    engine.close().await.unwrap();
}
