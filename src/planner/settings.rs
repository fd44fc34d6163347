//! Per-connection settings: `SET`, `SHOW` and `RESET`. StemeDB's own are
//! `stemedb.lens`, `stemedb.as_of` and `stemedb.query_memory_limit`;
//! `statement_timeout` is PostgreSQL's. The usual PostgreSQL parameters
//! that drivers set or read on connect are accepted and reported so that
//! clients behave as they do against PostgreSQL.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Error, Result, sqlstate};
use crate::lens::Lens;
use crate::model::{Micros, format_timestamptz, parse_timestamptz};
use crate::units;

pub const LENS: &str = "stemedb.lens";
pub const AS_OF: &str = "stemedb.as_of";
/// The `consensus` lens's decay: a claim's weight halves every this long.
pub const HALF_LIFE: &str = "stemedb.half_life";
pub const STATEMENT_TIMEOUT: &str = "statement_timeout";
pub const QUERY_MEMORY_LIMIT: &str = "stemedb.query_memory_limit";
pub const LOG_MIN_DURATION: &str = "log_min_duration_statement";

/// A query's memory budget when the configuration names none.
pub const DEFAULT_QUERY_MEMORY: usize = 1 << 30;

/// What one statement may take: time (`statement_timeout`, `57014` beyond)
/// and memory (`stemedb.query_memory_limit`, `53200` beyond). `None` is no
/// limit. The server's `[limits]` give each session its defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatementLimits {
    pub statement_timeout: Option<Duration>,
    pub query_memory_limit: Option<usize>,
    /// Statements at least this long are logged (`None`: none are).
    pub log_min_duration_statement: Option<Duration>,
}

impl Default for StatementLimits {
    fn default() -> Self {
        StatementLimits {
            statement_timeout: None,
            query_memory_limit: Some(DEFAULT_QUERY_MEMORY),
            log_min_duration_statement: None,
        }
    }
}

/// The settings of one connection.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub lens: Lens,
    /// Time travel: only writes accepted at or before this instant are visible.
    pub as_of: Option<Micros>,
    /// `stemedb.half_life` in microseconds (`None`: no decay).
    pub half_life: Option<Micros>,
    /// The time a coordinator's statement reads at, for the scans and
    /// lookups it asks other nodes for (decay ages from it); not a
    /// parameter clients set.
    pub read_at: Option<Micros>,
    pub limits: StatementLimits,
    /// The limits `RESET` returns to (the server's configuration).
    configured: StatementLimits,
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
        "lock_timeout" | "idle_in_transaction_session_timeout" => "0",
        _ => return None,
    })
}

impl Settings {
    /// A new connection's settings, with the server's configured limits.
    pub fn new(configured: StatementLimits) -> Settings {
        Settings {
            limits: configured,
            configured,
            ..Settings::default()
        }
    }

    /// `SET name = value`.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            LENS => self.lens = Lens::parse(value)?,
            AS_OF => self.as_of = Some(parse_timestamptz(value)?),
            HALF_LIFE => {
                self.half_life = match value.trim().to_ascii_lowercase().as_str() {
                    "" | "none" | "off" => None,
                    _ => units::parse_duration(&name, value, "d")?
                        .map(|d| d.as_micros().min(i64::MAX as u128) as Micros),
                }
            }
            STATEMENT_TIMEOUT => {
                self.limits.statement_timeout = units::parse_duration(&name, value, "ms")?
            }
            QUERY_MEMORY_LIMIT => self.limits.query_memory_limit = units::parse_size(&name, value)?,
            _ if name.starts_with("stemedb.") => {
                return Err(Error::new(
                    sqlstate::UNDEFINED_OBJECT,
                    format!(
                        "unrecognized configuration parameter \"{name}\" \
                         (StemeDB has {LENS}, {AS_OF}, {HALF_LIFE} and {QUERY_MEMORY_LIMIT})"
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
            None => *self = Settings::new(self.configured),
            Some(LENS) => self.lens = Lens::default(),
            Some(AS_OF) => self.as_of = None,
            Some(HALF_LIFE) => self.half_life = None,
            Some(STATEMENT_TIMEOUT) => {
                self.limits.statement_timeout = self.configured.statement_timeout
            }
            Some(QUERY_MEMORY_LIMIT) => {
                self.limits.query_memory_limit = self.configured.query_memory_limit
            }
            Some(LOG_MIN_DURATION) => {
                self.limits.log_min_duration_statement = self.configured.log_min_duration_statement
            }
            Some(other) => {
                self.other.remove(other);
            }
        }
    }

    /// `SHOW ALL`: every parameter and its value, by name.
    pub fn all(&self) -> Vec<(String, String)> {
        let mut names: Vec<String> = DEFAULTS.iter().map(|n| n.to_string()).collect();
        names.extend(
            [LENS, AS_OF, HALF_LIFE, QUERY_MEMORY_LIMIT, LOG_MIN_DURATION].map(str::to_string),
        );
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
            HALF_LIFE => Ok(match self.half_life {
                None => "none".to_string(),
                Some(h) => units::format_duration(Some(std::time::Duration::from_micros(h as u64))),
            }),
            STATEMENT_TIMEOUT => Ok(units::format_duration(self.limits.statement_timeout)),
            QUERY_MEMORY_LIMIT => Ok(units::format_size(self.limits.query_memory_limit)),
            LOG_MIN_DURATION => Ok(units::format_log_min_duration(
                self.limits.log_min_duration_statement,
            )),
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
    fn limits_are_set_shown_and_reset_to_the_configured_ones() {
        let configured = StatementLimits {
            statement_timeout: Some(Duration::from_secs(30)),
            query_memory_limit: Some(256 << 20),
            log_min_duration_statement: None,
        };
        let mut s = Settings::new(configured);
        assert_eq!(s.show("statement_timeout").unwrap(), "30s");
        s.set("statement_timeout", "100ms").unwrap();
        s.set("STEMEDB.QUERY_MEMORY_LIMIT", "2GB").unwrap();
        assert_eq!(s.limits.statement_timeout, Some(Duration::from_millis(100)));
        assert_eq!(s.show("stemedb.query_memory_limit").unwrap(), "2GB");
        assert_eq!(
            s.set("statement_timeout", "later").unwrap_err().code,
            "22023"
        );
        s.reset(Some("statement_timeout"));
        assert_eq!(s.show("statement_timeout").unwrap(), "30s");
        s.reset(None);
        assert_eq!(s.limits, configured);
        assert!(
            s.all()
                .iter()
                .any(|(n, v)| n == QUERY_MEMORY_LIMIT && v == "256MB")
        );
    }
}
