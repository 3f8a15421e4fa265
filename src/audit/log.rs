//! Committed records on the log (DESIGN §6: "written to the database and as
//! a JSON line on the log"), the outside copy a SIEM keeps.
//!
//! The writer task writes each committed batch with one write on stderr
//! rather than one `tracing` event per record: a record is already JSON, and
//! the subscriber escaped it character by character (about 4 % of a token
//! exchange's CPU). The lines follow the process's `--log-format` and obey
//! `RUST_LOG` for the target `audit` like any other line:
//!
//! - human: `2026-11-26T19:11:15Z  INFO audit: {record}`
//! - json: `{"timestamp":"2026-11-26T19:11:15Z","level":"INFO","target":"audit","record":{record}}`
//!   (the record is an object of the line, not a string inside it).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::{UnixTime, rfc3339};

static JSON: AtomicBool = AtomicBool::new(false);

/// Called once by `main` with the chosen `--log-format`.
pub fn use_json_lines(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

/// Write committed `(decided at, record JSON)` pairs, if target `audit` is
/// enabled at `info`.
pub fn write<'a>(records: impl Iterator<Item = (UnixTime, &'a str)>) {
    if !tracing::enabled!(target: super::LOG_TARGET, tracing::Level::INFO) {
        return;
    }
    let text = lines(records, JSON.load(Ordering::Relaxed));
    // Stderr is unbuffered: one locked write keeps the batch's lines whole
    // between other log lines. A log that cannot be written does not undo a
    // committed record.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

fn lines<'a>(records: impl Iterator<Item = (UnixTime, &'a str)>, json: bool) -> String {
    let mut out = String::new();
    for (at, record) in records {
        let time = rfc3339(at);
        if json {
            out.push_str("{\"timestamp\":\"");
            out.push_str(&time);
            out.push_str("\",\"level\":\"INFO\",\"target\":\"audit\",\"record\":");
            out.push_str(record);
            out.push_str("}\n");
        } else {
            out.push_str(&time);
            out.push_str("  INFO audit: ");
            out.push_str(record);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"chain":"r.1","seq":1,"reason":"granted","hash":"ab"}"#;

    #[test]
    fn human_lines_carry_the_record_verbatim() {
        let text = lines([(0, RECORD), (86_400, RECORD)].into_iter(), false);
        assert_eq!(
            text,
            format!(
                "1970-01-01T00:00:00Z  INFO audit: {RECORD}\n1970-01-02T00:00:00Z  INFO audit: {RECORD}\n"
            )
        );
    }

    #[test]
    fn json_lines_nest_the_record_as_an_object() {
        let text = lines([(0, RECORD)].into_iter(), true);
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["target"], "audit");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(line["record"]["reason"], "granted");
        assert_eq!(text.matches('\n').count(), 1);
    }
}
