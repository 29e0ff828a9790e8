//! The one output handle, in the manner of cargo's `Shell`: every result, progress line,
//! warning and error goes through an [`Output`], which knows the format and whether
//! stderr is a terminal. Core code never prints.
//!
//! Data goes to stdout, everything else (warnings, progress, errors in text mode) to
//! stderr, so `--format json` output can always be piped. Text that came from outside is
//! escaped on the way out ([`crate::terminal`]).

use std::io::{IsTerminal, Write};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::terminal::escape;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Human-readable: `key: value` lines or tables.
    #[default]
    Txt,
    /// One JSON envelope in NVFlare's CLI shape (`nvflare/tool/cli_output.py`, 2.9.0):
    /// `{"schema_version":"1","status":"ok","exit_code":0,"data":{...}}`, or
    /// `{"schema_version":"1","status":"error","exit_code":4,"error_code":..,"message":..,"hint":..}`
    /// (per-kit problems of a federation under `data.details`).
    Json,
}

/// A command's typed result: its JSON is its serialization; its text is `key: value`
/// lines of the same data unless the type lays itself out (a table, a plan).
/// NVFlare's envelope version.
const SCHEMA_VERSION: &str = "1";

pub trait Report: Serialize {
    /// The exit code this result ends the command with (a failed check is still a result).
    fn exit_code(&self) -> i32 {
        0
    }

    fn text(&self) -> String {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => key_value_lines(&map),
            Ok(other) => escape(&other.to_string()),
            Err(e) => format!("error: {e}"),
        }
    }
}

pub struct Output {
    format: Format,
    stderr_is_terminal: bool,
    /// Helm's `--debug` (`HELM_DEBUG`): show a failed call's command and stderr.
    debug: bool,
}

impl Output {
    pub fn new(format: Format) -> Output {
        Output {
            format,
            stderr_is_terminal: std::io::stderr().is_terminal(),
            debug: false,
        }
    }

    /// With Helm's `--debug`: a failed call's whole command and stderr are shown too.
    pub fn with_debug(mut self, debug: bool) -> Output {
        self.debug = debug;
        self
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// A step of the work (`==> creating namespace nvflare`), on stderr in text mode.
    pub fn status(&self, message: &str) {
        if self.format == Format::Txt {
            let _ = writeln!(std::io::stderr().lock(), "==> {}", escape(message));
        }
    }

    /// How far long work has come (`3/100 prepared`), only for a person at a terminal.
    pub(crate) fn progress(&self, done: usize, total: usize, what: &str) {
        if self.stderr_is_terminal && self.format == Format::Txt && total > 1 {
            let end = if done == total { "\n" } else { "" };
            let _ = write!(std::io::stderr().lock(), "\r==> {done}/{total} {what}{end}");
        }
    }

    /// A warning for the user; never part of stdout data.
    pub fn warn(&self, message: &str) {
        let _ = writeln!(std::io::stderr().lock(), "Warning: {}", escape(message));
    }

    /// The command's result on stdout: the JSON envelope, or its text.
    pub fn result<R: Report + ?Sized>(&self, report: &R) {
        let mut out = std::io::stdout().lock();
        let _ = match self.format {
            Format::Json => {
                let data = serde_json::to_value(report).unwrap_or(Value::Null);
                let envelope = json!({"schema_version": SCHEMA_VERSION, "status": "ok", "exit_code": report.exit_code(), "data": data});
                writeln!(out, "{envelope}")
            }
            Format::Txt => writeln!(out, "{}", report.text()),
        };
    }

    /// A result shown again in place (`status --watch`): the screen cleared first when
    /// stdout is a terminal, and the time of the reading above it.
    pub fn refresh<R: Report + ?Sized>(&self, report: &R) {
        let mut out = std::io::stdout().lock();
        if std::io::stdout().is_terminal() {
            let _ = write!(out, "\x1b[2J\x1b[H");
        }
        let now = crate::provenance::keyring::now_secs();
        let _ = writeln!(
            out,
            "{} {:02}:{:02}:{:02} UTC (Ctrl-C to stop)\n{}\n",
            crate::provenance::keyring::date(now),
            now / 3600 % 24,
            now / 60 % 60,
            now % 60,
            report.text()
        );
    }

    /// An error the way the format expects: the JSON envelope on stdout, or text on stderr.
    pub fn error(&self, err: &Error) {
        match self.format {
            Format::Json => {
                let mut envelope = json!({
                    "schema_version": SCHEMA_VERSION,
                    "status": "error",
                    "exit_code": err.code.exit_code(),
                    "error_code": err.code.as_str(),
                    "message": err.message,
                    "hint": err.hint,
                });
                let mut details: Vec<Value> = err
                    .details
                    .iter()
                    .map(|d| json!({"kit": d.place, "code": d.code.as_str(), "message": d.message}))
                    .collect();
                if let Some(call) = &err.call {
                    details.push(json!({"command": call.command, "stderr": call.stderr}));
                }
                if !details.is_empty() {
                    envelope["data"] = json!({ "details": details });
                }
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
                if let Some(call) = err.call.as_ref().filter(|_| self.debug) {
                    text.push_str(&format!("\n  command: {}", escape(&call.command)));
                    for line in call.stderr.lines() {
                        text.push_str(&format!("\n  stderr: {}", escape(line)));
                    }
                }
                if !err.hint.is_empty() {
                    text.push_str(&format!("\n\nhint: {}", escape(&err.hint)));
                }
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }
}

/// A `key: value` block per item, blank lines between: one result per archive, say.
pub(crate) fn key_value_blocks<T: Serialize>(items: &[T]) -> String {
    items
        .iter()
        .map(|item| match serde_json::to_value(item) {
            Ok(Value::Object(map)) => key_value_lines(&map),
            _ => String::new(),
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// `key: value` lines, each value escaped onto its line; nested values as compact JSON;
/// absent (null) values left out.
pub(crate) fn key_value_lines(data: &Map<String, Value>) -> String {
    data.iter()
        .filter(|(_, value)| !value.is_null())
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

/// The exit code of a report with a row per participant: 130 when one was interrupted
/// (as a shell reports Ctrl-C), else 1 when any has an error, else 0.
pub(crate) fn rows_exit_code<'a>(
    errors: impl Iterator<Item = Option<&'a crate::error::Brief>>,
) -> i32 {
    let mut code = 0;
    for error in errors.flatten() {
        if error.error_code == crate::error::Code::Interrupted.as_str() {
            return 130;
        }
        code = 1;
    }
    code
}

/// The participants of a report that failed, each with its error and hint, after the
/// report's table.
pub fn failures<'a>(
    rows: impl Iterator<Item = (&'a str, Option<&'a crate::error::Brief>)>,
) -> String {
    let mut out = String::new();
    for (name, error) in rows {
        if let Some(e) = error {
            out.push_str(&format!(
                "\n{}: error[{}]: {}\n  hint: {}",
                escape(name),
                e.error_code,
                e.message,
                e.hint
            ));
        }
    }
    out
}

/// A plain text table: a header row, then rows, columns padded to their widest cell.
/// Cells are escaped, so a cell is always one line.
pub fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let header: [String; N] = header.map(str::to_string);
    let rows: Vec<[String; N]> = rows
        .iter()
        .map(|row| std::array::from_fn(|i| escape(&row[i])))
        .collect();
    let mut widths: [usize; N] = std::array::from_fn(|i| header[i].chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(rows.iter())
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
