//! The embedder reproduces reference sentence vectors computed independently
//! (tests/reference/minilm_reference.py: a float64 NumPy BERT), and ranks
//! paraphrases above unrelated text.

mod common;

use quire_engine::embed::Embedder;

fn embedder() -> Embedder {
    Embedder::load(&common::models_dir().join("all-MiniLM-L6-v2"), "", "").unwrap()
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
    let message = Embedder::load(&tmp.path().join("nowhere"), "", "")
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
    let message = Embedder::load(tmp.path(), "", "").err().unwrap().to_string();
    assert!(
        message.contains("config.json is not a BERT configuration"),
        "{message}"
    );
}
