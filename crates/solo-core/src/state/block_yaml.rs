//! A fast reader for the plain block-style YAML that solo itself prints (see `canonical`).
//!
//! The general YAML reader costs ~10 µs per component, too slow for the largest deployments, so
//! [`read`] reads the narrow subset that canonical printing produces, and hand edits of it keep:
//! block mappings of `key: value` lines, block lists of `- ` items, `[]` and `{}`, full-line
//! comments, and scalars that YAML can only read as strings (plain words such as `node0`,
//! `2.0.0`, `10.0.0.1` or `2025-01-01T00:00:00Z`, quoted text without escapes, and plain
//! decimal integers such as `50211`).
//!
//! It never guesses: on anything else (tabs, flow collections, anchors, tags, block scalars,
//! trailing comments, duplicate keys, a scalar YAML might read as a float, a boolean or null,
//! deeper nesting than [`MAX_NESTING_DEPTH`]) it returns `None`, and the caller reads the text
//! with the general reader, which also gives the precise error. Tests check that whenever it
//! returns a value, the general reader returns the same document.

use super::parse::MAX_NESTING_DEPTH;
use serde_json::{Map, Value};

/// The value of a document in the subset, or `None` when the text is outside it.
pub(crate) fn read(text: &str) -> Option<Value> {
    let lines = lines(text)?;
    let mut reader = Reader { lines, next: 0 };
    match reader.lines.first() {
        Some(Line { indent: 0, .. }) => {}
        _ => return None,
    }
    let root = reader.node(-1, 0)?;
    (root.is_object() && reader.next == reader.lines.len()).then_some(root)
}

/// One line after splitting `- ` items: a dash, a `key:` with its value, or an item's scalar.
#[derive(Debug)]
struct Line<'a> {
    indent: isize,
    kind: Kind<'a>,
}

#[derive(Debug)]
enum Kind<'a> {
    Dash,
    Entry(&'a str, Option<&'a str>),
    Scalar(&'a str),
}

/// Splits the text into lines; `- rest` becomes a dash and `rest` two columns further in.
fn lines(text: &str) -> Option<Vec<Line<'_>>> {
    let mut out = Vec::new();
    for raw in text.split('\n') {
        if raw.contains(['\t', '\r']) {
            return None;
        }
        let content = raw.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let mut indent = (raw.len() - content.len()) as isize;
        let mut rest = content.trim_end_matches(' ');
        loop {
            if rest == "-" {
                out.push(Line {
                    indent,
                    kind: Kind::Dash,
                });
                break;
            }
            if let Some(after) = rest.strip_prefix("- ") {
                out.push(Line {
                    indent,
                    kind: Kind::Dash,
                });
                let item = after.trim_start_matches(' ');
                indent += (rest.len() - item.len()) as isize;
                rest = item;
                if let Some(entry) = entry(rest) {
                    out.push(Line {
                        indent,
                        kind: entry,
                    });
                    break;
                }
                if rest == "-" || rest.starts_with("- ") {
                    continue;
                }
                out.push(Line {
                    indent,
                    kind: Kind::Scalar(rest),
                });
                break;
            }
            out.push(Line {
                indent,
                kind: entry(rest)?,
            });
            break;
        }
    }
    Some(out)
}

/// `key:` or `key: value`, with a key of letters, digits and dashes.
fn entry(content: &str) -> Option<Kind<'_>> {
    let (key, value) = match content.find(": ") {
        Some(at) => (
            &content[..at],
            Some(content[at + 2..].trim_start_matches(' ')),
        ),
        None => (content.strip_suffix(':')?, None),
    };
    let mut chars = key.chars();
    let first_is_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (first_is_letter && chars.all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .then_some(Kind::Entry(key, value))
}

struct Reader<'a> {
    lines: Vec<Line<'a>>,
    next: usize,
}

impl Reader<'_> {
    /// The node nested under a line at `parent` indentation: a mapping, a list, one scalar, or
    /// nothing (null).
    fn node(&mut self, parent: isize, depth: usize) -> Option<Value> {
        if depth > MAX_NESTING_DEPTH {
            return None;
        }
        let Some(line) = self.lines.get(self.next) else {
            return Some(Value::Null);
        };
        let indent = line.indent;
        if indent <= parent {
            return Some(Value::Null);
        }
        match line.kind {
            Kind::Dash => self.list(indent, depth),
            Kind::Entry(..) => self.mapping(indent, depth),
            Kind::Scalar(text) => {
                self.next += 1;
                let value = scalar(text)?;
                self.ends_block(parent).then_some(value)
            }
        }
    }

    fn list(&mut self, indent: isize, depth: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some(Line {
            indent: i,
            kind: Kind::Dash,
        }) = self.lines.get(self.next)
            && *i == indent
        {
            self.next += 1;
            items.push(self.node(indent, depth + 1)?);
        }
        self.ends_block(indent - 1).then_some(Value::Array(items))
    }

    fn mapping(&mut self, indent: isize, depth: usize) -> Option<Value> {
        let mut map = Map::new();
        while let Some(Line {
            indent: i,
            kind: Kind::Entry(key, value),
        }) = self.lines.get(self.next)
            && *i == indent
        {
            let (key, value) = (*key, *value);
            self.next += 1;
            let value = match value {
                Some(text) => {
                    let value = scalar(text)?;
                    if !self.ends_block(indent) {
                        return None;
                    }
                    value
                }
                None => self.node(indent, depth + 1)?,
            };
            if map.insert(key.to_owned(), value).is_some() {
                return None;
            }
        }
        self.ends_block(indent - 1).then_some(Value::Object(map))
    }

    /// Whether the next line (if any) is back at `parent` indentation or further out.
    fn ends_block(&self, parent: isize) -> bool {
        self.lines.get(self.next).is_none_or(|l| l.indent <= parent)
    }
}

