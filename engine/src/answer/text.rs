//! Sentences and terms: how answers, questions and passages are compared. A term is a
//! word as matching sees it (lower case, English stem), so "planted" in an answer finds
//! "plant" in its source; numbers and acronyms always count, stop words never do.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Where each of [`sentences`] stands in `text`, as byte ranges.
pub(crate) fn sentence_ranges(text: &str) -> Vec<Range<usize>> {
    sentences(text)
        .into_iter()
        .map(|s| {
            let start = s.as_ptr() as usize - text.as_ptr() as usize;
            start..start + s.len()
        })
        .collect()
}

/// The sentences of `text`, each a slice of it. Citation markers right after a sentence's
/// end belong to it ("… outside. [2]"), and a list item's number to the item ("1. Water …").
pub fn sentences(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        let end = match bytes[i] {
            // A single line break is often a soft wrap (PDF lines); a blank line or a list item is not.
            b'\n' => bytes
                .get(i + 1)
                .is_none_or(|n| matches!(n, b'\n' | b'-' | b'*' | b'#') || n.is_ascii_digit()),
            b'.' => {
                bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace())
                    && !after_abbreviation(&text[start..i])
            }
            b'!' | b'?' => bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace()),
            _ => false,
        };
        i += 1;
        if end {
            i += trailing_markers(&text[i..]);
            pieces.push((start, i));
            start = i;
        }
    }
    pieces.push((start, text.len()));
    // Nothing is lost: whitespace goes with the sentence before it, a list item's number with
    // the item, markers and stray punctuation with the sentence they follow.
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(pieces.len());
    let mut carried: Option<usize> = None;
    for (from, to) in pieces {
        let piece = &text[from..to];
        if piece.is_empty() {
            continue;
        }
        if piece.trim().is_empty() {
            match merged.last_mut() {
                Some(last) if carried.is_none() => last.1 = to,
                _ => {
                    carried.get_or_insert(from);
                }
            }
            continue;
        }
        if is_ordinal(piece) {
            carried.get_or_insert(from);
            continue;
        }
        let from = carried.take().unwrap_or(from);
        match merged.last_mut() {
            Some(last) if is_marker_only(piece) || !piece.chars().any(char::is_alphanumeric) => last.1 = to,
            _ => merged.push((from, to)),
        }
    }
    if let Some(from) = carried {
        match merged.last_mut() {
            Some(last) if text[from..].trim().is_empty() => last.1 = text.len(),
            _ => merged.push((from, text.len())),
        }
    }
    merged.into_iter().map(|(from, to)| &text[from..to]).collect()
}

/// How many bytes of `rest` are citation markers (with the spaces before them) that follow
/// the end of a sentence: "  [2][3]" in "… May.  [2][3] Then …".
fn trailing_markers(rest: &str) -> usize {
    let mut taken = 0;
    loop {
        let remaining = &rest[taken..];
        let spaces = remaining.len() - remaining.trim_start_matches([' ', '\t']).len();
        let candidate = &remaining[spaces..];
        let Some(close) = candidate.strip_prefix('[').and_then(|r| r.find(']')) else {
            return taken;
        };
        let inner = &candidate[1..1 + close];
        if !inner.chars().any(|c| c.is_ascii_digit())
            || !inner.chars().all(|c| c.is_ascii_digit() || c == ',' || c == ' ')
        {
            return taken;
        }
        taken += spaces + close + 2;
    }
}

