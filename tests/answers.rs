//! Answers, conversations and summaries with the real small model (SmolLM2-135M,
//! GGUF Q4_1), on every generation runtime this build has: each scenario below
//! runs once per runtime (modules `llama_cpp` and `mistralrs`). Assertions are on
//! structure and citations, never on wording.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};

use common::*;
use quire_engine::answer::{self, AskOptions};
use quire_engine::cancel::CancelToken;
use quire_engine::llm::Runtime;
use quire_engine::progress::NoProgress;
use quire_engine::retrieve::SearchFilter;
use quire_engine::{chat, Engine, Error};

on_each_runtime!(
    an_answer_cites_the_file_and_page_that_hold_it,
    a_question_the_documents_cannot_answer_gets_an_abstention_and_the_closest_passages,
    a_follow_up_sees_the_conversation_and_the_chat_exports_with_its_sources,
    a_forty_page_document_is_summarised_with_page_citations_within_the_context,
    a_model_file_that_is_not_gguf_is_a_clear_error,
    new_answer_settings_apply_to_the_next_answer_and_a_bad_model_changes_nothing,
    a_first_question_that_fails_or_is_stopped_leaves_no_chat_behind,
    a_model_split_into_parts_answers_from_its_first_part,
);

fn config_on(data: &Path, runtime: Runtime) -> quire_engine::Config {
    let mut config = answering_config(data);
    config.runtime = runtime;
    config
}

async fn indexed_household(tmp: &Path, runtime: Runtime) -> (Engine, PathBuf) {
    let root = household(tmp).canonicalize().unwrap();
    let engine = Engine::open(config_on(&tmp.join("data"), runtime)).await.unwrap();
    engine.index_folder(&root, &NoProgress).await.unwrap();
    (engine, root)
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

async fn an_answer_cites_the_file_and_page_that_hold_it(runtime: Runtime) {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, _) = indexed_household(tmp.path(), runtime).await;
    let mut streamed = String::new();
    let answer = engine
        .ask(
            "When must the gas boiler be serviced, and by whom?",
            AskOptions::default(),
            &CancelToken::new(),
            &mut |piece| streamed.push_str(piece),
        )
        .await
        .unwrap();
    assert!(!answer.abstained, "{answer:#?}");
    assert!(!answer.text.is_empty());
    // What was streamed is the answer shown (markers already checked).
    assert_eq!(streamed.trim(), answer.text.trim());
    assert!(
        answer
            .sources
            .iter()
            .any(|s| file_name(&s.path) == "maintenance.pdf" && s.page == 2),
        "the boiler page must be among the sources: {:#?}",
        answer.sources
    );
    let cited: Vec<(String, u32)> = answer
        .citations
        .iter()
        .map(|c| (file_name(&c.path), c.page))
        .collect();
    assert!(
        cited.contains(&("maintenance.pdf".to_string(), 2)),
        "citations {cited:?} for answer {:?}",
        answer.text
    );
    for citation in &answer.citations {
        // Every citation points at a real source and quotes text that is in it.
        let source = &answer.sources[citation.number - 1];
        assert_eq!((&source.path, source.page), (&citation.path, citation.page));
        assert!(source.text.contains(citation.quote.trim()), "{citation:#?}");
    }
    let stats = answer.stats.as_ref().unwrap();
    assert!(stats.prompt_tokens <= engine.config().context_tokens - engine.config().answer_max_tokens);
    assert!(stats.generated_tokens > 0);
    engine.close().await.unwrap();
}

async fn a_question_the_documents_cannot_answer_gets_an_abstention_and_the_closest_passages(
    runtime: Runtime,
) {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, _) = indexed_household(tmp.path(), runtime).await;
    let mut streamed = String::new();
    let answer = engine
        .ask(
            "What is the orbital period of the moons of Neptune?",
            AskOptions::default(),
            &CancelToken::new(),
            &mut |piece| streamed.push_str(piece),
        )
        .await
        .unwrap();
    assert!(answer.abstained, "{answer:#?}");
    assert_eq!(answer.text, answer::NOT_FOUND);
    assert_eq!(streamed, answer::NOT_FOUND);
    assert!(answer.citations.is_empty());
    assert!(
        !answer.closest.is_empty(),
        "the closest passages are shown instead"
    );
    assert!(answer.evidence.unwrap() < engine.abstain_below());
    assert!(answer.stats.is_none(), "the model is not asked at all");
    engine.close().await.unwrap();
}

