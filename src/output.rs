//! What the user sees: `key: value` text by default, or one JSON envelope on stdout.
//!
//! Data goes to stdout, everything else (warnings, progress, errors in text mode) to
//! stderr, so `--format json` output can always be piped.

use std::io::Write;

use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::terminal::escape;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Human-readable `key: value` lines.
    #[default]
    Txt,
    /// One JSON envelope: `{"status":"ok","data":{...}}` or `{"status":"error","error":{...}}`.
    Json,
}

/// Prints a successful result.
pub fn print_ok(format: Format, data: &Map<String, Value>) {
    let mut out = std::io::stdout().lock();
    let _ = match format {
        Format::Json => writeln!(out, "{}", json!({"status": "ok", "data": data})),
        Format::Txt => writeln!(out, "{}", text_lines(data)),
    };
}

/// Prints an error the way the chosen format expects.
pub fn print_error(format: Format, err: &Error) {
    match format {
        Format::Json => {
            let mut error =
                json!({"code": err.code.as_str(), "message": err.message, "hint": err.hint});
            if !err.details.is_empty() {
                error["details"] = err
                    .details
                    .iter()
                    .map(|d| json!({"kit": d.place, "code": d.code.as_str(), "message": d.message}))
                    .collect();
            }
            let envelope = json!({"status": "error", "error": error});
            let _ = writeln!(std::io::stdout().lock(), "{envelope}");
        }
        Format::Txt => {
            // Messages carry names and answers from outside: one escaped line each.
            let mut text = format!("error[{}]: {}", err.code.as_str(), escape(&err.message));
            for d in &err.details {
                text.push_str(&format!(
                    "\n  {}: {}: {}",
                    escape(&d.place),
                    d.code.as_str(),
                    escape(&d.message)
                ));
            }
            if !err.hint.is_empty() {
                text.push_str(&format!("\n\nhint: {}", escape(&err.hint)));
            }
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }
}

/// A warning for the user; never part of stdout data.
pub fn warn(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "Warning: {}", escape(message));
}

/// `key: value` lines, each value escaped onto its line; nested values as compact JSON.
pub fn text_lines(data: &Map<String, Value>) -> String {
    data.iter()
        .map(|(key, value)| match value {
            Value::String(s) => format!("{key}: {}", escape(s)),
            Value::Array(items) if items.iter().all(Value::is_string) => {
                let items: Vec<String> =
                    items.iter().filter_map(Value::as_str).map(escape).collect();
                format!("{key}: {}", items.join(", "))
            }
            other => format!("{key}: {}", escape(&other.to_string())),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A plain text table: a header row, then rows, columns padded to their widest cell.
/// Cells are escaped, so a cell is always one line.
pub fn table<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> String {
    let rows: Vec<[String; N]> = rows
        .iter()
        .map(|row| std::array::from_fn(|i| escape(&row[i])))
        .collect();
    let rows = rows.as_slice();
    let mut widths: [usize; N] = std::array::from_fn(|i| header[i].len());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    std::iter::once(header)
        .chain(rows)
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
