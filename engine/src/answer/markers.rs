//! Citation markers as models write them ("[1]", "[1, 2]", "[Source 3]"), normalised to
//! "[n]" while the answer streams; markers that point at no source are dropped.

/// Parses "[1]", "[1, 2]", "[Source 3]" into source numbers; None when the
/// bracket holds anything else.
fn marker_numbers(inner: &str) -> Option<Vec<usize>> {
    let cleaned = inner
        .trim()
        .trim_start_matches("Sources")
        .trim_start_matches("Source");
    let cleaned = cleaned.trim_start_matches("sources").trim_start_matches("source");
    let numbers: Option<Vec<usize>> = cleaned
        .split(',')
        .map(|part| part.trim().parse::<usize>().ok())
        .collect();
    numbers.filter(|n| !n.is_empty())
}

/// The marker for the numbers of `numbers` that name a source, or nothing.
fn rewrite_marker(numbers: &[usize], sources: usize) -> String {
    numbers
        .iter()
        .filter(|n| (1..=sources).contains(*n))
        .map(|n| format!("[{n}]"))
        .collect()
}

/// Removes or rewrites markers in finished text, exactly as [`CitationFilter`] does while streaming.
#[cfg(test)]
fn strip_invalid_markers(text: &str, sources: usize) -> String {
    let mut filter = CitationFilter::new(sources);
    let mut out = filter.push(text);
    out.push_str(&filter.finish());
    out
}

/// Passes streamed text through, holding back a "[…" until it is known to be a
/// citation marker; markers that point at no source are dropped, valid ones
/// written as "[n]".
pub struct CitationFilter {
    sources: usize,
    pending: Option<String>,
}

/// Longest bracket content still considered a possible marker.
const MAX_MARKER: usize = 24;

impl CitationFilter {
    pub fn new(sources: usize) -> CitationFilter {
        CitationFilter {
            sources,
            pending: None,
        }
    }

    pub fn push(&mut self, piece: &str) -> String {
        let mut out = String::with_capacity(piece.len());
        for c in piece.chars() {
            match self.pending.as_mut() {
                None if c == '[' => self.pending = Some(String::from("[")),
                None => out.push(c),
                Some(pending) if c == ']' => {
                    match marker_numbers(&pending[1..]) {
                        Some(numbers) => out.push_str(&rewrite_marker(&numbers, self.sources)),
                        None => {
                            out.push_str(pending);
                            out.push(']');
                        }
                    }
                    self.pending = None;
                }
                Some(pending) => {
                    let possible = c.is_ascii_digit() || c == ',' || c == ' ' || c.is_ascii_alphabetic();
                    if possible && pending.len() < MAX_MARKER {
                        pending.push(c);
                    } else {
                        out.push_str(pending);
                        self.pending = None;
                        if c == '[' {
                            self.pending = Some(String::from("["));
                        } else {
                            out.push(c);
                        }
                    }
                }
            }
        }
        out
    }

    /// Whatever is still held back when the stream ends.
    pub fn finish(&mut self) -> String {
        self.pending.take().unwrap_or_default()
    }
}

/// The markers "[n]" in `text` (as [`CitationFilter`] writes them), with their byte ranges.
pub(crate) fn markers_in(text: &str) -> Vec<(std::ops::Range<usize>, usize)> {
    let mut found = Vec::new();
    let mut offset = 0;
    while let Some(open) = text[offset..].find('[') {
        let start = offset + open;
        let Some(close) = text[start..].find(']') else {
            break;
        };
        let end = start + close + 1;
        match marker_numbers(&text[start + 1..end - 1]) {
            Some(numbers) if numbers.len() == 1 => found.push((start..end, numbers[0])),
            _ => {}
        }
        offset = start + 1;
    }
    found
}

/// `text` without its citation markers ("[2]", "[1, 3]", "[Source 2]"), which would otherwise
/// read as words or numbers.
pub fn without_markers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close) if marker_numbers(&after[..close]).is_some() => rest = &after[close + 1..],
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The source numbers of every marker in `text`, as the model wrote them, in order.
pub fn numbers_in(text: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else {
            break;
        };
        if let Some(numbers) = marker_numbers(&after[..close]) {
            found.extend(numbers);
        }
        rest = &after[close + 1..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_that_point_at_nothing_are_dropped_even_when_split_across_tokens() {
        let mut filter = CitationFilter::new(2);
        let mut out = String::new();
        for piece in [
            "Frost ends in May [",
            "1",
            "]. Plant",
            " beans late [",
            "7]",
            "[Source 2]",
            " [see below].",
        ] {
            out.push_str(&filter.push(piece));
        }
        out.push_str(&filter.finish());
        assert_eq!(out, "Frost ends in May [1]. Plant beans late [2] [see below].");
        assert_eq!(strip_invalid_markers("A [1, 3] b [0]", 2), "A [1] b ");
    }

    #[test]
    fn markers_are_found_and_removed() {
        assert_eq!(
            markers_in("May [2]. See [1][3] and [note]."),
            [(4..7, 2), (13..16, 1), (16..19, 3)]
        );
        assert_eq!(
            without_markers("In 1957 [2]. Also [1, 3], [Source 2] and [note]."),
            "In 1957 . Also ,  and [note]."
        );
    }
}