async fn a_follow_up_sees_the_conversation_and_the_chat_exports_with_its_sources(runtime: Runtime) {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, _) = indexed_household(tmp.path(), runtime).await;
    let cancel = CancelToken::new();
    let (chat_id, first) = engine
        .ask_in_chat(
            None,
            "How often is the gas boiler serviced?",
            SearchFilter::default(),
            &cancel,
            &mut |_| {},
        )
        .await
        .unwrap();
    assert!(!first.abstained);
    // On its own this question names nothing to search for; the conversation supplies it.
    let (same_chat, follow_up) = engine
        .ask_in_chat(
            Some(chat_id),
            "And what does it cost?",
            SearchFilter::default(),
            &cancel,
            &mut |_| {},
        )
        .await
        .unwrap();
    assert_eq!(same_chat, chat_id);
    assert!(!follow_up.abstained, "{follow_up:#?}");
    assert!(follow_up
        .sources
        .iter()
        .any(|s| s.page == 2 && file_name(&s.path) == "maintenance.pdf"));
    // The follow-up's prompt carried the first exchange.
    let first_prompt = engine
        .generator()
        .await
        .unwrap()
        .count_tokens(&first.prompt)
        .await
        .unwrap();
    let stats = follow_up.stats.as_ref().unwrap();
    assert!(stats.prompt_tokens > first_prompt);
    if runtime == Runtime::LlamaCpp {
        // The first exchange is still in llama.cpp's cache: only the new turn is computed.
        assert!(
            stats.reused_prompt_tokens >= first_prompt,
            "reused {} of {} prompt tokens; the first prompt alone has {first_prompt}",
            stats.reused_prompt_tokens,
            stats.prompt_tokens
        );
    }

    let stored = engine.chat(chat_id).await.unwrap();
    assert_eq!(stored.messages.len(), 4);
    assert_eq!(stored.messages[2].content, "And what does it cost?");
    assert_eq!(stored.messages[3].citations, follow_up.citations);
    let listed = engine.chats().await.unwrap();
    assert_eq!((listed.len(), listed[0].messages), (1, 4));

    let markdown = chat::to_markdown(&stored);
    assert!(markdown.contains("## How often is the gas boiler serviced?"));
    assert!(markdown.contains(&follow_up.text));
    for citation in stored.messages.iter().flat_map(|m| &m.citations) {
        assert!(markdown.contains(&format!("page {}", citation.page)));
        let first_line = citation.quote.lines().next().unwrap();
        assert!(
            markdown.contains(&format!("> {first_line}")),
            "quoted passage in the export"
        );
    }
    engine.close().await.unwrap();
}

async fn a_first_question_that_fails_or_is_stopped_leaves_no_chat_behind(runtime: Runtime) {
    let tmp = tempfile::tempdir().unwrap();
    let question = "When must the gas boiler be serviced, and by whom?";
    let (engine, _) = indexed_household(tmp.path(), runtime).await;
    let stopped = CancelToken::new();
    stopped.cancel();
    let asked = engine
        .ask_in_chat(None, question, SearchFilter::default(), &stopped, &mut |_| {})
        .await;
    assert!(matches!(asked, Err(Error::Cancelled)), "{asked:?}");
    assert!(
        engine.chats().await.unwrap().is_empty(),
        "a stopped first question leaves no chat"
    );
    engine.close().await.unwrap();

    // The same library with a chat model that is not there: the question fails.
    let mut config = config_on(&tmp.path().join("data"), runtime);
    config.generator = tmp.path().join("no-such-model.gguf");
    let engine = Engine::open(config).await.unwrap();
    let asked = engine
        .ask_in_chat(
            None,
            question,
            SearchFilter::default(),
            &CancelToken::new(),
            &mut |_| {},
        )
        .await;
    assert!(matches!(asked, Err(Error::Generator { .. })), "{asked:?}");
    assert!(
        engine.chats().await.unwrap().is_empty(),
        "a failed first question leaves no chat"
    );
    engine.close().await.unwrap();

    // Answered, the chat is there with its one exchange.
    let (engine, _) = indexed_household(tmp.path(), runtime).await;
    let (chat_id, _) = engine
        .ask_in_chat(
            None,
            question,
            SearchFilter::default(),
            &CancelToken::new(),
            &mut |_| {},
        )
        .await
        .unwrap();
    let chats = engine.chats().await.unwrap();
    assert_eq!((chats.len(), chats[0].id, chats[0].messages), (1, chat_id, 2));
    engine.close().await.unwrap();
}

