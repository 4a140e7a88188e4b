//! Byte writers and readers for building and parsing protocol handshakes.
//!
//! Readers return `None` when the buffer is too short, which maps naturally to
//! [`HandshakeOutcome::NeedMore`](crate::types::HandshakeOutcome::NeedMore).

/// Appends integers and strings to a byte buffer.
#[derive(Debug, Default, Clone)]
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub fn u16_be(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u16_le(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32_be(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u32_le(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn i32_le(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn f64_le(mut self, v: f64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
    /// A NUL-terminated string.
    pub fn cstr(mut self, v: &str) -> Self {
        self.0.extend_from_slice(v.as_bytes());
        self.0.push(0);
        self
    }
    /// Overwrites 4 bytes at `at` with `v` big-endian: for length prefixes known at the end.
    pub fn patch_u32_be(mut self, at: usize, v: u32) -> Self {
        self.0[at..at + 4].copy_from_slice(&v.to_be_bytes());
        self
    }
    /// Overwrites 4 bytes at `at` with `v` little-endian.
    pub fn patch_u32_le(mut self, at: usize, v: u32) -> Self {
        self.0[at..at + 4].copy_from_slice(&v.to_le_bytes());
        self
    }
    /// Overwrites 2 bytes at `at` with `v` big-endian.
    pub fn patch_u16_be(mut self, at: usize, v: u16) -> Self {
        self.0[at..at + 2].copy_from_slice(&v.to_be_bytes());
        self
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Reads integers and strings from a byte slice, front to back.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    pub fn position(&self) -> usize {
        self.pos
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }
    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub fn u16_be(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    pub fn u16_le(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32_be(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u32_le(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn i32_le(&mut self) -> Option<i32> {
        self.u32_le().map(|v| v as i32)
    }
    /// Little-endian unsigned integer of 1 to 8 bytes (MySQL uses 3-byte lengths).
    pub fn uint_le(&mut self, width: usize) -> Option<u64> {
        let b = self.take(width.min(8))?;
        Some(b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    }
    /// A NUL-terminated string, without the NUL.
    pub fn cstr(&mut self) -> Option<&'a [u8]> {
        let rest = self.buf.get(self.pos..)?;
        let nul = rest.iter().position(|&b| b == 0)?;
        self.pos += nul + 1;
        Some(&rest[..nul])
    }
    /// A MySQL length-encoded integer; `None` when truncated or for the NULL marker 0xfb.
    pub fn lenenc(&mut self) -> Option<u64> {
        match self.u8()? {
            n @ 0..=0xfa => Some(n as u64),
            0xfc => self.uint_le(2),
            0xfd => self.uint_le(3),
            0xfe => self.uint_le(8),
            _ => None,
        }
    }
    /// The unread bytes.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
}

/// True when `haystack` contains `needle` (for matching error text in replies).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The first 16 bytes of `bytes` in hex (`"48 54 54 50"`), for "not a X reply (starts
/// with ..)" messages.
pub fn hex_head(bytes: &[u8]) -> String {
    let head: Vec<String> = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
    head.join(" ")
}

/// The `failed` outcome for bytes that are not `what`: "not a `what` (starts with ..)".
pub fn not_protocol(what: &str, received: &[u8]) -> crate::types::HandshakeOutcome {
    crate::types::HandshakeOutcome::Failed(format!("not a {what} (starts with {})", hex_head(received)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_and_reader_round_trip() {
        let buf = Writer::new()
            .u32_be(0)
            .u16_le(0x0102)
            .cstr("user")
            .bytes(&[1, 2, 3])
            .patch_u32_be(0, 99)
            .finish();
        let mut r = Reader::new(&buf);
        assert_eq!(r.u32_be(), Some(99));
        assert_eq!(r.u16_le(), Some(0x0102));
        assert_eq!(r.cstr(), Some(&b"user"[..]));
        assert_eq!(r.uint_le(3), Some(0x030201));
        assert_eq!(r.u8(), None);
        assert!(contains(b"-LOADING Redis", b"LOADING"));
        assert!(!contains(b"abc", b""));
        assert_eq!(hex_head(b"HTTP"), "48 54 54 50");
        assert_eq!(hex_head(&[0; 20]).split(' ').count(), 16);
    }

    #[test]
    fn lenenc_integers() {
        assert_eq!(Reader::new(&[0xfa]).lenenc(), Some(0xfa));
        assert_eq!(Reader::new(&[0xfc, 0x34, 0x12]).lenenc(), Some(0x1234));
        assert_eq!(Reader::new(&[0xfd, 1, 2, 3]).lenenc(), Some(0x030201));
        assert_eq!(Reader::new(&[0xfe, 1, 0, 0, 0, 0, 0, 0, 0]).lenenc(), Some(1));
        assert_eq!(Reader::new(&[0xfc, 0x34]).lenenc(), None);
        assert_eq!(Reader::new(&[0xfb]).lenenc(), None);
    }
}
