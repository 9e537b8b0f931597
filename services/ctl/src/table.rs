//! Column-aligned text tables for humans (scripts use `--json`).

/// Rows of cells under a header; every column but the last is padded to
/// its widest cell, so long messages in the last column do not widen the
/// others.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().take(columns).enumerate() {
                if i + 1 == columns {
                    line.push_str(cell);
                } else {
                    let pad = widths[i].saturating_sub(cell.chars().count());
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_the_last_one_is_not_padded() {
        let mut t = Table::new(&["LINE", "ENDPOINT", "STATUS"]);
        t.row(vec!["2".into(), "sim-0001".into(), "CREATED".into()]);
        t.row(vec!["13".into(), "x".into(), "FAILED: bad key".into()]);
        assert_eq!(
            t.render(),
            "LINE  ENDPOINT  STATUS\n\
             2     sim-0001  CREATED\n\
             13    x         FAILED: bad key\n"
        );
    }

    #[test]
    fn an_empty_table_is_its_header() {
        assert_eq!(Table::new(&["A", "B"]).render(), "A  B\n");
    }
}
