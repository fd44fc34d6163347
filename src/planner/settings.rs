//! Per-connection settings: `SET`, `SHOW` and `RESET`. StemeDB's own are
//! `stemedb.lens` and `stemedb.as_of`; the usual PostgreSQL parameters that
//! drivers set or read on connect are accepted and reported so that
//! clients behave as they do against PostgreSQL.

use std::collections::BTreeMap;

use chrono::{SecondsFormat, TimeZone, Utc};

use crate::error::{Error, Result, sqlstate};
use crate::lens::Lens;
use crate::model::Micros;

pub const LENS: &str = "stemedb.lens";
pub const AS_OF: &str = "stemedb.as_of";

/// The settings of one connection.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub lens: Lens,
    /// Time travel: only writes accepted at or before this instant are visible.
    pub as_of: Option<Micros>,
    /// Other parameters set by the client, by lower-case name.
    other: BTreeMap<String, String>,
}

/// The parameters [`default_value`] knows, for `SHOW ALL`.
const DEFAULTS: &[&str] = &[
    "application_name",
    "bytea_output",
    "client_encoding",
    "datestyle",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "extra_float_digits",
    "idle_in_transaction_session_timeout",
    "integer_datetimes",
    "intervalstyle",
    "is_superuser",
    "jit",
    "lc_collate",
    "lc_ctype",
    "lock_timeout",
    "max_connections",
    "max_identifier_length",
    "search_path",
    "server_encoding",
    "server_version",
    "server_version_num",
    "standard_conforming_strings",
    "statement_timeout",
    "timezone",
    "transaction_isolation",
    "transaction_read_only",
];

/// Parameters every PostgreSQL server reports, with StemeDB's values.
fn default_value(name: &str) -> Option<&'static str> {
    Some(match name {
        "server_version" => crate::PG_SERVER_VERSION,
        "server_version_num" => crate::PG_SERVER_VERSION_NUM,
        "server_encoding" | "client_encoding" => "UTF8",
        "datestyle" => "ISO, MDY",
        "timezone" => "UTC",
        "intervalstyle" => "postgres",
        "integer_datetimes" | "standard_conforming_strings" => "on",
        "transaction_isolation" | "default_transaction_isolation" => "serializable",
        "transaction_read_only" | "default_transaction_read_only" => "off",
        "search_path" => "public",
        "application_name" => "",
        "extra_float_digits" => "1",
        "max_identifier_length" => "63",
        "is_superuser" => "on",
        // No JIT; asyncpg turns it off around its type introspection.
        "jit" => "off",
        "lc_collate" | "lc_ctype" => "C.UTF-8",
        "max_connections" => "1000",
        "bytea_output" => "hex",
        "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => "0",
        _ => return None,
    })
}

/// Parses a TIMESTAMPTZ literal (PostgreSQL's common spellings) to µs UTC.
pub fn parse_timestamptz(text: &str) -> Result<Micros> {
    let t = text.trim();
    match t.to_ascii_lowercase().as_str() {
        "now" => return Ok(crate::model::wall_clock_micros()),
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

impl Settings {
    /// `SET name = value`.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            LENS => self.lens = Lens::parse(value)?,
            AS_OF => self.as_of = Some(parse_timestamptz(value)?),
            _ if name.starts_with("stemedb.") => {
                return Err(Error::new(
                    sqlstate::UNDEFINED_OBJECT,
                    format!(
                        "unrecognized configuration parameter \"{name}\" (StemeDB has stemedb.lens and stemedb.as_of)"
                    ),
                ));
            }
            _ => {
                self.other.insert(name, value.to_string());
            }
        }
        Ok(())
    }

    /// `RESET name` (or `RESET ALL` with `None`).
    pub fn reset(&mut self, name: Option<&str>) {
        match name.map(str::to_ascii_lowercase).as_deref() {
            None => *self = Settings::default(),
            Some(LENS) => self.lens = Lens::default(),
            Some(AS_OF) => self.as_of = None,
            Some(other) => {
                self.other.remove(other);
            }
        }
    }

    /// `SHOW ALL`: every parameter and its value, by name.
    pub fn all(&self) -> Vec<(String, String)> {
        let mut names: Vec<String> = DEFAULTS.iter().map(|n| n.to_string()).collect();
        names.extend([LENS.to_string(), AS_OF.to_string()]);
        names.extend(self.other.keys().cloned());
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter_map(|n| Some((n.clone(), self.show(&n).ok()?)))
            .collect()
    }

    /// `SHOW name`.
    pub fn show(&self, name: &str) -> Result<String> {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            LENS => Ok(self.lens.as_str().to_string()),
            AS_OF => Ok(self.as_of.map(format_timestamptz).unwrap_or_default()),
            _ => self
                .other
                .get(&name)
                .cloned()
                .or_else(|| default_value(&name).map(str::to_string))
                .ok_or_else(|| {
                    Error::new(
                        sqlstate::UNDEFINED_OBJECT,
                        format!("unrecognized configuration parameter \"{name}\""),
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lens_values_are_checked() {
        let mut s = Settings::default();
        s.set("stemedb.lens", "Authority").unwrap();
        assert_eq!(s.show("stemedb.lens").unwrap(), "authority");
        assert_eq!(s.set("stemedb.lens", "vibes").unwrap_err().code, "22023");
        s.reset(Some("stemedb.lens"));
        assert_eq!(s.lens, Lens::Recency);
    }

    #[test]
    fn as_of_accepts_postgres_spellings() {
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
