//! COPY: options, and the incremental decoder that turns COPY FROM STDIN
//! data (text or CSV, arriving in arbitrary chunks) into validated,
//! stamped assertions. The first bad row fails the whole COPY with its line
//! number and column. Rows are held in memory, or for a large autocommit
//! COPY staged on disk (`storage::staging`), and become visible only when
//! the data ends, so a failed COPY leaves no trace.

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption};

use crate::error::{Error, Result, sqlstate};
use crate::model::{Claim, NewAssertion};
use crate::storage::Store;

/// Data format of a COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv,
}

/// COPY options (PostgreSQL's names and defaults).
#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub format: CopyFormat,
    pub header: bool,
    pub delimiter: u8,
    pub null: String,
    pub quote: u8,
    pub escape: u8,
}

impl CopyOptions {
    pub fn parse(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<CopyOptions> {
        let mut format = CopyFormat::Text;
        let (mut header, mut delimiter, mut null, mut quote, mut escape) =
            (false, None, None, b'"', None);
        let ascii = |c: char, what: &str| -> Result<u8> {
            u8::try_from(c as u32).map_err(|_| {
                Error::new(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    format!("COPY {what} must be a single one-byte character"),
                )
            })
        };
        for o in options {
            match o {
                CopyOption::Format(f) => {
                    format = match f.value.to_ascii_lowercase().as_str() {
                        "text" => CopyFormat::Text,
                        "csv" => CopyFormat::Csv,
                        other => {
                            return Err(Error::new(
                                sqlstate::FEATURE_NOT_SUPPORTED,
                                format!(
                                    "COPY format \"{other}\" is not supported (use text or csv)"
                                ),
                            ));
                        }
                    }
                }
                CopyOption::Header(h) => header = *h,
                CopyOption::Delimiter(c) => delimiter = Some(ascii(*c, "delimiter")?),
                CopyOption::Null(n) => null = Some(n.clone()),
                CopyOption::Quote(c) => quote = ascii(*c, "quote")?,
                CopyOption::Escape(c) => escape = Some(ascii(*c, "escape")?),
                CopyOption::Freeze(_) | CopyOption::Encoding(_) => {}
                other => {
                    return Err(Error::new(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        format!("COPY option {other} is not supported"),
                    ));
                }
            }
        }
        for o in legacy {
            match o {
                CopyLegacyOption::Csv(csv) => {
                    format = CopyFormat::Csv;
                    for c in csv {
                        match c {
                            CopyLegacyCsvOption::Header => header = true,
                            CopyLegacyCsvOption::Quote(q) => quote = ascii(*q, "quote")?,
                            CopyLegacyCsvOption::Escape(e) => escape = Some(ascii(*e, "escape")?),
                            _ => {}
                        }
                    }
                }
                CopyLegacyOption::Header => header = true,
                CopyLegacyOption::Delimiter(c) => delimiter = Some(ascii(*c, "delimiter")?),
                CopyLegacyOption::Null(n) => null = Some(n.clone()),
                other => {
                    return Err(Error::new(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        format!("COPY option {other} is not supported"),
                    ));
                }
            }
        }
        let csv = format == CopyFormat::Csv;
        Ok(CopyOptions {
            header,
            delimiter: delimiter.unwrap_or(if csv { b',' } else { b'\t' }),
            null: null.unwrap_or_else(|| if csv { String::new() } else { "\\N".into() }),
            quote,
            escape: escape.unwrap_or(quote),
            format,
        })
    }
}

/// Columns COPY FROM (and `stemedb import`) may fill, in their default order.
pub const COPY_COLUMNS: [&str; 10] = [
    "subject",
    "predicate",
    "object",
    "object_type",
    "source",
    "tier",
    "confidence",
    "agent",
    "observed_at",
    "supersedes",
];

/// Checks a COPY column list; an empty list means every writable column.
pub fn copy_columns(columns: &[String]) -> Result<Vec<String>> {
    if columns.is_empty() {
        return Ok(COPY_COLUMNS.iter().map(|c| c.to_string()).collect());
    }
    for c in columns {
        if crate::planner::schema::GENERATED_ASSERTION_COLUMNS.contains(&c.as_str()) {
            return Err(Error::new(
                sqlstate::GENERATED_ALWAYS,
                format!("cannot COPY into column \"{c}\": it is generated by the server"),
            ));
        }
        if !COPY_COLUMNS.contains(&c.as_str()) {
            return Err(Error::new(
                sqlstate::UNDEFINED_COLUMN,
                format!("column \"{c}\" of relation \"assertions\" does not exist"),
            ));
        }
    }
    for required in ["subject", "predicate", "object", "source"] {
        if !columns.iter().any(|c| c == required) {
            return Err(Error::new(
                sqlstate::NOT_NULL_VIOLATION,
                format!(
                    "null value in column \"{required}\" of relation \"assertions\" violates not-null constraint (COPY must include it)"
                ),
            ));
        }
    }
    Ok(columns.to_vec())
}

/// Rows a COPY holds in memory before it stages them on disk (only outside
/// a transaction block; inside one, the block holds its writes).
const STAGE_AFTER_ROWS: usize = 20_000;
const STAGE_AFTER_BYTES: usize = 8 << 20;

/// The longest record COPY accepts. The largest valid row (a 64 KiB object,
/// 1 KiB text columns, escapes doubling them) is far below it; a stream
/// without line ends fails here instead of growing a buffer.
const MAX_RECORD_BYTES: usize = 1 << 20;

/// A finished COPY's rows: in memory, or staged in storage.
pub enum CopyRows {
    Memory(Vec<Claim>),
    Staged { copy: u64, rows: usize },
}

/// An in-progress COPY FROM STDIN.
pub struct CopyIn {
    options: CopyOptions,
    columns: Vec<String>,
    user: String,
    /// Bytes of an unfinished line or record.
    pending: Vec<u8>,
    /// Line number of the next record (1-based, counting the header).
    line: usize,
    done: bool,
    rows: Vec<Claim>,
    /// Input bytes of the rows in `rows`.
    held_bytes: usize,
    /// Where rows are staged on disk (an autocommit COPY), if they may be.
    stage_into: Option<Arc<Store>>,
    /// The staging id and the number of rows staged so far.
    staged: Option<(u64, usize)>,
    error: Option<Error>,
    /// When the COPY statement ran (the COPY's latency runs to its end).
    started: std::time::Instant,
}

impl CopyIn {
    pub fn new(
        options: CopyOptions,
        columns: Vec<String>,
        user: &str,
        stage_into: Option<Arc<Store>>,
    ) -> CopyIn {
        CopyIn {
            options,
            columns,
            user: user.to_string(),
            pending: Vec::new(),
            line: 1,
            done: false,
            rows: Vec::new(),
            held_bytes: 0,
            stage_into,
            staged: None,
            error: None,
            started: std::time::Instant::now(),
        }
    }

