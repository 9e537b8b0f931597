//! Splits a device CSV into uploads of a few rows each, so the import can
//! show progress, and maps the line numbers the registry reports for a
//! chunk back to lines of the file.
//!
//! Each chunk is the file's header followed by a contiguous slice of its
//! raw bytes (quoting, blank lines and line ends untouched), so the
//! registry parses a chunk exactly as it would parse the whole file.
//! Duplicates are detected per chunk by the registry; an endpoint repeated
//! in a later chunk fails there as "already exists" (or comes back
//! UNCHANGED when the row is identical).

use crate::error::Error;

#[derive(Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Header plus rows, ready to upload.
    pub csv: Vec<u8>,
    /// How many data rows it holds.
    pub rows: usize,
    /// Add to a line number the registry reports for this chunk to get the
    /// line in the file.
    line_offset: u32,
}

impl Chunk {
    pub fn file_line(&self, chunk_line: u32) -> u32 {
        chunk_line.saturating_add(self.line_offset)
    }
}

/// The registry picks the delimiter the same way: `;` when the header has
/// semicolons and no comma.
fn delimiter(text: &[u8]) -> u8 {
    let header = text
        .split(|b| *b == b'\n')
        .find(|line| !line.iter().all(u8::is_ascii_whitespace))
        .unwrap_or_default();
    if header.contains(&b';') && !header.contains(&b',') {
        b';'
    } else {
        b','
    }
}

fn newlines_before(text: &[u8], byte: usize) -> u32 {
    let count = text[..byte.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

pub fn split(text: &[u8], rows_per_chunk: usize) -> Result<Vec<Chunk>, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(text))
        .flexible(true)
        .has_headers(true)
        .from_reader(text);
    reader
        .byte_headers()
        .map_err(|e| Error::Usage(format!("header row: {e}")))?;
    // Where each data record starts, in bytes.
    let mut starts = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let position = reader.position().byte();
        match reader.read_byte_record(&mut record) {
            Ok(true) => starts.push(usize::try_from(position).unwrap_or(usize::MAX)),
            Ok(false) => break,
            Err(e) => return Err(Error::Usage(format!("not valid CSV: {e}"))),
        }
    }
    let Some(&first) = starts.first() else {
        return Ok(Vec::new());
    };
    let header = &text[..first];
    let header_lines = newlines_before(header, header.len());
    let mut chunks = Vec::new();
    for group in starts.chunks(rows_per_chunk.max(1)) {
        let begin = group[0];
        let end = starts
            .get(starts.partition_point(|&s| s <= group[group.len() - 1]))
            .copied()
            .unwrap_or(text.len());
        let mut csv = header.to_vec();
        csv.extend_from_slice(&text[begin..end]);
        chunks.push(Chunk {
            csv,
            rows: group.len(),
            // The chunk's byte `header.len()` is the file's byte `begin`.
            line_offset: newlines_before(text, begin).saturating_sub(header_lines),
        });
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "endpoint id,securityMode\n\
                        a,NO_SEC\n\
                        \n\
                        b,NO_SEC\n\
                        \"c\nd\",NO_SEC\n\
                        e,NO_SEC\n";

    #[test]
    fn chunks_repeat_the_header_and_cover_every_row_once() {
        let chunks = split(FILE.as_bytes(), 2).unwrap();
        let texts: Vec<String> = chunks
            .iter()
            .map(|c| String::from_utf8(c.csv.clone()).unwrap())
            .collect();
        assert_eq!(
            texts,
            [
                "endpoint id,securityMode\na,NO_SEC\n\nb,NO_SEC\n",
                "endpoint id,securityMode\n\"c\nd\",NO_SEC\ne,NO_SEC\n",
            ]
        );
        assert_eq!(chunks.iter().map(|c| c.rows).sum::<usize>(), 4);
    }

    #[test]
    fn chunk_lines_map_back_to_file_lines() {
        let chunks = split(FILE.as_bytes(), 2).unwrap();
        // First chunk: "b" is on line 4 of both.
        assert_eq!(chunks[0].file_line(4), 4);
        // Second chunk: its line 2 ("c\nd", starting on line 5 of the file).
        assert_eq!(chunks[1].file_line(2), 5);
        // "e" is line 4 of the chunk and line 7 of the file.
        assert_eq!(chunks[1].file_line(4), 7);
    }

    #[test]
    fn semicolons_are_the_delimiter_when_the_header_says_so() {
        let chunks = split(b"endpoint id;securityMode\na;NO_SEC\nb;NO_SEC\n", 1).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].csv, b"endpoint id;securityMode\nb;NO_SEC\n");
    }

    #[test]
    fn a_header_alone_has_no_chunks() {
        assert!(split(b"endpoint id,securityMode\n", 10).unwrap().is_empty());
    }
}
