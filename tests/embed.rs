//! Both embedding runtimes reproduce reference sentence vectors computed
//! independently (tests/reference/minilm_reference.py: a float64 NumPy BERT;
//! tests/reference/nomic_reference.py: a float64 NumPy nomic-bert read from the GGUF
//! file), and rank paraphrases above unrelated text.

mod common;

use quire_engine::embed::{Embedder, EmbedderOptions};

fn embedder() -> Embedder {
    Embedder::load(
        &common::models_dir().join("all-MiniLM-L6-v2"),
        &EmbedderOptions::default(),
    )
    .unwrap()
}

const NOMIC: &str = "nomic-embed-text-v1.5.f16.gguf";

/// nomic-embed-text-v1.5 run by llama.cpp, as stored (F16) or quantised to int8 (Q8_0).
fn nomic(int8: bool) -> Embedder {
    let options = EmbedderOptions {
        int8,
        ..EmbedderOptions::default()
    };
    Embedder::load(&common::models_dir().join(NOMIC), &options).unwrap()
}

/// The reference vectors of `file` as (text, kind, vector); kind is "passage" or "query"
/// where the reference distinguishes them.
fn reference(json: &str) -> Vec<(String, String, Vec<f64>)> {
    let reference: serde_json::Value = serde_json::from_str(json).unwrap();
    reference
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let vector = entry["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let kind = entry["as"].as_str().unwrap_or("passage").to_string();
            (entry["text"].as_str().unwrap().to_string(), kind, vector)
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * y).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|y| y.powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn vectors_match_the_reference_implementation() {
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("reference/minilm_reference.json")).unwrap();
    let entries = reference.as_array().unwrap();
    let texts: Vec<&str> = entries.iter().map(|e| e["text"].as_str().unwrap()).collect();
    let embedder = embedder();
    // Batched together (with padding) and one by one: both must match.
    let batched = embedder.embed_passages(&texts).unwrap();
    for (entry, vector) in entries.iter().zip(&batched) {
        let expected: Vec<f64> = entry["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(vector.len(), 384);
        let similarity = cosine(vector, &expected);
        assert!(similarity >= 0.999, "{:?}: cosine {similarity}", entry["text"]);
        let alone = embedder.embed_query(entry["text"].as_str().unwrap()).unwrap();
        let similarity = cosine(&alone, &expected);
        assert!(
            similarity >= 0.999,
            "{:?} alone: cosine {similarity}",
            entry["text"]
        );
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "vectors are normalised: {norm}");
    }
}

#[test]
fn paraphrases_are_closer_than_unrelated_sentences() {
    let embedder = embedder();
    let vectors = embedder
        .embed_passages(&[
            "How do I reset my password?",
            "Steps to recover a forgotten login password",
            "The boiler pressure gauge reads 1.5 bar",
        ])
        .unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(dot(&vectors[0], &vectors[1]) > dot(&vectors[0], &vectors[2]) + 0.3);
}

#[test]
fn a_missing_or_broken_model_folder_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let message = Embedder::load(&tmp.path().join("nowhere"), &EmbedderOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        message.contains("does not exist") && message.contains("fetch-models.sh"),
        "{message}"
    );
    std::fs::write(tmp.path().join("config.json"), "{}").unwrap();
    std::fs::write(tmp.path().join("model.safetensors"), "not weights").unwrap();
    std::fs::write(tmp.path().join("tokenizer.json"), "{}").unwrap();
    let message = Embedder::load(tmp.path(), &EmbedderOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        message.contains("config.json is not a BERT configuration"),
        "{message}"
    );
}