    pub fn started(&self) -> std::time::Instant {
        self.started
    }

    pub fn columns(&self) -> usize {
        self.columns.len()
    }

    /// Feeds one CopyData chunk. Errors are kept until `finish`; once one
    /// occurs the rest of the data is ignored, as PostgreSQL does.
    pub fn feed(&mut self, data: &[u8]) {
        if self.error.is_some() || self.done {
            return;
        }
        self.pending.extend_from_slice(data);
        let result = self.drain(false).and_then(|()| {
            if self.pending.len() > MAX_RECORD_BYTES {
                return Err(self.error_at(
                    self.line,
                    None,
                    Error::new(
                        sqlstate::PROGRAM_LIMIT_EXCEEDED,
                        format!(
                            "a record is longer than {} KiB without an end of line",
                            MAX_RECORD_BYTES >> 10
                        ),
                    ),
                ));
            }
            let full = self.rows.len() >= STAGE_AFTER_ROWS || self.held_bytes >= STAGE_AFTER_BYTES;
            match (&self.stage_into, full) {
                (Some(_), true) => self.stage(),
                // Inside a block the rows stay in memory, bounded as the
                // block's own writes are.
                (None, _) => super::txn::check_block_size(self.held_bytes),
                (Some(_), false) => Ok(()),
            }
        });
        if let Err(e) = result {
            self.error = Some(e);
            self.pending = Vec::new();
            self.rows = Vec::new();
        }
    }

