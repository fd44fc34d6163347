//! The canonical, versioned binary encoding of stored records, and content
//! ids. An assertion's id is BLAKE3-256 over exactly the bytes stored for it,
//! so `stemedb verify` can recompute every id from what is on disk.
//!
//! Layout: one version byte, then fields in a fixed order; strings are a u32
//! big-endian length followed by UTF-8 bytes; integers are big-endian.

use std::fmt;

use crate::error::{Error, Result};

/// Version of the canonical encoding. Bump it when the layout changes; old
/// records keep decoding (and hashing) with the version they carry.
pub const ENCODING_VERSION: u8 = 1;

/// A BLAKE3-256 content id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub [u8; 32]);

impl Id {
    pub fn of(bytes: &[u8]) -> Id {
        Id(*blake3::hash(bytes).as_bytes())
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters (either case).
    pub fn parse(s: &str) -> Option<Id> {
        let bytes = hex::decode(s.trim()).ok()?;
        Some(Id(bytes.try_into().ok()?))
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Id> {
        Some(Id(bytes.try_into().ok()?))
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

/// Appends fields in canonical form.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn with_version() -> Writer {
        Writer {
            buf: vec![ENCODING_VERSION],
        }
    }
    pub fn str(&mut self, s: &str) {
        self.buf.extend_from_slice(&(s.len() as u32).to_be_bytes());
        self.buf.extend_from_slice(s.as_bytes());
    }
    pub fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_bits().to_be_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
}

/// Reads fields written by [`Writer`]; every read fails cleanly on
/// truncated or malformed input (stored bytes are never trusted blindly).
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading a record, checking its version byte.
    pub fn versioned(buf: &'a [u8]) -> Result<Reader<'a>> {
        let mut r = Reader { buf };
        let v = r.u8()?;
        if v != ENCODING_VERSION {
            return Err(Error::corrupted(format!("unknown encoding version {v}")));
        }
        Ok(r)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(Error::corrupted("truncated record"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(u64::from_be_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        )))
    }
    pub fn str(&mut self) -> Result<String> {
        let mut s = String::new();
        self.str_into(&mut s)?;
        Ok(s)
    }
    /// Reads a string into `out` (reusing its buffer) if `keep`, else
    /// skips it and leaves `out` empty.
    pub fn str_if(&mut self, keep: bool, out: &mut String) -> Result<()> {
        if keep {
            return self.str_into(out);
        }
        let n = self.u32()? as usize;
        self.take(n)?;
        out.clear();
        Ok(())
    }
    /// Reads a string into `out`, reusing its buffer.
    pub fn str_into(&mut self, out: &mut String) -> Result<()> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| Error::corrupted("invalid UTF-8 in record"))?;
        out.clear();
        out.push_str(s);
        Ok(())
    }
    pub fn opt_str(&mut self) -> Result<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.str()?)),
            t => Err(Error::corrupted(format!("bad option tag {t}"))),
        }
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        self.take(n)
    }
    pub fn finish(self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::corrupted("trailing bytes in record"))
        }
    }
}
