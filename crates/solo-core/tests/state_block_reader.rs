//! The fast block-subset reader never disagrees with the general YAML reader: whenever it reads a
//! text, the general reader reads the same document from it. Canonical text is always in the
//! subset; edited, broken and hostile texts either read the same or are left to the general
//! reader.

mod state_support;

use proptest::prelude::*;
use solo_core::state::{self, parse_block_subset, parse_general};
use state_support::valid_document;
use std::path::Path;

fn agrees(text: &[u8]) -> Result<(), TestCaseError> {
    if let Some(fast) = parse_block_subset(text) {
        let general = parse_general(text);
        prop_assert!(
            general.is_ok(),
            "the block reader read a text the general reader refuses: {:?}\n{}",
            general,
            String::from_utf8_lossy(text)
        );
        prop_assert_eq!(&general.unwrap().document, &fast);
    }
    Ok(())
}

/// One small edit of a text: the kinds of change a hand edit or a fuzzer makes.
fn edit(text: String) -> impl Strategy<Value = String> {
    let len = text.len().max(1);
    let lines = text.lines().count().max(1);
    let nasty = prop::sample::select(vec![
        " ", "  ", "-", "- ", ":", ": ", "#", " #", "\"", "'", "\\", "[", "]", "{", "}", "&a ",
        "*a", "!t ", "|", ">", "~", "\t", "\r", "\n", "0", "1.5", "true", "null", "x", "---\n",
        "é", "%",
    ]);
    (0..len, 0..len, 0..lines, 0..lines, nasty, 0usize..5).prop_map(
        move |(at, to, line_a, line_b, piece, kind)| {
            let at = floor_char(&text, at);
            let to = floor_char(&text, to);
            let mut out: Vec<String> = text.lines().map(str::to_owned).collect();
            match kind {
                0 => format!("{}{piece}{}", &text[..at], &text[at..]),
                1 => {
                    let (a, b) = (at.min(to), at.max(to));
                    format!("{}{}", &text[..a], &text[b..])
                }
                2 => {
                    let copy = out[line_a].clone();
                    out.insert(line_b, copy);
                    out.join("\n") + "\n"
                }
                3 => {
                    out.swap(line_a, line_b);
                    out.join("\n") + "\n"
                }
                _ => {
                    out[line_a] = format!("{piece}{}", out[line_a].trim_start());
                    out.join("\n") + "\n"
                }
            }
        },
    )
}

fn floor_char(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn canonical_text_is_in_the_subset_and_reads_the_same(doc in valid_document()) {
        let text = state::to_canonical_yaml(&doc).expect("prints");
        let fast = parse_block_subset(text.as_bytes());
        prop_assert!(fast.is_some(), "canonical text left to the general reader:\n{}", text);
        agrees(text.as_bytes())?;
    }

    #[test]
    fn edited_text_reads_the_same_or_is_left_to_the_general_reader(
        text in valid_document().prop_flat_map(|doc| edit(state::to_canonical_yaml(&doc).expect("prints")))
    ) {
        agrees(text.as_bytes())?;
    }

    #[test]
    fn twice_edited_text_agrees_too(
        text in valid_document()
            .prop_flat_map(|doc| edit(state::to_canonical_yaml(&doc).expect("prints")))
            .prop_flat_map(edit)
    ) {
        agrees(text.as_bytes())?;
    }
}

#[test]
fn every_file_of_the_corpus_reads_the_same_or_is_left_to_the_general_reader() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/state");
    let mut files = vec![data.join("reference-example.yaml")];
    for entry in std::fs::read_dir(data.join("malformed")).expect("corpus") {
        files.push(entry.expect("entry").path());
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/my-network.yaml");
    files.push(example);
    for file in files {
        let text = std::fs::read(&file).expect("read");
        agrees(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}