    /// Moves the rows held in memory to storage's staging area.
    fn stage(&mut self) -> Result<()> {
        let Some(store) = self.stage_into.clone() else {
            return Ok(());
        };
        let (copy, staged) = *self.staged.get_or_insert_with(|| (store.new_copy_id(), 0));
        store.stage(copy, staged as u64, &self.rows)?;
        self.staged = Some((copy, staged + self.rows.len()));
        self.rows = Vec::new();
        self.held_bytes = 0;
        Ok(())
    }

    /// Ends the data; returns the validated rows or the first error (after
    /// which nothing of the COPY remains, staged or not).
    pub fn finish(mut self) -> Result<CopyRows> {
        if self.error.is_none() {
            let result = self.drain(true).and_then(|()| match self.staged {
                Some(_) => self.stage(),
                None => Ok(()),
            });
            if let Err(e) = result {
                self.error = Some(e);
            }
        }
        // An error leaves `staged` set: dropping `self` discards the rows.
        match (self.error.take(), self.staged) {
            (Some(e), _) => Err(e),
            (None, Some((copy, rows))) => {
                self.staged = None; // now the caller's to apply
                Ok(CopyRows::Staged { copy, rows })
            }
            (None, None) => Ok(CopyRows::Memory(std::mem::take(&mut self.rows))),
        }
    }

    /// Decodes every complete record in `pending`.
    fn drain(&mut self, at_end: bool) -> Result<()> {
        let mut start = 0;
        loop {
            let rest = &self.pending[start..];
            let Some(len) = record_end(rest, &self.options, at_end) else {
                break;
            };
            let record = rest[..len].to_vec();
            start += len;
            let line = self.line;
            self.line += 1 + record
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                .saturating_sub(1);
            let record = strip_newline(&record);
            if self.done {
                continue;
            }
            if self.options.format == CopyFormat::Text && record == b"\\." {
                self.done = true;
                continue;
            }
            if line == 1 && self.options.header {
                continue;
            }
            if record.is_empty() && at_end && start >= self.pending.len() {
                continue;
            }
            let fields = split_fields(record, &self.options).map_err(|m| {
                self.error_at(
                    line,
                    None,
                    Error::new(sqlstate::INVALID_TEXT_REPRESENTATION, m),
                )
            })?;
            let row = self.row(line, fields)?;
            self.held_bytes += record.len();
            self.rows.push(row);
        }
        self.pending.drain(..start);
        Ok(())
    }

    fn error_at(&self, line: usize, column: Option<&str>, e: Error) -> Error {
        let place = match column {
            Some(c) => format!("COPY assertions, line {line}, column {c}"),
            None => format!("COPY assertions, line {line}"),
        };
        Error::new(e.code, format!("{}: {place}", e.message))
    }

    fn row(&self, line: usize, fields: Vec<Option<String>>) -> Result<Claim> {
        if fields.len() != self.columns.len() {
            let why = if fields.len() < self.columns.len() {
                "missing data for column"
            } else {
                "extra data after last expected column"
            };
            let col = self.columns.get(fields.len()).map(String::as_str);
            return Err(self.error_at(
                line,
                col,
                Error::new(
                    sqlstate::INVALID_TEXT_REPRESENTATION,
                    format!(
                        "{why} (expected {} columns, got {})",
                        self.columns.len(),
                        fields.len()
                    ),
                ),
            ));
        }
        let mut new = NewAssertion::default();
        for (column, value) in self.columns.iter().zip(fields) {
            super::ingest::set_text(&mut new, column, value)
                .map_err(|e| self.error_at(line, Some(column), e))?;
        }
        new.into_claim(&self.user).map_err(|e| {
            let column = e.column;
            self.error_at(line, column, e)
        })
    }
}

/// A COPY dropped before its rows were handed over — it failed, was
/// cancelled, or its connection went away — deletes what it staged.
impl Drop for CopyIn {
    fn drop(&mut self) {
        if let (Some((copy, _)), Some(store)) = (self.staged.take(), &self.stage_into)
            && let Err(e) = store.discard_staged(copy)
        {
            tracing::warn!("cannot discard the rows of an unfinished COPY: {e}");
        }
    }
}

fn strip_newline(record: &[u8]) -> &[u8] {
    let r = record.strip_suffix(b"\n").unwrap_or(record);
    r.strip_suffix(b"\r").unwrap_or(r)
}

/// Length of the first complete record in `data` (including its newline),
/// or `None` if it is not complete yet. CSV records may contain quoted
/// newlines; text records end at the first unescaped newline.
fn record_end(data: &[u8], o: &CopyOptions, at_end: bool) -> Option<usize> {
    if data.is_empty() {
        return None;
    }
    let mut in_quotes = false;
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        match o.format {
            CopyFormat::Text if b == b'\\' => i += 1,
            CopyFormat::Csv
                if in_quotes
                    && b == o.escape
                    && o.escape != o.quote
                    && data.get(i + 1) == Some(&o.quote) =>
            {
                i += 1
            }
            CopyFormat::Csv if b == o.quote => in_quotes = !in_quotes,
            _ if b == b'\n' && !in_quotes => return Some(i + 1),
            _ => {}
        }
        i += 1;
    }
    at_end.then_some(data.len())
}