/// A scalar that YAML can only read as a string, or an empty list or mapping.
fn scalar(text: &str) -> Option<Value> {
    match text {
        "[]" => return Some(Value::Array(Vec::new())),
        "{}" => return Some(Value::Object(Map::new())),
        _ => {}
    }
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote) {
            let inner = inner.strip_suffix(quote)?;
            let plain = !inner.contains([quote, '\\']) && !inner.chars().any(char::is_control);
            return plain.then(|| Value::String(inner.to_owned()));
        }
    }
    if let Some(n) = plain_integer(text) {
        return Some(Value::from(n));
    }
    plain_string(text).then(|| Value::String(text.to_owned()))
}

/// A plain decimal integer that every YAML schema reads as a number (`0`, `50211`): digits
/// only, no sign, no leading zero, at most 15 digits.
fn plain_integer(text: &str) -> Option<u64> {
    let decimal = !text.is_empty()
        && text.len() <= 15
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    decimal.then(|| text.parse().ok()).flatten()
}

/// A plain scalar that every YAML schema reads as a string: a word of letters, digits and
/// `. _ @ + / : - { } $` (braces and `$` are plain inside a block-style word, as in the pattern
/// `network-{nodeAlias}-svc`), starting with a letter (but not a word YAML reads as a boolean
/// or null), or starting with a digit only in the shape of a version (`2.0.0`) or a timestamp, or with a
/// letter no number has.
fn plain_string(text: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._@+/:-{}$".contains(c);
    let Some(first) = text.chars().next() else {
        return false;
    };
    if !text.chars().all(allowed) || text.ends_with(':') {
        return false;
    }
    if first.is_ascii_alphabetic() {
        const RESERVED: [&str; 14] = [
            "true", "false", "null", "yes", "no", "on", "off", "y", "n", "inf", "infinity", "nan",
            "NaN", "Null",
        ];
        let lower = text.to_ascii_lowercase();
        return !RESERVED.contains(&lower.as_str());
    }
    first.is_ascii_digit()
        && (is_version(text)
            || is_timestamp(text)
            || has_word_letter(text)
            || is_dashed_digits(text))
}

/// Digits joined by dashes, as in `1-2`, but not the start of a date (`2001-12-14`).
fn is_dashed_digits(text: &str) -> bool {
    let date_like = text.len() > 4
        && text.as_bytes()[4] == b'-'
        && text[..4].chars().all(|c| c.is_ascii_digit());
    text.contains('-') && text.chars().all(|c| c.is_ascii_digit() || c == '-') && !date_like
}

/// Whether the text has a letter that no YAML number, date or prefix (`0x`, `0o`, `0b`, `1e5`)
/// uses, as in `0-history-01`.
fn has_word_letter(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_ascii_alphabetic() && !"abcdefoxABCDEFOXTZtz".contains(c))
}

fn is_version(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    (3..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn is_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && text.ends_with('Z')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_block_subset() {
        let text = "a: x\nb:\n  - name: n1\n    list:\n      - p\n      - q\n  - name: n2\n# c\nc: []\nd: \"1.0\"\ne:\n";
        let v = read(text).expect("in the subset");
        assert_eq!(
            v,
            serde_json::json!({
                "a": "x",
                "b": [{"name": "n1", "list": ["p", "q"]}, {"name": "n2"}],
                "c": [],
                "d": "1.0",
                "e": null,
            })
        );
    }

    #[test]
    fn leaves_everything_else_to_the_general_reader() {
        for text in [
            "a: 01\n",
            "a: -1\n",
            "a: +1\n",
            "a: 1234567890123456\n",
            "a: true\n",
            "a: ~\n",
            "a: x # comment\n",
            "a: &x y\n",
            "a: *x\n",
            "a: [x]\n",
            "a: !tag x\n",
            "a: |\n  x\n",
            "a: x\na: y\n",
            "a:\n- x\n",
            "a:\n\t- x\n",
            "a: \"x\\n\"\n",
            "- a\n",
            "  a: x\nb: y\n",
            "a: x\n  b: y\n",
            "a:\n  - x\n    y\n",
            "--- \na: x\n",
            "a: 1.5\n",
            "a: 1_000\n",
            "a: 0x1F\n",
            "a: off\n",
            "a: x y\n",
        ] {
            assert_eq!(read(text), None, "{text:?}");
        }
    }

    #[test]
    fn reads_plain_decimal_integers_and_dotted_quads() {
        assert_eq!(
            read("a: 0\nb: 50211\nc: 10.0.0.7\n"),
            Some(serde_json::json!({"a": 0, "b": 50211, "c": "10.0.0.7"}))
        );
        assert_eq!(
            read("p: network-${nodeAlias}-svc.{namespace}.svc\n"),
            Some(serde_json::json!({"p": "network-${nodeAlias}-svc.{namespace}.svc"}))
        );
    }
}
