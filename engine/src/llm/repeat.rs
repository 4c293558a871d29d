//! Stops a small model's greedy loops, whatever runs the model.

/// Stops a small model's greedy loop: a line that repeats an earlier line word
/// for word ends the generation. While the line being written could still turn
/// out to be such a repeat (it is the start of an earlier line) it is held back,
/// so nothing that is later dropped is ever shown.
#[derive(Default)]
pub struct RepeatGuard {
    lines: Vec<String>,
    /// The line being written, and how much of it is not shown yet.
    current: String,
    held: String,
    /// Words written so far (lowercase), and the one being written.
    words: Vec<String>,
    word: String,
}

/// A phrase of up to this many words said three times in a row is a loop.
const MAX_LOOP_PHRASE: usize = 12;

/// Lines shorter than this may repeat legitimately ("- Yes", a blank line).
const MIN_REPEATED_LINE: usize = 16;

impl RepeatGuard {
    /// What can be shown of `piece`, and whether the model is looping.
    pub fn push(&mut self, piece: &str) -> (String, bool) {
        let mut shown = String::new();
        for c in piece.chars() {
            self.current.push(c);
            self.held.push(c);
            if c.is_alphanumeric() {
                self.word.extend(c.to_lowercase());
            } else if !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                if self.phrase_loops() {
                    // Shown up to the loop's start is fine; the rest is dropped.
                    self.held.clear();
                    return (shown, true);
                }
            }
            if c == '\n' {
                let line = self.current.trim().to_string();
                if line.len() >= MIN_REPEATED_LINE && self.lines.contains(&line) {
                    return (shown, true);
                }
                self.lines.push(line);
                self.current.clear();
                shown.push_str(&std::mem::take(&mut self.held));
                continue;
            }
            let partial = self.current.trim_start();
            let may_repeat = !partial.is_empty()
                && self
                    .lines
                    .iter()
                    .any(|l| l.len() >= MIN_REPEATED_LINE && l.starts_with(partial));
            if !may_repeat {
                shown.push_str(&std::mem::take(&mut self.held));
            }
        }
        (shown, false)
    }

    /// Whether the last words are one phrase said three times running ("at a desk at a desk at a desk").
    fn phrase_loops(&self) -> bool {
        let words = &self.words;
        (2..=MAX_LOOP_PHRASE).any(|n| {
            words.len() >= 3 * n && {
                let end = words.len();
                let last = &words[end - n..];
                last == &words[end - 2 * n..end - n] && last == &words[end - 3 * n..end - 2 * n]
            }
        })
    }

    /// The held-back end of the last line when the model stops on its own.
    pub fn finish(&mut self) -> String {
        let line = self.current.trim();
        if line.len() >= MIN_REPEATED_LINE && self.lines.iter().any(|l| l == line) {
            // The last line repeats an earlier one and simply lacks its line break.
            self.held.clear();
        }
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_line_stops_the_generation_and_is_never_shown() {
        let mut guard = RepeatGuard::default();
        let mut shown = String::new();
        let mut looping = false;
        for piece in [
            "The gauge should read 1.5 bar.\n",
            "I could not find",
            " this.\n",
            "I could",
            " not find this.\n",
            "more",
        ] {
            let (out, stop) = guard.push(piece);
            shown.push_str(&out);
            if stop {
                looping = true;
                break;
            }
        }
        assert!(looping);
        assert_eq!(shown, "The gauge should read 1.5 bar.\nI could not find this.\n");
        // A line that only starts like an earlier one is shown once it differs.
        let mut guard = RepeatGuard::default();
        let (a, _) = guard.push("Sow tomatoes in March indoors.\nSow tomatoes");
        assert_eq!(a, "Sow tomatoes in March indoors.\n");
        let (b, stop) = guard.push(" outside in May.\n");
        assert_eq!((b.as_str(), stop), ("Sow tomatoes outside in May.\n", false));
        // A repeat as the very last line, with no line break, is dropped too.
        let (c, _) = guard.push("Sow tomatoes in March indoors.");
        assert_eq!((c.as_str(), guard.finish().as_str()), ("", ""));
    }

    #[test]
    fn a_phrase_said_three_times_running_stops_the_generation() {
        let mut guard = RepeatGuard::default();
        let (shown, stop) = guard.push("Ask at the front desk, at the front desk, at the front desk, at the");
        assert!(stop, "{shown}");
        let mut guard = RepeatGuard::default();
        let (_, stop) = guard.push("Water deeply, twice a week, twice in dry spells and once in wet ones. ");
        assert!(!stop);
    }
}