/// Splits one record into fields; `None` is NULL.
fn split_fields(
    record: &[u8],
    o: &CopyOptions,
) -> std::result::Result<Vec<Option<String>>, String> {
    let text = std::str::from_utf8(record).map_err(|_| "invalid UTF-8 in COPY data".to_string())?;
    match o.format {
        CopyFormat::Text => text
            .split(o.delimiter as char)
            .map(|f| unescape_text(f, &o.null))
            .collect(),
        CopyFormat::Csv => split_csv(text, o),
    }
}

fn unescape_text(field: &str, null: &str) -> std::result::Result<Option<String>, String> {
    if field == null {
        return Ok(None);
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some(other) => out.push(other),
            None => return Err("unterminated backslash escape".into()),
        }
    }
    Ok(Some(out))
}

/// CSV fields: quoted fields may hold delimiters, quotes (doubled or
/// escaped) and newlines; an unquoted field equal to the NULL string is NULL.
fn split_csv(text: &str, o: &CopyOptions) -> std::result::Result<Vec<Option<String>>, String> {
    let (delim, quote, escape) = (o.delimiter as char, o.quote as char, o.escape as char);
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    let mut value = String::new();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if c == delim {
            fields.push(csv_value(std::mem::take(&mut value), quoted, &o.null));
            quoted = false;
        } else if c == quote {
            quoted = true;
            loop {
                match chars.next() {
                    None => return Err("unterminated CSV quoted field".into()),
                    Some(c) if c == escape && chars.peek() == Some(&quote) => {
                        chars.next();
                        value.push(quote);
                    }
                    Some(c) if c == quote => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            value.push(c);
        }
    }
    fields.push(csv_value(value, quoted, &o.null));
    Ok(fields)
}

fn csv_value(value: String, quoted: bool, null: &str) -> Option<String> {
    (quoted || value != null).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv() -> CopyOptions {
        CopyOptions::parse(&[CopyOption::Format("csv".into())], &[]).unwrap()
    }

    #[test]
    fn csv_fields_quotes_and_nulls() {
        let f = split_csv(r#"a,"b,c","say ""hi""",,"""#, &csv()).unwrap();
        assert_eq!(
            f,
            vec![
                Some("a".into()),
                Some("b,c".into()),
                Some(r#"say "hi""#.into()),
                None,
                Some("".into())
            ]
        );
    }

    #[test]
    fn csv_records_may_span_lines() {
        let o = csv();
        assert_eq!(record_end(b"a,\"x\ny\"\nb", &o, false), Some(8));
        assert_eq!(record_end(b"a,\"x\ny", &o, false), None);
        assert_eq!(record_end(b"a,b", &o, true), Some(3));
    }

    #[test]
    fn text_escapes_and_null() {
        assert_eq!(
            unescape_text(r"a\tb\\c", "\\N").unwrap(),
            Some("a\tb\\c".into())
        );
        assert_eq!(unescape_text(r"\N", "\\N").unwrap(), None);
    }
}
