//! PostgreSQL's text form of a one-dimensional array (`{a,"b c",NULL}`),
//! parsed strictly: anything malformed is `22P02`, never a string that
//! happens to contain braces. One parser for every path an array literal
//! takes — a bind parameter (the wire layer's array parameters), a cast in
//! SQL (`'{a,b}'::text[]`, rewritten by [`super::parse`] into `ARRAY[…]`)
//! and a literal lifted by the plan cache.

use std::borrow::Cow;

use crate::error::{Error, Result, sqlstate};

fn malformed(message: impl std::fmt::Display) -> Error {
    Error::new(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("malformed array literal: {message}"),
    )
}

/// Parses PostgreSQL's text form of a one-dimensional array:
/// `{a, "b c", NULL, "NULL", "with \"quote\""}`; an optional dimension
/// prefix (`[1:3]={...}`) is accepted. Unquoted `NULL` is a null element.
/// Elements without quotes or escapes are borrowed from `text`.
pub fn parse_array(text: &str) -> Result<Vec<Option<Cow<'_, str>>>> {
    let mut text = text.trim();
    if text.starts_with('[') {
        let at = text
            .find('=')
            .ok_or_else(|| malformed("dimension prefix without \"=\""))?;
        text = text[at + 1..].trim_start();
    }
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| malformed(format!("\"{}\" must be enclosed in braces", clip(text))))?;
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    if !inner.contains(['"', '\\', '{', '}']) {
        return inner.split(',').map(plain).collect();
    }
    let mut items = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        let mut quoted = false;
        let mut escaped = false;
        match chars.peek() {
            Some('"') => {
                chars.next();
                quoted = true;
                loop {
                    match chars.next() {
                        None => return Err(malformed("unterminated quoted element")),
                        Some('\\') => item.push(
                            chars
                                .next()
                                .ok_or_else(|| malformed("backslash at the end of the array"))?,
                        ),
                        Some('"') => break,
                        Some(c) => item.push(c),
                    }
                }
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some('{') => return Err(malformed("multidimensional arrays are not supported")),
            _ => {
                while let Some(&c) = chars.peek() {
                    match c {
                        ',' => break,
                        '{' | '}' | '"' => {
                            return Err(malformed(format!("unexpected \"{c}\" in an element")));
                        }
                        '\\' => {
                            chars.next();
                            escaped = true;
                            item.push(
                                chars.next().ok_or_else(|| {
                                    malformed("backslash at the end of the array")
                                })?,
                            );
                        }
                        c => {
                            chars.next();
                            item.push(c);
                        }
                    }
                }
                let kept = item.trim_end().len();
                item.truncate(kept);
                if item.is_empty() {
                    return Err(malformed("empty element"));
                }
            }
        }
        let null = !quoted && !escaped && item.eq_ignore_ascii_case("NULL");
        items.push((!null).then_some(Cow::Owned(item)));
        match chars.next() {
            None => return Ok(items),
            Some(',') => {}
            Some(c) => return Err(malformed(format!("unexpected \"{c}\" after an element"))),
        }
    }
}

/// An element without quotes, escapes or braces: trimmed, `NULL` is null.
fn plain(item: &str) -> Result<Option<Cow<'_, str>>> {
    let item = item.trim();
    if item.is_empty() {
        return Err(malformed("empty element"));
    }
    Ok((!item.eq_ignore_ascii_case("NULL")).then_some(Cow::Borrowed(item)))
}

fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Vec<Option<String>> {
        let items = parse_array(text).unwrap();
        items.into_iter().map(|i| i.map(Cow::into_owned)).collect()
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn parses_postgres_array_text() {
        assert_eq!(ok("{}"), vec![]);
        assert_eq!(ok("{a,b}"), vec![s("a"), s("b")]);
        assert_eq!(ok(" { a , b c } "), vec![s("a"), s("b c")]);
        assert_eq!(ok("{NULL,null,\"NULL\"}"), vec![None, None, s("NULL")]);
        assert_eq!(ok("{\"\",\"x,y\"}"), vec![s(""), s("x,y")]);
        assert_eq!(
            ok(r#"{"say \"hi\"","a\\b"}"#),
            vec![s("say \"hi\""), s("a\\b")]
        );
        assert_eq!(ok(r"{a\,b}"), vec![s("a,b")]);
        assert_eq!(ok("[1:2]={1,2}"), vec![s("1"), s("2")]);
    }

    #[test]
    fn rejects_what_postgres_rejects() {
        for bad in [
            "a,b",
            "{a",
            "{{1,2},{3,4}}",
            "{a,,b}",
            "{\"a}",
            "{a\"b}",
            "{a,}",
            "",
        ] {
            let e = parse_array(bad).unwrap_err();
            assert_eq!(e.code, "22P02", "{bad}");
        }
    }
}