/// A list item's number standing alone: "1.", " 2)".
fn is_ordinal(piece: &str) -> bool {
    let piece = piece.trim();
    let digits = piece.trim_end_matches(['.', ')']);
    digits.len() < piece.len() && !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// A fragment that holds nothing but citation markers and punctuation ("[2].", " [1][3]").
pub(crate) fn is_marker_only(piece: &str) -> bool {
    piece.trim().starts_with('[') && !piece.chars().any(|c| c.is_alphabetic())
}

/// Whether `before` (a sentence so far) ends in an abbreviation whose full stop ends nothing:
/// "p. 4", "e.g. this", an initial ("John F. Kennedy", "the U.S. Army").
fn after_abbreviation(before: &str) -> bool {
    const ABBREVIATIONS: &[&str] = &[
        "p", "pp", "e.g", "i.e", "cf", "vs", "fig", "no", "dr", "mr", "mrs", "ms", "st", "etc",
    ];
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(' || c == '[')
        .next()
        .unwrap_or("");
    let initials = !word.is_empty()
        && word.split('.').all(|letter| {
            let mut chars = letter.chars();
            matches!((chars.next(), chars.next()), (Some(c), None) if c.is_uppercase())
        });
    initials || ABBREVIATIONS.contains(&word.to_lowercase().as_str())
}

/// Words that carry no fact of their own: function words, and the words answers use to
/// talk about their sources ("according to the document").
const STOP_WORDS: &[&str] = &[
    "the",
    "and",
    "for",
    "are",
    "was",
    "were",
    "that",
    "this",
    "with",
    "from",
    "have",
    "has",
    "had",
    "not",
    "but",
    "you",
    "your",
    "its",
    "they",
    "their",
    "them",
    "what",
    "which",
    "when",
    "where",
    "who",
    "whom",
    "whose",
    "why",
    "how",
    "can",
    "will",
    "would",
    "should",
    "could",
    "into",
    "than",
    "then",
    "there",
    "these",
    "those",
    "been",
    "being",
    "also",
    "about",
    "some",
    "such",
    "only",
    "any",
    "all",
    "our",
    "out",
    "does",
    "did",
    "doe",
    "his",
    "her",
    "him",
    "she",
    "he",
    "it",
    "is",
    "be",
    "of",
    "in",
    "on",
    "at",
    "to",
    "by",
    "as",
    "or",
    "an",
    "a",
    "if",
    "so",
    "do",
    "no",
    "yes",
    "we",
    "us",
    "me",
    "my",
    "i",
    "very",
    "more",
    "most",
    "other",
    "over",
    "after",
    "before",
    "while",
    "during",
    "between",
    "both",
    "each",
    "few",
    "many",
    "much",
    "own",
    "same",
    "too",
    "just",
    "here",
    "up",
    "down",
    "off",
    "again",
    "further",
    "once",
    "because",
    "until",
    "against",
    "through",
    "above",
    "below",
    "under",
    "like",
    "one",
    "name",
    "named",
    "called",
    "answer",
    "answers",
    "source",
    "sources",
    "document",
    "documents",
    "text",
    "passage",
    "passages",
    "according",
    "based",
    "provided",
    "mentioned",
    "mention",
    "mentions",
    "state",
    "states",
    "stated",
    "say",
    "says",
    "said",
    "information",
    "context",
    "question",
    "given",
    "following",
    "specifically",
    "specific",
    "particular",
    "however",
    "therefore",
    "thus",
    "known",
    "see",
    "refer",
    "refers",
    "page",
    "pages",
    "shown",
    "found",
    "listed",
    "described",
    "detail",
    "details",
    "explained",
    "cited",
    "cite",
];

/// The terms of `text` that carry meaning, stemmed: numbers as written, acronyms ("AC",
/// "UK") whatever their length, other words of three letters or more that are not stop words.
pub(crate) fn content_terms(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter_map(term)
        .collect()
}

/// A word's term, or None when it carries no meaning of its own.
fn term(word: &str) -> Option<String> {
    if word.is_empty() {
        return None;
    }
    if word.chars().any(|c| c.is_ascii_digit()) {
        return Some(word.to_lowercase());
    }
    let acronym = word.chars().count() >= 2 && word.chars().all(|c| c.is_uppercase());
    let lower = word.to_lowercase();
    if (!acronym && lower.chars().count() < 3) || STOP_WORDS.contains(&lower.as_str()) {
        return None;
    }
    Some(STEMMER.stem(&lower).into_owned())
}

/// Whether a term is a number (a figure, a year, a date): facts a claim must not change.
pub(crate) fn is_number(term: &str) -> bool {
    term.chars().any(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_keep_their_trailing_markers_and_skip_abbreviations() {
        let text = "Plant out in mid May. [2] See p. 4 for beans [1].\n- Water twice a week.";
        assert_eq!(
            sentences(text),
            [
                "Plant out in mid May. [2]",
                " See p. 4 for beans [1].\n",
                "- Water twice a week."
            ]
        );
        assert_eq!(sentences("3.5 bar is too high."), ["3.5 bar is too high."]);
        assert_eq!(
            sentences("He met John F. Kennedy in the U.S. Army [1]. Then he left."),
            ["He met John F. Kennedy in the U.S. Army [1].", " Then he left."]
        );
        assert_eq!(sentences("It is May [1]. [2]."), ["It is May [1]. [2]."]);
        assert_eq!(
            sentences("Steps:\n1. Feed the starter.\n2. Mix the dough [3]."),
            ["Steps:\n", "1. Feed the starter.\n", "2. Mix the dough [3]."]
        );
    }

    #[test]
    fn sentences_lose_no_text() {
        for text in [
            "  Leading space. Then more.  ",
            "A.\n\nB [1].\n\n1. x\n2. y\n",
            "[2]",
            "1.",
            "Done. [1]. [2] ",
        ] {
            assert_eq!(sentences(text).concat(), text, "{text:?}");
        }
    }

    #[test]
    fn terms_are_stemmed_and_keep_numbers_and_acronyms() {
        let terms = content_terms("Tesla planted 12 tomatoes in the UK, according to the document, in May.");
        for expected in [
            "tesla",
            "plant",
            "12",
            "tomato",
            "UK".to_lowercase().as_str(),
            "may",
        ] {
            assert!(terms.contains(expected), "{expected} in {terms:?}");
        }
        for absent in ["the", "according", "document", "in"] {
            assert!(!terms.contains(absent), "{absent} in {terms:?}");
        }
        assert_eq!(content_terms("Planting"), content_terms("planted"));
        assert!(is_number("1884") && !is_number("tesla"));
    }
}
