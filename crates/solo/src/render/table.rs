//! Every table solo prints, through one table crate: columns sized to their content.

use comfy_table::{ContentArrangement, Table, presets};

/// A table of `header` and `rows`, plain text (no borders), each line ending in a newline.
pub fn table<R, C>(header: &[&str], rows: R) -> String
where
    R: IntoIterator<Item = Vec<C>>,
    C: Into<String>,
{
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    for row in rows {
        t.add_row(
            row.into_iter()
                .map(|c| super::clean(&c.into()))
                .collect::<Vec<_>>(),
        );
    }
    // The preset pads every cell with one space on each side: trim the line ends.
    let mut text: String = t
        .lines()
        .map(|l| {
            l.trim_end()
                .strip_prefix(' ')
                .unwrap_or(&l)
                .trim_end()
                .to_owned()
                + "\n"
        })
        .collect();
    if text.is_empty() {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_fit_their_widest_cell() {
        let text = super::table(&["NAME", "N"], [vec!["a", "1"], vec!["longer-name", "22"]]);
        assert_eq!(text, "NAME         N\na            1\nlonger-name  22\n");
    }
}
