//! `quire ask`, `quire chat`, `quire chats …` and `quire summarize`: streamed,
//! cited answers and page-cited summaries in the terminal.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

use quire_engine::answer::Answer;
use quire_engine::cancel::CancelToken;
use quire_engine::llm::GenerationStats;
use quire_engine::retrieve::SearchFilter;
use quire_engine::summarize::page_label;
use quire_engine::Engine;
use quire_engine::{ChatId, Citation, Claim, Support};

use super::progress_bar::ProgressBarSink;
use super::terminal::{printable, printable_path};

#[derive(Subcommand)]
pub enum ChatsCommand {
    /// List conversations, the most recent first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a conversation with its citations.
    Show {
        id: ChatId,
        #[arg(long)]
        json: bool,
    },
    /// Export a conversation as Markdown, with citations and quoted passages.
    Export {
        id: ChatId,
        /// Write to this file instead of the terminal.
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Delete a conversation.
    Delete { id: ChatId },
}

/// Cancels generation on Ctrl-C; the answer stops at its next token.
fn cancel_on_ctrl_c() -> CancelToken {
    let cancel = CancelToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping…");
            on_signal.cancel();
        }
    });
    cancel
}

fn print_piece(piece: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(printable(piece).as_bytes());
    let _ = out.flush();
}

pub async fn ask(engine: &Engine, question: &str, filter: SearchFilter, json: bool) -> Result<ExitCode> {
    let cancel = cancel_on_ctrl_c();
    let mut sink: Box<dyn FnMut(&str) + Send> = if json {
        Box::new(|_| {})
    } else {
        Box::new(print_piece)
    };
    let (_, answer) = engine
        .ask_in_chat(None, question, filter, &cancel, &mut *sink)
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print_answer_tail(&answer);
    }
    Ok(ExitCode::SUCCESS)
}

/// What follows the streamed answer: its sources, or the closest passages when Quire abstained.
fn print_answer_tail(answer: &Answer) {
    println!();
    if answer.abstained {
        if answer.closest.is_empty() {
            println!("\nNothing in the library comes close to this question.");
        } else {
            println!("\nClosest passages (none answers the question):");
            for hit in &answer.closest {
                let text = hit.snippet.text.split_whitespace().collect::<Vec<_>>().join(" ");
                println!(
                    "  {}, page {}\n    {}",
                    printable_path(&hit.path),
                    hit.page,
                    printable(&text)
                );
            }
        }
    } else if !answer.citations.is_empty() {
        println!();
        print_citations(&answer.citations);
    } else {
        println!("\n(The answer cites no source; treat it with care.)");
    }
    print_unsupported(answer.unsupported());
    if let Some(stats) = &answer.stats {
        print_stats(stats);
    }
}

/// The sentences of an answer that no source supports, listed under it.
fn print_unsupported<'a>(claims: impl Iterator<Item = &'a Claim>) {
    let mut claims = claims.peekable();
    if claims.peek().is_none() {
        return;
    }
    println!("Not supported by any source (check before relying on it):");
    for claim in claims {
        let text = claim.text.split_whitespace().collect::<Vec<_>>().join(" ");
        println!("  “{}”", printable(&text));
    }
}

fn print_citations(citations: &[Citation]) {
    println!("Sources:");
    for citation in citations {
        let how = if citation.attributed {
            "  (matched by Quire)"
        } else {
            ""
        };
        println!(
            "  [{}] {}, page {}{how}",
            citation.number,
            printable_path(&citation.path),
            citation.page
        );
        let quote = citation.quote.split_whitespace().collect::<Vec<_>>().join(" ");
        println!("      “{}”", printable(&quote));
    }
}

fn print_stats(stats: &GenerationStats) {
    eprintln!(
        "({} prompt tokens, first words after {:.1} s, {} tokens at {:.1} tokens/s)",
        stats.prompt_tokens,
        stats.time_to_first_token.as_secs_f64(),
        stats.generated_tokens,
        stats.generated_tokens_per_sec
    );
}

/// An interactive conversation: each line is a question; follow-ups see the earlier exchanges.
pub async fn chat_loop(engine: &Engine, resume: Option<ChatId>, filter: SearchFilter) -> Result<ExitCode> {
    let mut chat_id = resume;
    if let Some(id) = resume {
        let chat = engine.chat(id).await?;
        println!(
            "Resuming “{}” ({} messages).",
            printable(&chat.title),
            chat.messages.len()
        );
    }
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        println!("Ask about your documents. An empty line or Ctrl-D ends the conversation.");
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            print_piece("\n> ");
        }
        let Some(line) = lines.next() else { break };
        let question = line.context("cannot read the question")?;
        let question = question.trim();
        if question.is_empty() {
            break;
        }
        let cancel = cancel_on_ctrl_c();
        let (id, answer) = engine
            .ask_in_chat(chat_id, question, filter.clone(), &cancel, &mut print_piece)
            .await?;
        chat_id = Some(id);
        print_answer_tail(&answer);
    }
    if let Some(id) = chat_id {
        println!("\nSaved as chat {id}: `quire chats show {id}`, `quire chats export {id}`.");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn chats(engine: &Engine, command: &ChatsCommand) -> Result<ExitCode> {
    match command {
        ChatsCommand::List { json } => {
            let chats = engine.chats().await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&chats)?);
            } else if chats.is_empty() {
                println!("No conversations yet. Start one with `quire chat` or `quire ask \"…\"`.");
            } else {
                for chat in chats {
                    println!(
                        "{:>5}  {}  ({} messages)",
                        chat.id,
                        printable(&chat.title),
                        chat.messages
                    );
                }
            }
        }
        ChatsCommand::Show { id, json } => {
            let chat = engine.chat(*id).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&chat)?);
            } else {
                println!("{}\n", printable(&chat.title));
                for message in &chat.messages {
                    match message.role {
                        quire_engine::llm::Role::User => println!("> {}\n", printable(&message.content)),
                        _ => {
                            println!("{}\n", printable(&message.content));
                            if !message.citations.is_empty() {
                                print_citations(&message.citations);
                                println!();
                            }
                            print_unsupported(
                                message
                                    .claims
                                    .iter()
                                    .filter(|c| c.support == Support::Unsupported),
                            );
                        }
                    }
                }
            }
        }
        ChatsCommand::Export { id, out } => {
            let text = engine.chat_markdown(*id).await?;
            match out {
                Some(path) => {
                    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
                    println!("Wrote {}", path.display());
                }
                None => print!("{}", printable(&text)),
            }
        }
        ChatsCommand::Delete { id } => {
            engine.delete_chat(*id).await?;
            println!("Deleted chat {id}.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn summarize(engine: &Engine, file: &Path, json: bool) -> Result<ExitCode> {
    let cancel = cancel_on_ctrl_c();
    let sink = ProgressBarSink::new();
    let summary = engine.summarize(file, &sink, &cancel).await;
    sink.finish();
    let summary = summary?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(ExitCode::SUCCESS);
    }
    let title = summary
        .title
        .clone()
        .unwrap_or_else(|| file.display().to_string());
    println!("{} — {} pages", printable(&title), summary.pages);
    for bullet in &summary.bullets {
        println!("  • {} ({})", printable(&bullet.text), page_label(&bullet.pages));
    }
    eprintln!(
        "({} sections, {} combining rounds{}; largest prompt {} of {} tokens)",
        summary.sections,
        summary.rounds,
        if summary.cached { ", from the cache" } else { "" },
        summary.largest_prompt_tokens,
        summary.context_tokens
    );
    Ok(ExitCode::SUCCESS)
}