/// Each reference text embedded as the reference did (with the passage or the query
/// prefix), in one batch with the others of its kind and alone; the least cosine to
/// the reference vector over all of them.
fn least_cosine_to_reference(embedder: &Embedder, reference: &[(String, String, Vec<f64>)]) -> f64 {
    let mut least = f64::MAX;
    let passages: Vec<&(String, String, Vec<f64>)> = reference.iter().filter(|r| r.1 == "passage").collect();
    let texts: Vec<&str> = passages.iter().map(|r| r.0.as_str()).collect();
    let batched = embedder.embed_passages(&texts).unwrap();
    for (entry, vector) in passages.iter().zip(&batched) {
        assert_eq!(vector.len(), entry.2.len());
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "vectors are normalised: {norm}");
        least = least.min(cosine(vector, &entry.2));
        let alone = embedder.embed_passages(&[entry.0.as_str()]).unwrap();
        least = least.min(cosine(&alone[0], &entry.2));
    }
    for (text, _, expected) in reference.iter().filter(|r| r.1 == "query") {
        least = least.min(cosine(&embedder.embed_query(text).unwrap(), expected));
    }
    least
}

#[test]
fn llama_cpp_runs_nomic_as_the_reference_does() {
    let reference = reference(include_str!("reference/nomic_reference.json"));
    let embedder = nomic(false);
    assert_eq!(embedder.dimension(), 768);
    let least = least_cosine_to_reference(&embedder, &reference);
    assert!(least >= 0.999, "F16: least cosine to the reference {least}");
}

#[test]
fn nomic_quantised_to_int8_stays_close_to_the_reference() {
    let reference = reference(include_str!("reference/nomic_reference.json"));
    let embedder = nomic(true);
    assert!(embedder.identity().contains("q8_0"), "{}", embedder.identity());
    let least = least_cosine_to_reference(&embedder, &reference);
    assert!(least >= 0.995, "Q8_0: least cosine to the reference {least}");
}

#[test]
fn nomic_ranks_paraphrases_above_unrelated_text_and_queries_get_their_prefix() {
    let embedder = nomic(false);
    assert_eq!(embedder.profile().query_prefix, "search_query: ");
    let passages = embedder
        .embed_passages(&[
            "Steps to recover a forgotten login password",
            "The boiler pressure gauge reads 1.5 bar",
        ])
        .unwrap();
    let query = embedder.embed_query("How do I reset my password?").unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(dot(&query, &passages[0]) > dot(&query, &passages[1]) + 0.1);
}

