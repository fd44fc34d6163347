//! Timestamps as PostgreSQL spells them: the TIMESTAMPTZ literals a
//! client may write (`'2024-01-02 03:04:05+00'`, ISO 8601, `now`, `epoch`)
//! and the text PostgreSQL prints for one in UTC. The wire layer's text
//! values and array parameters, the ingest of `observed_at`, and
//! `stemedb.as_of` all read and write them here.

use chrono::{SecondsFormat, TimeZone, Utc};

use super::Micros;
use crate::error::{Error, Result, sqlstate};

/// Parses a TIMESTAMPTZ literal (PostgreSQL's common spellings) to µs UTC.
pub fn parse_timestamptz(text: &str) -> Result<Micros> {
    let t = text.trim();
    match t.to_ascii_lowercase().as_str() {
        "now" => return Ok(super::wall_clock_micros()),
        "epoch" => return Ok(0),
        _ => {}
    }
    let parsed = datafusion::arrow::compute::kernels::cast_utils::string_to_datetime(&Utc, t);
    match parsed {
        Ok(dt) => Ok(dt.timestamp_micros()),
        Err(_) => Err(Error::new(
            sqlstate::INVALID_DATETIME_FORMAT,
            format!("invalid input syntax for type timestamp with time zone: \"{text}\""),
        )),
    }
}

/// Formats µs UTC the way PostgreSQL prints a TIMESTAMPTZ in UTC.
pub fn format_timestamptz(micros: Micros) -> String {
    match Utc.timestamp_micros(micros).single() {
        Some(dt) => {
            let s = dt.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
            let s = s.trim_end_matches('0').trim_end_matches('.');
            format!("{s}+00")
        }
        None => dt_fallback(micros),
    }
}

fn dt_fallback(micros: Micros) -> String {
    Utc.timestamp_opt(micros / 1_000_000, 0)
        .single()
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| micros.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_spellings_are_read_and_printed() {
        let a = parse_timestamptz("2024-01-02 03:04:05+00").unwrap();
        let b = parse_timestamptz("2024-01-02T03:04:05Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(format_timestamptz(a), "2024-01-02 03:04:05+00");
        assert_eq!(
            parse_timestamptz("yesterday-ish").unwrap_err().code,
            "22007"
        );
    }
}
