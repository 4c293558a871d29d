//! Conversations: each question is answered with the earlier exchanges of its
//! chat in view, and stored with its answer and citations. The prompt that was
//! sent is stored too, so a follow-up replays exactly what the model saw before
//! (and mistralrs can reuse that prefix's KV cache).

use std::fmt::Write as _;

use crate::answer::{self, Answer, AskOptions, Turn};
use crate::cancel::CancelToken;
use crate::engine::Engine;
use crate::error::Result;
use crate::llm::Role;
use crate::retrieve::SearchFilter;
use crate::store::conversations::{Chat, ChatId, ChatSummary, ChatTarget, Claim, Exchange, Support};

/// Longest chat title taken from its first question, in characters.
const TITLE_CHARS: usize = 60;

impl Engine {
    /// Asks `question` in chat `chat`, or in a new chat when None, with the chat's earlier
    /// exchanges in view, and stores the exchange; the answer streams to `on_text` as for
    /// [`Engine::ask`]. A new chat is written with its first answer, in one transaction: a
    /// question that fails or is stopped leaves nothing behind.
    pub async fn ask_in_chat(
        &self,
        chat: Option<ChatId>,
        question: &str,
        filter: SearchFilter,
        cancel: &CancelToken,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(ChatId, Answer)> {
        let catalog = self.catalog();
        let history = match chat {
            Some(id) => history_of(&catalog.chat(id).await?),
            None => Vec::new(),
        };
        let options = AskOptions {
            filter,
            history: &history,
        };
        let answer = answer::ask(self, question, options, cancel, on_text).await?;
        let exchange = Exchange {
            question,
            prompt: &answer.prompt,
            answer: &answer.text,
            abstained: answer.abstained,
            citations: &answer.citations,
            claims: &answer.claims,
        };
        let title = title_for(question);
        let target = match chat {
            Some(id) => ChatTarget::Existing(id),
            None => ChatTarget::New { title: &title },
        };
        let chat_id = catalog.add_exchange(target, &exchange).await?;
        Ok((chat_id, answer))
    }

    /// Every chat, the most recently used first.
    pub async fn chats(&self) -> Result<Vec<ChatSummary>> {
        self.catalog().chats().await
    }

    /// One chat with all its messages, citations and claims.
    pub async fn chat(&self, id: ChatId) -> Result<Chat> {
        self.catalog().chat(id).await
    }

    pub async fn delete_chat(&self, id: ChatId) -> Result<()> {
        self.catalog().delete_chat(id).await
    }

    /// One chat as Markdown (see [`to_markdown`]).
    pub async fn chat_markdown(&self, id: ChatId) -> Result<String> {
        Ok(to_markdown(&self.chat(id).await?))
    }
}

/// The exchanges the model should see again: questions that reached it, with their answers.
fn history_of(chat: &Chat) -> Vec<Turn> {
    chat.messages
        .chunks(2)
        .filter_map(|pair| match pair {
            [question, reply] if question.role == Role::User && !reply.abstained => Some(Turn {
                question: question.content.clone(),
                prompt: question
                    .prompt
                    .clone()
                    .unwrap_or_else(|| question.content.clone()),
                answer: reply.content.clone(),
            }),
            _ => None,
        })
        .collect()
}

fn title_for(question: &str) -> String {
    let question = question.split_whitespace().collect::<Vec<_>>().join(" ");
    if question.chars().count() <= TITLE_CHARS {
        return question;
    }
    let cut: String = question.chars().take(TITLE_CHARS).collect();
    match cut.rfind(' ') {
        Some(space) if space > TITLE_CHARS / 2 => format!("{}…", &cut[..space]),
        _ => format!("{cut}…"),
    }
}

/// A conversation as Markdown: each question, its answer, and under the answer
/// the sources it cites with their quoted passages. What a model or a document
/// wrote cannot make the viewer of the file fetch anything (see [`without_remote_content`]).
pub fn to_markdown(chat: &Chat) -> String {
    without_remote_content(&conversation_markdown(chat))
}

fn conversation_markdown(chat: &Chat) -> String {
    let mut out = format!("# {}\n\n", chat.title);
    for message in &chat.messages {
        match message.role {
            Role::User => {
                let _ = writeln!(out, "## {}\n", message.content.trim());
            }
            Role::System | Role::Assistant => {
                let marked = mark_unsupported(
                    &message.content,
                    &message.claims,
                    "",
                    " *(not supported by the sources)*",
                );
                let _ = writeln!(out, "{}\n", marked.trim());
                if message.abstained {
                    out.push_str("*Quire found no passage in the documents that answers this.*\n\n");
                }
                if !message.citations.is_empty() {
                    out.push_str("**Sources**\n\n");
                }
                for citation in &message.citations {
                    let _ = writeln!(
                        out,
                        "{}. `{}`, page {}{}",
                        citation.number,
                        citation.path.display(),
                        citation.page,
                        if citation.attributed {
                            " (matched by Quire)"
                        } else {
                            ""
                        }
                    );
                    for line in citation.quote.lines() {
                        let _ = writeln!(out, "   > {line}");
                    }
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// `markdown` safe to open or paste elsewhere: an image becomes `[image: alt]`, its
/// address dropped (a viewer would fetch it, telling a server the file was read), and
/// raw HTML is escaped to show as text (an `<img>`, `<iframe>` or `<script>` would load
/// or run). Code, links and everything else stay as written.
pub fn without_remote_content(markdown: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    // The image being read: where it is and its alt text so far.
    let mut image: Option<(std::ops::Range<usize>, String)> = None;
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_FOOTNOTES;
    for (event, range) in Parser::new_ext(markdown, options).into_offset_iter() {
        match (event, image.as_mut()) {
            (Event::Start(Tag::Image { .. }), None) => image = Some((range, String::new())),
            (Event::End(TagEnd::Image), Some(_)) => {
                if let Some((at, alt)) = image.take() {
                    let alt = alt.split_whitespace().collect::<Vec<_>>().join(" ");
                    edits.push((at, format!("[image: {}]", alt.replace(['[', ']'], ""))));
                }
            }
            (Event::Text(text) | Event::Code(text), Some((_, alt))) => alt.push_str(&text),
            (Event::Html(html) | Event::InlineHtml(html), None) => {
                edits.push((range, html.replace('<', "&lt;")));
            }
            _ => {}
        }
    }
    let mut out = String::with_capacity(markdown.len());
    let mut last = 0;
    for (range, replacement) in edits {
        // Ranges come in document order; one inside another was already replaced.
        if range.start < last {
            continue;
        }
        out.push_str(&markdown[last..range.start]);
        out.push_str(&replacement);
        last = range.end;
    }
    out.push_str(&markdown[last..]);
    out
}

/// `text` with each unsupported claim wrapped in `open` … `close` (emphasis, terminal colours).
pub fn mark_unsupported(text: &str, claims: &[Claim], open: &str, close: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for claim in claims.iter().filter(|c| c.support == Support::Unsupported) {
        let (Some(before), Some(sentence)) = (text.get(last..claim.start), text.get(claim.start..claim.end))
        else {
            continue;
        };
        out.push_str(before);
        out.push_str(open);
        out.push_str(sentence);
        out.push_str(close);
        last = claim.end;
    }
    out.push_str(text.get(last..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_load_nothing_remote() {
        let answer = "Service it yearly. ![tracker](https://example.com/t.png?doc=boiler)\n\n\
                      <img src=\"https://example.com/x.png\"> and <iframe src=\"https://e.com\"></iframe>\n\n\
                      Inline <script>fetch('https://e.com')</script> too.\n\n\
                      Keep `<b>code</b>` and ![](https://e.com/blank.png) and [a link](https://example.com).";
        let safe = without_remote_content(answer);
        assert!(!safe.contains("https://example.com/t.png"), "{safe}");
        assert!(!safe.contains("blank.png"), "{safe}");
        assert!(safe.contains("[image: tracker]"), "{safe}");
        assert!(
            !safe.contains("<img") && !safe.contains("<iframe") && !safe.contains("<script"),
            "{safe}"
        );
        assert!(safe.contains("&lt;img src="), "{safe}");
        // Code and links are left as written.
        assert!(safe.contains("`<b>code</b>`"), "{safe}");
        assert!(safe.contains("[a link](https://example.com)"), "{safe}");
        assert!(safe.starts_with("Service it yearly."), "{safe}");
    }

    #[test]
    fn long_questions_make_short_titles_at_a_word_boundary() {
        assert_eq!(title_for("  When   is it safe?\n"), "When is it safe?");
        let long =
            "What does the maintenance manual say about bleeding the radiators on the upper floor in winter";
        let title = title_for(long);
        assert!(
            title.ends_with('…') && title.chars().count() <= TITLE_CHARS + 1,
            "{title}"
        );
        assert!(long.starts_with(title.trim_end_matches('…')));
    }
}