#[test]
fn a_chat_model_or_a_damaged_gguf_is_not_taken_for_an_embedder() {
    let chat = common::models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(!Embedder::is_model(&chat));
    let message = Embedder::load(&chat, &EmbedderOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(message.contains("not an embedding model"), "{message}");
    let tmp = tempfile::tempdir().unwrap();
    let damaged = tmp.path().join("embedder.gguf");
    std::fs::write(&damaged, b"GGUF\x03\x00\x00\x00\xff").unwrap();
    let message = Embedder::load(&damaged, &EmbedderOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(message.contains("damaged GGUF file"), "{message}");
}

/// A passage whose last sentence lies beyond what the model reads at once (about
/// `filler_sentences` sentences of gardening, then one about the boiler).
fn long_passage(filler_sentences: usize) -> (String, String) {
    let filler: String = (0..filler_sentences)
        .map(|i| {
            format!("In bed {i} the tomatoes were watered at dawn and the lettuce was thinned by hand. ")
        })
        .collect();
    let passage = format!(
        "{filler}The boiler pressure gauge must read between 1 and 1.5 bar when the heating is cold."
    );
    (filler, passage)
}

/// The tail of a long passage counts for search by meaning: the passage is embedded in
/// windows, so the boiler sentence at its end moves it towards a question on boilers.
fn tail_is_seen(embedder: &Embedder, filler_sentences: usize) {
    let (filler, passage) = long_passage(filler_sentences);
    assert!(
        embedder.count_tokens(&passage).unwrap() > embedder.max_tokens(),
        "the passage must be longer than the model reads at once"
    );
    let vectors = embedder.embed_passages(&[&filler, &passage]).unwrap();
    let query = embedder
        .embed_query("what pressure should the boiler gauge show?")
        .unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let (without, with) = (dot(&query, &vectors[0]), dot(&query, &vectors[1]));
    assert!(
        with > without + 0.02,
        "with the boiler sentence {with}, without {without}"
    );
}

#[test]
fn the_end_of_a_passage_longer_than_minilm_reads_still_counts() {
    tail_is_seen(&embedder(), 25);
}

#[test]
fn the_end_of_a_passage_longer_than_nomic_reads_still_counts() {
    tail_is_seen(&nomic(false), 80);
}

#[test]
fn minilm_in_int8_on_llama_cpp_stays_close_to_the_reference() {
    let options = EmbedderOptions {
        int8: true,
        ..EmbedderOptions::default()
    };
    let embedder = Embedder::load(&common::models_dir().join("all-MiniLM-L6-v2"), &options).unwrap();
    assert!(embedder.identity().contains("q8_0"), "{}", embedder.identity());
    let reference = reference(include_str!("reference/minilm_reference.json"));
    let least = least_cosine_to_reference(&embedder, &reference);
    assert!(
        least >= 0.99,
        "MiniLM Q8_0: least cosine to the reference {least}"
    );
}

/// Many sentence-transformers folders end without a Normalize module; Quire compares by
/// cosine everywhere (the vector store, the evidence check, every threshold), so their
/// vectors are unit vectors all the same, pointing where the normalised model's do.
#[test]
fn a_model_folder_without_a_normalize_module_still_gives_unit_vectors() {
    let original = common::models_dir().join("all-MiniLM-L6-v2");
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("minilm-unnormalised");
    std::fs::create_dir_all(folder.join("1_Pooling")).unwrap();
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "sentence_bert_config.json",
    ] {
        std::os::unix::fs::symlink(original.join(file), folder.join(file)).unwrap();
    }
    std::os::unix::fs::symlink(
        original.join("1_Pooling").join("config.json"),
        folder.join("1_Pooling").join("config.json"),
    )
    .unwrap();
    std::fs::write(
        folder.join("modules.json"),
        r#"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]"#,
    )
    .unwrap();
    let unnormalised = Embedder::load(&folder, &EmbedderOptions::default()).unwrap();
    let texts = [
        "Bleed the radiators when they stay cold at the top.",
        "Quarterly revenue grew twelve percent.",
    ];
    let vectors = unnormalised.embed_passages(&texts).unwrap();
    let normalised = embedder().embed_passages(&texts).unwrap();
    for (vector, reference) in vectors.iter().zip(&normalised) {
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "length {norm}");
        let cosine: f32 = vector.iter().zip(reference).map(|(a, b)| a * b).sum();
        assert!(cosine > 0.9999, "cosine to the normalised model {cosine}");
    }
}

/// The llama.cpp runtime embeds on one thread; a question asked while indexing hands it
/// a slice of passages is embedded between two of them, not after the whole slice (a
/// search typed during indexing would otherwise wait seconds with nomic-embed-text).
#[test]
fn a_question_is_not_kept_waiting_behind_a_slice_of_passages() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let options = EmbedderOptions {
        int8: true,
        ..EmbedderOptions::default()
    };
    let embedder =
        Arc::new(Embedder::load(&common::models_dir().join("all-MiniLM-L6-v2"), &options).unwrap());
    // Loads the weights, so the slice below starts at once.
    embedder.embed_query("warm up").unwrap();
    let passages: Vec<String> = (0..120).map(|seed| common::prose(seed, 12)).collect();
    let slice_done = Arc::new(AtomicBool::new(false));
    let slice = {
        let (embedder, slice_done) = (embedder.clone(), slice_done.clone());
        std::thread::spawn(move || {
            let refs: Vec<&str> = passages.iter().map(String::as_str).collect();
            let vectors = embedder.embed_passages(&refs).unwrap();
            slice_done.store(true, Ordering::SeqCst);
            vectors
        })
    };
    // Asked once the slice is under way (asked before it, the question would go first anyway).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let question = embedder.embed_query("how do I bleed a radiator?").unwrap();
    assert!(
        !slice_done.load(Ordering::SeqCst),
        "the question was embedded only after the whole slice of 120 passages"
    );
    assert_eq!(question.len(), embedder.dimension());
    assert_eq!(slice.join().unwrap().len(), 120);
}
