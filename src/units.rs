//! Durations and sizes as PostgreSQL spells its settings: `'100ms'`,
//! `'5s'`, `'1min'`, `'256MB'`, `'1GB'`, and `HOST:PORT` addresses. The
//! same parsers read the config file's `[limits]` and `SET`, and the
//! formatters are what `SHOW` prints.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::{Error, Result, sqlstate};

/// Time units, smallest first, with their length in microseconds.
const TIME_UNITS: &[(&str, u64)] = &[
    ("us", 1),
    ("ms", 1_000),
    ("s", 1_000_000),
    ("min", 60_000_000),
    ("h", 3_600_000_000),
    ("d", 86_400_000_000),
];

/// How PostgreSQL's intervals spell the time units too (`'30 days'`).
const TIME_UNIT_WORDS: &[(&str, &str)] = &[
    ("microsecond", "us"),
    ("microseconds", "us"),
    ("millisecond", "ms"),
    ("milliseconds", "ms"),
    ("sec", "s"),
    ("secs", "s"),
    ("second", "s"),
    ("seconds", "s"),
    ("mins", "min"),
    ("minute", "min"),
    ("minutes", "min"),
    ("hour", "h"),
    ("hours", "h"),
    ("day", "d"),
    ("days", "d"),
];

/// Memory units (PostgreSQL's, powers of 1024), smallest first.
const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("kB", 1 << 10),
    ("MB", 1 << 20),
    ("GB", 1 << 30),
    ("TB", 1 << 40),
];

/// Splits `"100 ms"` into `(100.0, "ms")`.
fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let t = text.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(t.len());
    let number: f64 = t[..end].parse().ok()?;
    number.is_finite().then_some((number, t[end..].trim()))
}

/// `text` in `units` (case ignored; a bare number is in `bare_unit`) as
/// a count of the smallest unit; `None` for 0 or less. `example` shows
/// the setting's spelling in the error.
fn parse_in_units(
    name: &str,
    text: &str,
    units: &[(&str, u64)],
    bare_unit: &str,
    example: &str,
) -> Result<Option<u64>> {
    let invalid = || {
        Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!("invalid value for parameter \"{name}\": \"{text}\" ({example})"),
        )
    };
    let (number, unit) = number_and_unit(text).ok_or_else(invalid)?;
    let unit = if unit.is_empty() { bare_unit } else { unit };
    let unit = TIME_UNIT_WORDS
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(unit))
        .map_or(unit, |(_, short)| short);
    let size = units
        .iter()
        .find(|(u, _)| u.eq_ignore_ascii_case(unit))
        .map(|(_, size)| *size)
        .ok_or_else(invalid)?;
    let total = number * size as f64;
    if total <= 0.0 {
        return Ok(None);
    }
    if total >= u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(Some(total as u64))
}

/// A duration setting: a number with a unit (`us`, `ms`, `s`, `min`, `h`,
/// `d`, or their words: `'30 days'`), or a bare number of `bare_unit`. `0` (or less) means "off".
pub fn parse_duration(name: &str, text: &str, bare_unit: &str) -> Result<Option<Duration>> {
    let example = "a duration such as '100ms', '5s' or '1min'; 0 turns it off";
    let micros = parse_in_units(name, text, TIME_UNITS, bare_unit, example)?;
    Ok(micros.map(Duration::from_micros))
}

/// `log_min_duration_statement`: `-1` logs no statement, `0` every one,
/// a duration those that take at least that long.
pub fn parse_log_min_duration(text: &str) -> Result<Option<Duration>> {
    match text.trim() {
        "-1" => Ok(None),
        "0" => Ok(Some(Duration::ZERO)),
        t => parse_duration("log_min_duration_statement", t, "ms"),
    }
}

/// How `SHOW log_min_duration_statement` prints its value.
pub fn format_log_min_duration(d: Option<Duration>) -> String {
    match d {
        None => "-1".into(),
        Some(Duration::ZERO) => "0".into(),
        d => format_duration(d),
    }
}

/// A duration in the largest unit that states it exactly, as `SHOW` does.
pub fn format_duration(d: Option<Duration>) -> String {
    match d {
        None => "0".to_string(),
        Some(d) => largest_exact(d.as_micros() as u64, TIME_UNITS),
    }
}

/// A size setting: a number with a unit (`B`, `kB`, `MB`, `GB`, `TB`; case
/// ignored) or a bare number of bytes. `0` (or less) means "no limit".
pub fn parse_size(name: &str, text: &str) -> Result<Option<usize>> {
    let example = "a size such as '256MB' or '1GB'; 0 means no limit";
    let bytes = parse_in_units(name, text, SIZE_UNITS, "B", example)?;
    Ok(bytes.map(|b| usize::try_from(b).unwrap_or(usize::MAX)))
}

/// A size in the largest unit that states it exactly (`256MB`).
pub fn format_size(bytes: Option<usize>) -> String {
    match bytes {
        None => "0".to_string(),
        Some(b) => largest_exact(b as u64, SIZE_UNITS),
    }
}

fn largest_exact(value: u64, units: &[(&str, u64)]) -> String {
    let (unit, size) = units
        .iter()
        .rev()
        .find(|(_, size)| value.is_multiple_of(*size))
        .unwrap_or(&units[0]);
    format!("{}{unit}", value / size)
}

/// `HOST:PORT` (a name is resolved), for the setting `key`.
pub fn parse_addr(s: &str, key: &str) -> Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Error::internal(format!("{key} = \"{s}\" is not a HOST:PORT address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_print_as_postgres_does() {
        let ms = |t| parse_duration("statement_timeout", t, "ms").unwrap();
        assert_eq!(ms("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(ms("250"), Some(Duration::from_millis(250)));
        assert_eq!(ms(" 2 s "), Some(Duration::from_secs(2)));
        assert_eq!(ms("1.5min"), Some(Duration::from_secs(90)));
        assert_eq!(ms("0"), None);
        assert_eq!(format_duration(ms("100ms")), "100ms");
        assert_eq!(format_duration(ms("120s")), "2min");
        assert_eq!(format_duration(None), "0");
        let bad = parse_duration("statement_timeout", "soon", "ms").unwrap_err();
        assert_eq!(bad.code, "22023");
        assert!(parse_duration("statement_timeout", "5 fortnights", "ms").is_err());
    }

    #[test]
    fn sizes_read_and_print_as_postgres_does() {
        let size = |t| parse_size("stemedb.query_memory_limit", t).unwrap();
        assert_eq!(size("256MB"), Some(256 << 20));
        assert_eq!(size("1gb"), Some(1 << 30));
        assert_eq!(size("4096"), Some(4096));
        assert_eq!(size("0"), None);
        assert_eq!(format_size(size("1024MB")), "1GB");
        assert_eq!(format_size(size("1536kB")), "1536kB");
        assert_eq!(
            parse_size("stemedb.query_memory_limit", "lots")
                .unwrap_err()
                .code,
            "22023"
        );
    }
}