async fn a_forty_page_document_is_summarised_with_page_citations_within_the_context(runtime: Runtime) {
    let tmp = tempfile::tempdir().unwrap();
    let topics = [
        "the river ferry timetable",
        "the village bakery",
        "the bell tower repairs",
        "the school garden",
        "the flood defences",
        "the library opening hours",
        "the football club",
        "the harvest festival",
    ];
    let pages: Vec<String> = (1..=40)
        .map(|n| {
            let topic = topics[(n - 1) % topics.len()];
            format!(
                "Chapter {n}: {topic}.\nThis page reports on {topic} in year {}.\nThe council reviewed {topic} and agreed a budget of {} pounds.\n{}",
                1990 + n,
                n * 100,
                prose(n, 2)
            )
        })
        .collect();
    let pages: Vec<&str> = pages.iter().map(String::as_str).collect();
    let file = tmp.path().join("parish-report.pdf");
    std::fs::write(&file, pdf(&pages, "Parish report")).unwrap();

    let mut config = config_on(&tmp.path().join("data"), runtime);
    config.context_tokens = 1024;
    let engine = Engine::open(config).await.unwrap();
    let summary = engine
        .summarize(&file, &NoProgress, &CancelToken::new())
        .await
        .unwrap();
    assert_eq!(summary.pages, 40);
    assert!(summary.sections > 1, "40 pages do not fit one 1,024-token prompt");
    assert!(summary.rounds >= 1, "section notes are combined");
    assert!(!summary.bullets.is_empty());
    assert!(
        summary.largest_prompt_tokens + 320 <= summary.context_tokens,
        "prompt {} + answer never overflow the context {}",
        summary.largest_prompt_tokens,
        summary.context_tokens
    );
    for bullet in &summary.bullets {
        assert!(!bullet.pages.is_empty(), "{bullet:?}");
        assert!(bullet.pages.iter().all(|p| (1..=40).contains(p)), "{bullet:?}");
    }
    // The same content is not summarised twice.
    let again = engine
        .summarize(&file, &NoProgress, &CancelToken::new())
        .await
        .unwrap();
    assert!(again.cached);
    assert_eq!(again.bullets, summary.bullets);
    engine.close().await.unwrap();
}

async fn a_model_file_that_is_not_gguf_is_a_clear_error(runtime: Runtime) {
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("model.gguf");
    std::fs::write(&fake, "<!DOCTYPE html><html>Not found</html>").unwrap();
    let mut config = config_on(&tmp.path().join("data"), runtime);
    config.generator = fake.clone();
    let engine = Engine::open(config).await.unwrap();
    let error = engine.generator().await.err().unwrap().to_string();
    assert!(
        error.contains("model.gguf") && error.contains("not a GGUF model file"),
        "{error}"
    );
    engine.close().await.unwrap();
}

async fn ask_about_the_boiler(engine: &Engine) -> answer::Answer {
    engine
        .ask(
            "When must the gas boiler be serviced, and by whom?",
            AskOptions::default(),
            &CancelToken::new(),
            &mut |_| {},
        )
        .await
        .unwrap()
}

async fn new_answer_settings_apply_to_the_next_answer_and_a_bad_model_changes_nothing(runtime: Runtime) {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, _) = indexed_household(tmp.path(), runtime).await;
    let first = ask_about_the_boiler(&engine).await;
    assert_eq!(first.model.as_deref(), Some(&*file_name(&small_generator())));

    // A file that is not a model is refused with the reason; nothing changes.
    let fake = tmp.path().join("not-a-model.gguf");
    std::fs::write(&fake, "<!DOCTYPE html><html>Not found</html>").unwrap();
    let mut settings = engine.config().answer_settings();
    settings.generator = fake;
    let error = engine
        .apply_answer_settings(&settings)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a GGUF model file"), "{error}");
    // So is a value out of range.
    let mut settings = engine.config().answer_settings();
    settings.max_sources = 0;
    let error = engine
        .apply_answer_settings(&settings)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("max_sources"), "{error}");
    assert_eq!(engine.config().generator_path(), small_generator());

    // Another model (the same weights under another name) writes the very next answer,
    // with the other new settings in force, and no restart.
    let other = tmp.path().join("other-model.gguf");
    std::fs::copy(small_generator(), &other).unwrap();
    let mut settings = engine.config().answer_settings();
    settings.generator = other.clone();
    settings.max_sources = 1;
    engine.apply_answer_settings(&settings).await.unwrap();
    let second = ask_about_the_boiler(&engine).await;
    assert_eq!(second.model.as_deref(), Some("other-model.gguf"));
    assert!(second.sources.len() <= 1, "{:?}", second.sources);
    engine.close().await.unwrap();
}

