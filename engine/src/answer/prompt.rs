//! The prompt of an answer: which retrieved passages earn a place, numbered as sources,
//! within the model's context (counted with its own tokenizer), after the conversation so far.

use serde::Serialize;

use super::{Source, Turn};
use crate::config::Config;
use crate::error::Result;
use crate::llm::{ChatMessage, Generator, Role};
use crate::retrieve::SearchHit;

pub(crate) const SYSTEM_PROMPT: &str =
    "You are Quire. You answer questions about the user's documents using \
only the numbered sources in the message.\n\
- Give the answer first, in one short sentence that uses the words of the source. Add at most one more \
sentence, only if it is needed.\n\
- End each sentence with the number of the source it comes from, like [2].\n\
- If no source states the answer, reply with exactly: I could not find this in your documents.";

/// Said after the sources as well: small models follow what they read last.
const FINAL_INSTRUCTION: &str =
    "Answer in one short sentence with the source's own words, citing it like [1]. \
If no source states the answer, reply exactly: I could not find this in your documents.";

/// Hits that matched only by keywords (no similarity known) are kept from the top this many ranks.
const KEYWORD_ONLY_RANKS: usize = 3;

/// Which retrieved passages earn a place in an answer's prompt. Every source costs
/// prompt tokens, and on a CPU the prompt is most of the wait for the first word.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SourcePolicy {
    /// Passages less similar to the question than this are left out.
    pub min_similarity: f32,
    /// At most this many sources (`quire eval <beir> --prompt-sources` measures what fewer
    /// cost in evidence: the README's "Prompt size").
    pub max_sources: usize,
}

impl SourcePolicy {
    /// The configured number of sources, above the similarity Quire abstains below.
    pub fn of(config: &Config, abstain_below: f32) -> SourcePolicy {
        SourcePolicy {
            min_similarity: abstain_below,
            max_sources: config.max_sources,
        }
    }

    /// The passages that earn a place: close enough in meaning, or top keyword
    /// matches; fused order; at most `max_sources`.
    pub(crate) fn choose(&self, hits: Vec<SearchHit>) -> Vec<SearchHit> {
        hits.into_iter()
            .enumerate()
            .filter(|(rank, hit)| match hit.similarity {
                Some(similarity) => similarity >= self.min_similarity,
                None => *rank < KEYWORD_ONLY_RANKS,
            })
            .map(|(_, hit)| hit)
            .take(self.max_sources)
            .collect()
    }
}

/// The messages for an answer to `question` from the passages `hits` (best first), and the
/// sources they number: the passages `policy` chooses, within the generator's context.
pub async fn build_prompt(
    generator: &Generator,
    question: &str,
    history: &[Turn],
    hits: Vec<SearchHit>,
    policy: &SourcePolicy,
    answer_tokens: usize,
) -> Result<(Vec<ChatMessage>, Vec<Source>)> {
    fit_prompt(
        generator,
        question,
        history,
        numbered(policy.choose(hits)),
        answer_tokens,
    )
    .await
}

/// Hits as sources, numbered from 1 in their order.
pub(crate) fn numbered(hits: Vec<SearchHit>) -> Vec<Source> {
    hits.into_iter()
        .enumerate()
        .map(|(i, hit)| Source {
            number: i + 1,
            path: hit.path,
            page: hit.page,
            similarity: hit.similarity,
            text: hit.passage,
        })
        .collect()
}

/// Builds the messages (system, the conversation so far, the question with its
/// sources) so that prompt and answer fit the generator's context. Older turns go
/// first, then the weakest sources; the strongest source is trimmed if it alone is too long.
pub(crate) async fn fit_prompt(
    generator: &Generator,
    question: &str,
    history: &[Turn],
    candidates: Vec<Source>,
    answer_tokens: usize,
) -> Result<(Vec<ChatMessage>, Vec<Source>)> {
    let budget = generator.context_tokens().saturating_sub(answer_tokens);
    let mut history = history;
    let mut sources: Vec<Source> = Vec::new();
    let mut fixed = generator
        .count_prompt_tokens(&rag_messages(question, history, &[]))
        .await?;
    // Keep at least half the budget for this question's sources.
    while !history.is_empty() && fixed > budget / 2 {
        history = &history[1..];
        fixed = generator
            .count_prompt_tokens(&rag_messages(question, history, &[]))
            .await?;
    }
    let mut used = fixed;
    for candidate in candidates {
        let mut source = Source {
            number: sources.len() + 1,
            ..candidate
        };
        let mut cost = generator.count_tokens(&source_block(&source)).await?;
        if used + cost > budget {
            if !sources.is_empty() {
                continue;
            }
            // Trim the one source to the room there is (tokens ≈ proportional to characters).
            let room = budget.saturating_sub(used);
            let keep = source.text.chars().count() * room / cost.max(1) * 9 / 10;
            source.text = source.text.chars().take(keep).collect();
            cost = generator.count_tokens(&source_block(&source)).await?;
        }
        used += cost;
        sources.push(source);
    }
    // Template tokens between blocks are not in the estimate: check the real count.
    loop {
        let messages = rag_messages(question, history, &sources);
        if sources.len() <= 1 || generator.count_prompt_tokens(&messages).await? <= budget {
            return Ok((messages, sources));
        }
        sources.pop();
    }
}

fn source_block(source: &Source) -> String {
    let name = source
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(
        "[{}] {name}, page {}:\n{}\n",
        source.number,
        source.page,
        source.text.trim()
    )
}

pub fn rag_messages(question: &str, history: &[Turn], sources: &[Source]) -> Vec<ChatMessage> {
    let mut messages = vec![ChatMessage::new(Role::System, SYSTEM_PROMPT)];
    for turn in history {
        messages.push(ChatMessage::new(Role::User, turn.prompt.clone()));
        messages.push(ChatMessage::new(Role::Assistant, turn.answer.clone()));
    }
    let mut user = String::from("Sources:\n");
    for source in sources {
        user.push_str(&source_block(source));
        user.push('\n');
    }
    if sources.is_empty() {
        user.push_str("(none)\n\n");
    }
    user.push_str("Question: ");
    user.push_str(question.trim());
    user.push_str("\n\n");
    user.push_str(FINAL_INSTRUCTION);
    messages.push(ChatMessage::new(Role::User, user));
    messages
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn weak_passages_do_not_earn_a_place_in_the_prompt() {
        let hit = |similarity: Option<f32>| SearchHit {
            path: PathBuf::from("/a.txt"),
            title: None,
            page: 1,
            score: 0.0,
            similarity,
            chunk_id: 1,
            file_id: 1,
            span: 0..1,
            snippet: crate::retrieve::Snippet {
                text: String::new(),
                highlights: Vec::new(),
            },
            read_by_ocr: false,
            passage: String::new(),
        };
        let hits = vec![
            hit(Some(0.7)),
            hit(None),
            hit(Some(0.1)),
            hit(Some(0.5)),
            hit(None),
        ];
        let kept = |max_sources| -> Vec<Option<f32>> {
            let policy = SourcePolicy {
                min_similarity: 0.35,
                max_sources,
            };
            policy.choose(hits.clone()).iter().map(|h| h.similarity).collect()
        };
        assert_eq!(kept(6), [Some(0.7), None, Some(0.5)]);
        assert_eq!(kept(2), [Some(0.7), None]);
    }
}
