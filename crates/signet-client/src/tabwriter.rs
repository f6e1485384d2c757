//! The column layout of Go's `text/tabwriter` as the notary CLI configures it
//! (`minwidth 4, tabwidth 4, padding 4, padchar ' ', flags 0`) and as the docker CLI's
//! formatter does (`minwidth 10, padding 3`), so tables come out byte for byte as they
//! print them.
//!
//! The rules (from Go's documentation): a cell is text terminated by a tab; the text after a
//! line's last tab is not a cell and is never padded. A *column block* is a run of
//! consecutive lines that all have a cell in the same column; every cell of a block is padded
//! to the block's widest cell plus the padding (at least the minimum width). Blocks nest: the
//! next column is laid out block by block within the rows of the enclosing block.

/// notary's minimum cell width.
pub(crate) const MIN_WIDTH: usize = 4;
/// notary's padding after a cell's text.
pub(crate) const PADDING: usize = 4;

/// Lays out `text` (lines separated by `\n`, cells by `\t`) as Go's tabwriter does with
/// notary's settings.
pub(crate) fn format(text: &str) -> String {
    format_with(text, MIN_WIDTH, PADDING)
}

/// The same layout with another minimum cell width and padding (the docker CLI's tables
/// use `minwidth 10, padding 3`).
pub(crate) fn format_with(text: &str, min_width: usize, padding: usize) -> String {
    let ends_with_newline = text.ends_with('\n');
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<Vec<&str>> = body.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut widths = Vec::new();
    let cfg = (min_width, padding);
    layout(&lines, 0, lines.len(), cfg, &mut widths, &mut out);
    if !ends_with_newline {
        out.pop();
    }
    out
}

/// Go's `format`: finds the column blocks of column `widths.len()` in `lines[start..end]`.
fn layout(
    lines: &[Vec<&str>],
    start: usize,
    end: usize,
    cfg: (usize, usize),
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let column = widths.len();
    let mut line0 = start;
    let mut this = start;
    while this < end {
        // lines[..].len() - 1 is the number of tab-terminated cells
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut width = cfg.0;
        while this < end && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].chars().count() + cfg.1);
            this += 1;
        }
        widths.push(width);
        layout(lines, line0, this, cfg, widths, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, end, widths, out);
}

fn write_lines(lines: &[Vec<&str>], start: usize, end: usize, widths: &[usize], out: &mut String) {
    for line in &lines[start..end] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(w) = widths.get(j) {
                let pad = w.saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn simple_table_pads_all_but_the_last_column() {
        let t = "NAME\tDIGEST\tROLE\n----\t------\t----\nv1\tabc\ttargets\n";
        assert_eq!(
            format(t),
            "NAME    DIGEST    ROLE\n----    ------    ----\nv1      abc       targets\n"
        );
    }

    #[test]
    fn rows_with_fewer_cells_split_column_blocks() {
        // notary's delegation list: extra rows are "\tpath\tkid\t" (empty last cell)
        let t = "A\tB\tC\n-\t-\t-\nrole\tp1\tk1\t1\n\tp2\tlongerkey\t\n";
        assert_eq!(
            format(t),
            "A       B     C\n-       -     -\nrole    p1    k1           1\n        p2    longerkey    \n"
        );
    }
}