async fn a_model_split_into_parts_answers_from_its_first_part(runtime: Runtime) {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let [first, second] = split_in_two(&small_generator(), &models, "smol");

    // Sized and counted over both parts, as the whole file is.
    let whole = quire_engine::llm::inspect(&small_generator()).unwrap();
    let split = quire_engine::llm::inspect(&first).unwrap();
    assert_eq!(split.parameters, whole.parameters);
    let both = std::fs::metadata(&first).unwrap().len() + std::fs::metadata(&second).unwrap().len();
    assert_eq!(split.bytes, both);
    assert!(
        split.bytes >= whole.bytes * 99 / 100,
        "{} against {}",
        split.bytes,
        whole.bytes
    );
    assert_eq!(split.parts, vec![first.clone(), second.clone()]);

    // The second part alone is not a model: the error names the file to choose.
    let error = quire_engine::llm::inspect(&second).unwrap_err().to_string();
    assert!(
        error.contains("part 2 of 2") && error.contains("smol-00001-of-00002.gguf"),
        "{error}"
    );

    // The first part answers, citing the library.
    let root = household(tmp.path()).canonicalize().unwrap();
    let mut config = config_on(&tmp.path().join("data"), runtime);
    config.generator = first.clone();
    let engine = Engine::open(config).await.unwrap();
    engine.index_folder(&root, &NoProgress).await.unwrap();
    let answer = ask_about_the_boiler(&engine).await;
    assert_eq!(answer.model.as_deref(), Some("smol-00001-of-00002.gguf"));
    assert!(!answer.sources.is_empty(), "{answer:?}");
    engine.close().await.unwrap();

    // A second part from elsewhere (here, a copy of the first) is refused by name.
    let second_bytes = std::fs::read(&second).unwrap();
    std::fs::copy(&first, &second).unwrap();
    let error = quire_engine::llm::inspect(&first).unwrap_err().to_string();
    assert!(
        error.contains("smol-00002-of-00002.gguf does not belong with it")
            && error.contains("says part 1 of 2"),
        "{error}"
    );
    std::fs::write(&second, second_bytes).unwrap();
    assert!(quire_engine::llm::inspect(&first).is_ok());

    // Without its second part, the model is refused with the missing file named.
    std::fs::remove_file(&second).unwrap();
    let error = quire_engine::llm::inspect(&first).unwrap_err().to_string();
    assert!(
        error.contains("split into 2 parts") && error.contains("smol-00002-of-00002.gguf"),
        "{error}"
    );
}

/// `model` split in two the way llama.cpp's `gguf-split` does it: `<stem>-00001-of-00002.gguf`
/// holds all the metadata and the first half of the tensors, `<stem>-00002-of-00002.gguf` the
/// rest; each names its part (`split.no`) and the count. Returns both paths.
fn split_in_two(model: &Path, dir: &Path, stem: &str) -> [PathBuf; 2] {
    use candle_core::quantized::gguf_file::{self, Value};
    let mut file = std::fs::File::open(model).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort_by_key(|name| content.tensor_infos[*name].offset);
    let total = i32::try_from(names.len()).unwrap();
    let halves = names.split_at(names.len() / 2);
    let paths = [1, 2].map(|n| dir.join(format!("{stem}-{n:05}-of-00002.gguf")));
    for (index, (tensor_names, path)) in [halves.0, halves.1].iter().zip(&paths).enumerate() {
        let tensors: Vec<(&str, candle_core::quantized::QTensor)> = tensor_names
            .iter()
            .map(|name| {
                let tensor = content
                    .tensor(&mut file, name, &candle_core::Device::Cpu)
                    .unwrap();
                (name.as_str(), tensor)
            })
            .collect();
        let split = [
            ("split.no", Value::U16(index as u16)),
            ("split.count", Value::U16(2)),
            ("split.tensors.count", Value::I32(total)),
        ];
        let mut metadata: Vec<(&str, &Value)> = split.iter().map(|(k, v)| (*k, v)).collect();
        if index == 0 {
            metadata.extend(content.metadata.iter().map(|(k, v)| (k.as_str(), v)));
        }
        let tensors: Vec<(&str, &candle_core::quantized::QTensor)> =
            tensors.iter().map(|(name, tensor)| (*name, tensor)).collect();
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        gguf_file::write(&mut out, &metadata, &tensors).unwrap();
        std::io::Write::flush(&mut out).unwrap();
    }
    paths
}
