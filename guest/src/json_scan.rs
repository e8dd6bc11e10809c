//! One validating pass over a page: its JSON syntax checked, each record's exact bytes found,
//! and only the few fields the collector reads (cursors, each record's id and time) handed
//! on to `serde_json`.
//!
//! Parsing a page with `serde_json` into raw records (`RawValue`) and then every record again
//! for its id and time walked every byte twice in the sandbox; this walks it once. It accepts
//! exactly the JSON that `serde_json` accepts (RFC 8259, nesting up to serde_json's 128 levels,
//! nothing after the value), which `hostile_input.rs` checks against `serde_json` itself on
//! arbitrary and damaged pages, with one deliberate difference: nesting deeper than 128 levels
//! is refused (a Zendesk record has four), so the walk's recursion is bounded. Strings, most of a ticket's bytes, are skipped eight bytes at
//! a time.
//!
//! The walk reads bytes and checks UTF-8 as it goes: every byte outside a string is ASCII
//! (anything else is a syntax error), and a string's non-ASCII bytes are checked run by run
//! with `str::from_utf8`. So text the walk accepted is UTF-8, and is handed out as `&str`
//! without a second pass over the page ([`accepted`]): checking the whole body first was 7% of
//! the component's work on a ticket page.

use std::borrow::Cow;

use serde::de::DeserializeOwned;

/// Deepest nesting accepted (serde_json's own limit for typed parsing).
const MAX_DEPTH: u32 = 128;

/// Where and why the text is not JSON (or not the JSON asked for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub at: usize,
    pub what: &'static str,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// A cursor over one JSON text. Each method consumes one value (and the whitespace before it).
pub struct Scanner<'a> {
    text: &'a [u8],
    pos: usize,
    depth: u32,
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a [u8]) -> Scanner<'a> {
        Scanner {
            text,
            pos: 0,
            depth: 0,
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn error(&self, what: &'static str) -> SyntaxError {
        SyntaxError { at: self.pos, what }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// Only whitespace may follow the value.
    pub fn finish(mut self) -> Result<(), SyntaxError> {
        self.skip_ws();
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("trailing characters")),
        }
    }

    /// An object: `field(key, scanner)` is called at each member's value and must consume it.
    /// Keys are unescaped.
    pub fn object<E: From<SyntaxError>>(
        &mut self,
        mut field: impl FnMut(&str, &mut Scanner<'a>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.skip_ws();
        if self.peek() != Some(b'{') {
            return Err(self.error("expected an object").into());
        }
        self.enter()?;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key").into());
            }
            let start = self.pos;
            let escaped = self.string_raw()?;
            let raw = accepted(&self.text[start..self.pos]);
            // Plain keys (all of Zendesk's) are compared in place; only an escaped one is
            // unescaped.
            let unescaped;
            let key = if escaped {
                unescaped = unescape_string(raw, start)?;
                unescaped.as_str()
            } else {
                &raw[1..raw.len() - 1]
            };
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected `:`").into());
            }
            self.pos += 1;
            field(key, self)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => break,
                _ => return Err(self.error("expected `,` or `}`").into()),
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(())
    }

    /// An array: `item(scanner)` is called at each element and must consume it.
    pub fn array<E: From<SyntaxError>>(
        &mut self,
        mut item: impl FnMut(&mut Scanner<'a>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.skip_ws();
        if self.peek() != Some(b'[') {
            return Err(self.error("expected an array").into());
        }
        self.enter()?;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            item(self)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => break,
                _ => return Err(self.error("expected `,` or `]`").into()),
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(())
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        self.pos += 1;
        Ok(())
    }

    /// The exact text of whatever `f` consumes, from its first byte (whitespace before it
    /// excluded).
    pub fn spanned<E>(
        &mut self,
        f: impl FnOnce(&mut Scanner<'a>) -> Result<(), E>,
    ) -> Result<&'a str, E> {
        self.skip_ws();
        let start = self.pos;
        f(self)?;
        Ok(accepted(&self.text[start..self.pos]))
    }

    /// Any value, checked; returns its exact text.
    pub fn value(&mut self) -> Result<&'a str, SyntaxError> {
        self.spanned(Scanner::skip)
    }

    /// Skips one value, checking it: a scalar (most of a record's values) in the caller's own
    /// loop, a container in `skip_value`'s. A call costs the sandbox some 60 instructions of
    /// prologue and epilogue, more than a short string or a number. `skip_value` repeats the
    /// scalar arms on purpose: one shared `#[inline(always)]` helper for both measured 0.6%
    /// more instructions a ticket page (callgrind).
    #[inline(always)]
    fn skip(&mut self) -> Result<(), SyntaxError> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => self.string_raw().map(drop),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            _ => self.skip_value(),
        }
    }

    /// Skips one value, checking it. Iterative: the open containers are 128 bits (set for an
    /// object), so nested content costs no call per level. One loop turn a value (its
    /// separator included) or a close: wasmtime checks the epoch at every loop head, and those
    /// checks were a third of this function's time when it took two turns a value.
    fn skip_value(&mut self) -> Result<(), SyntaxError> {
        let base = self.depth;
        let mut objects = [0u64; 2];
        // Whether the turn starts past a value (after a close) rather than at one.
        let mut ended = false;
        loop {
            if !ended {
                self.skip_ws();
                match self.peek() {
                    Some(b'"') => {
                        self.string_raw()?;
                    }
                    Some(open @ (b'{' | b'[')) => {
                        self.enter()?;
                        let level = (self.depth - base - 1) as usize;
                        let bit = 1u64 << (level % 64);
                        let object = open == b'{';
                        if object {
                            objects[level / 64] |= bit;
                        } else {
                            objects[level / 64] &= !bit;
                        }
                        self.skip_ws();
                        if self.peek() == Some(if object { b'}' } else { b']' }) {
                            self.pos += 1;
                            self.depth -= 1;
                        } else {
                            if object {
                                self.key()?;
                            }
                            continue;
                        }
                    }
                    Some(b't') => self.literal(b"true")?,
                    Some(b'f') => self.literal(b"false")?,
                    Some(b'n') => self.literal(b"null")?,
                    Some(b'-' | b'0'..=b'9') => self.number()?,
                    None => return Err(self.error("EOF while parsing a value")),
                    Some(_) => return Err(self.error("expected value")),
                }
            }
            // A value ended: close what ends here, or go on to the next member or element.
            if self.depth == base {
                return Ok(());
            }
            let level = (self.depth - base - 1) as usize;
            let object = objects[level / 64] & (1u64 << (level % 64)) != 0;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    if object {
                        self.key()?;
                    }
                    ended = false;
                }
                Some(b'}') if object => {
                    self.pos += 1;
                    self.depth -= 1;
                    ended = true;
                }
                Some(b']') if !object => {
                    self.pos += 1;
                    self.depth -= 1;
                    ended = true;
                }
                _ if object => return Err(self.error("expected `,` or `}`")),
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    /// A member's key and its colon, skipped (not unescaped).
    #[inline(always)]
    fn key(&mut self) -> Result<(), SyntaxError> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Err(self.error("expected a key"));
        }
        self.string_raw()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.error("expected `:`"));
        }
        self.pos += 1;
        Ok(())
    }

    // A fixed-size compare (an integer compare in the sandbox, not a call to `memcmp`).
    fn literal<const N: usize>(&mut self, word: &[u8; N]) -> Result<(), SyntaxError> {
        let here = self.bytes().get(self.pos..self.pos + N);
        if here.is_some_and(|h| h == word) {
            self.pos += N;
            Ok(())
        } else {
            Err(self.error("expected ident"))
        }
    }

    /// Consumes a run of ASCII digits, eight at a time (ids and times have 10 to 12): a turn
    /// for each digit was an epoch check for each.
    #[inline(always)]
    fn digits(&mut self) -> usize {
        let b = self.bytes();
        let start = self.pos;
        let mut i = start;
        loop {
            if let Some(chunk) = b.get(i..i + 8) {
                let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
                let others = non_digits(word);
                if others == 0 {
                    i += 8;
                    continue;
                }
                i += (others.trailing_zeros() / 8) as usize;
                break;
            }
            match b.get(i) {
                Some(b'0'..=b'9') => i += 1,
                _ => break,
            }
        }
        self.pos = i;
        i - start
    }

    #[inline(always)]
    fn number(&mut self) -> Result<(), SyntaxError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        Ok(())
    }

    /// Consumes a string (at its opening quote), checking escapes and UTF-8 and refusing
    /// control characters; returns whether it had escapes. Inlined, and one loop (a turn for each eight
    /// bytes or escape): each call and loop head is an epoch check in the sandbox.
    #[inline(always)]
    fn string_raw(&mut self) -> Result<bool, SyntaxError> {
        let b = self.bytes();
        let mut i = self.pos + 1;
        let mut escaped = false;
        loop {
            // Eight bytes at a time up to the first `"`, `\`, control character or non-ASCII
            // byte.
            if let Some(chunk) = b.get(i..i + 8) {
                let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
                let special = special_bytes(word);
                if special == 0 {
                    i += 8;
                    continue;
                }
                i += (special.trailing_zeros() / 8) as usize;
            }
            match b.get(i) {
                None => {
                    self.pos = i;
                    return Err(self.error("EOF while parsing a string"));
                }
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    match b.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u') => {
                            let hex = b.get(i + 2..i + 6);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                self.pos = i;
                                return Err(self.error("invalid \\u escape"));
                            }
                            i += 6;
                        }
                        _ => {
                            self.pos = i;
                            return Err(self.error("invalid escape"));
                        }
                    }
                }
                Some(&c) if c < 0x20 => {
                    self.pos = i;
                    return Err(self.error("control character while parsing a string"));
                }
                Some(&c) if c >= 0x80 => {
                    // A run of non-ASCII bytes holds whole characters (ASCII bytes are never
                    // part of one), so each run is checked on its own.
                    let end = ascii_from(b, i);
                    if std::str::from_utf8(&b[i..end]).is_err() {
                        self.pos = i;
                        return Err(self.error("invalid UTF-8 in a string"));
                    }
                    i = end;
                }
                // Fewer than eight bytes left: one at a time.
                Some(_) => i += 1,
            }
        }
    }
}

/// The low bit of each byte of a word read eight bytes at a time, and the high bit: the masks
/// of the eight-byte skips (strings, digits, non-ASCII runs).
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Text the walk has consumed without error, as `&str`.
fn accepted(consumed: &[u8]) -> &str {
    // SAFETY: every byte the walk consumes is checked: outside strings only ASCII bytes are
    // accepted (whitespace, structure, numbers and literals are matched byte by byte), and
    // inside a string `special_bytes` stops the eight-byte skip at any non-ASCII byte, whose
    // run `string_raw` checks with `str::from_utf8`. So consumed text is UTF-8, which
    // `hostile_input::the_walk_accepts_only_utf8` checks on arbitrary and damaged bytes.
    unsafe { std::str::from_utf8_unchecked(consumed) }
}

/// Where the run of non-ASCII bytes starting at `from` ends: the first ASCII byte after it, or
/// the end of `b`.
fn ascii_from(b: &[u8], from: usize) -> usize {
    let mut i = from;
    loop {
        if let Some(chunk) = b.get(i..i + 8) {
            let ascii = !u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])) & HIGH;
            if ascii == 0 {
                i += 8;
                continue;
            }
            return i + (ascii.trailing_zeros() / 8) as usize;
        }
        match b.get(i) {
            Some(&c) if c >= 0x80 => i += 1,
            _ => return i,
        }
    }
}

/// The high bit of each byte of `word` (little-endian) that may be `"`, `\`, below 0x20 or
/// above 0x7f, by the has-zero-byte bit trick: the lowest bit set, if any, is always such a
/// byte (a borrow can only mark bytes above a real one, and a byte's own high bit is exact),
/// so the scan can jump straight to it.
fn special_bytes(word: u64) -> u64 {
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    (zero_in(quote) | zero_in(backslash) | below_space | word) & HIGH
}

/// The high bit of each byte of `word` that is not an ASCII digit. Exact for every byte: with
/// the high bits masked off no sum carries into the next byte, and a byte at or above 0x80 is
/// marked by its own high bit.
fn non_digits(word: u64) -> u64 {
    let x = word ^ 0x3030_3030_3030_3030; // '0'..='9' become 0..=9
    (((x & !HIGH) + 0x7676_7676_7676_7676) | x) & HIGH
}

/// A checked string with escapes (quotes included), unescaped by serde_json.
fn unescape_string(raw: &str, at: usize) -> Result<String, SyntaxError> {
    serde_json::from_str::<String>(raw).map_err(|_| SyntaxError {
        at,
        what: "invalid string",
    })
}

/// A page of records as the collector needs it: each record's exact text and the raw text of
/// its top-level `FIELDS`, and the raw text of the envelope's `MEMBERS`.
#[derive(Debug)]
pub struct Page<'a, const FIELDS: usize, const MEMBERS: usize> {
    /// Whether the list member was there at all (an empty list is a page; none is not).
    pub has_list: bool,
    pub records: Vec<&'a str>,
    pub fields: Vec<[Option<&'a str>; FIELDS]>,
    pub members: [Option<&'a str>; MEMBERS],
}

/// Why a body is not a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageError {
    Syntax(SyntaxError),
    /// A member or a record's field named twice (serde's derived parsers refuse it too).
    Duplicate(&'static str),
    /// The record at this index is not an object.
    NotAnObject(usize),
}

impl From<SyntaxError> for PageError {
    fn from(e: SyntaxError) -> PageError {
        PageError::Syntax(e)
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageError::Syntax(e) => write!(f, "invalid JSON: {e}"),
            PageError::Duplicate(name) => write!(f, "duplicate field `{name}`"),
            PageError::NotAnObject(i) => write!(f, "record {i} is not an object"),
        }
    }
}

/// Walks a page once: an object whose member `list` is an array of objects (the records).
pub fn page<'a, const FIELDS: usize, const MEMBERS: usize>(
    text: &'a [u8],
    list: &'static str,
    fields: [&'static str; FIELDS],
    members: [&'static str; MEMBERS],
) -> Result<Page<'a, FIELDS, MEMBERS>, PageError> {
    let mut page = Page {
        has_list: false,
        records: Vec::new(),
        fields: Vec::new(),
        members: [None; MEMBERS],
    };
    let mut scanner = Scanner::new(text);
    scanner.object(|key, s| {
        if key == list {
            if page.has_list {
                return Err(PageError::Duplicate(list));
            }
            page.has_list = true;
            return s.array(|s| {
                let mut found = [None; FIELDS];
                s.skip_ws();
                if s.peek() != Some(b'{') {
                    return Err(PageError::NotAnObject(page.records.len()));
                }
                let record = s.spanned(|s| {
                    s.object(|key, s| match fields.iter().position(|f| *f == key) {
                        Some(i) => once(&mut found[i], fields[i], s.value()?),
                        None => s.skip().map_err(PageError::from),
                    })
                })?;
                page.records.push(record);
                page.fields.push(found);
                Ok(())
            });
        }
        match members.iter().position(|m| *m == key) {
            Some(i) => once(&mut page.members[i], members[i], s.value()?),
            None => s.skip().map_err(PageError::from),
        }
    })?;
    scanner.finish()?;
    Ok(page)
}

fn once<'a>(slot: &mut Option<&'a str>, name: &'static str, raw: &'a str) -> Result<(), PageError> {
    match slot.replace(raw) {
        Some(_) => Err(PageError::Duplicate(name)),
        None => Ok(()),
    }
}

/// A field's raw text as `T`, as serde's derived parser would read it.
pub fn field<T: DeserializeOwned>(name: &str, raw: Option<&str>) -> Result<T, String> {
    let raw = raw.ok_or_else(|| format!("missing field `{name}`"))?;
    serde_json::from_str(raw).map_err(|e| format!("field `{name}`: {e}"))
}

/// An integer field (ids, times): plain digits, as every record has, are read directly; any
/// other text goes to serde_json, so the result and the errors are serde's either way.
pub fn int_field<T: DeserializeOwned + std::str::FromStr>(
    name: &str,
    raw: Option<&str>,
) -> Result<T, String> {
    if let Some(digits) = raw
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits.len() == 1 || !digits.starts_with('0'))
        && let Ok(n) = digits.parse()
    {
        return Ok(n);
    }
    field(name, raw)
}

/// A string field, borrowed from the page when it has no escapes.
pub fn str_field<'a>(name: &str, raw: Option<&'a str>) -> Result<Cow<'a, str>, String> {
    let raw = raw.ok_or_else(|| format!("missing field `{name}`"))?;
    match serde_json::from_str::<&str>(raw) {
        Ok(s) => Ok(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(raw)
            .map(Cow::Owned)
            .map_err(|e| format!("field `{name}`: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tickets(text: &str) -> Result<Page<'_, 2, 1>, PageError> {
        page(
            text.as_bytes(),
            "tickets",
            ["id", "generated_timestamp"],
            ["end_of_stream"],
        )
    }

    #[test]
    fn records_keep_their_exact_bytes_and_fields_are_found_past_tricky_values() {
        let text = r#" { "tickets" : [ {"subject" : "a \"q\" {b} [c] \\", "via": {"id": 9, "x": ["}", "]"]},
            "tags":[[],{}], "id" : 42 ,"n":-1.5e3,"t":true, "generated_timestamp":7 } ,{"id":1,"generated_timestamp":2}],
            "end_of_stream": false, "other": {"id": 3} } "#;
        let p = tickets(text).unwrap();
        assert!(p.has_list);
        assert!(p.records[0].starts_with(r#"{"subject""#) && p.records[0].ends_with("7 }"));
        assert_eq!(p.records[1], r#"{"id":1,"generated_timestamp":2}"#);
        assert_eq!(p.fields[0], [Some("42"), Some("7")]);
        assert_eq!(p.members, [Some("false")]);
    }

    #[test]
    fn nested_fields_of_the_same_name_are_not_the_records() {
        let p = tickets(r#"{"tickets":[{"via":{"id":1},"list":[{"id":2}]}]}"#).unwrap();
        assert_eq!(p.fields[0], [None, None]);
        assert_eq!(field::<u64>("id", None), Err("missing field `id`".into()));
    }

    #[test]
    fn escaped_keys_are_compared_unescaped() {
        let p = tickets(r#"{"tick\u0065ts":[{"\u0069d":5}]}"#).unwrap();
        assert_eq!(p.fields[0][0], Some("5"));
    }

    #[test]
    fn a_field_or_member_named_twice_is_refused() {
        for text in [
            r#"{"tickets":[{"id":1,"x":2,"id":1}]}"#,
            r#"{"tickets":[{"id":1,"\u0069d":1}]}"#,
        ] {
            assert_eq!(tickets(text).unwrap_err(), PageError::Duplicate("id"));
        }
        assert_eq!(
            tickets(r#"{"tickets":[],"tickets":[]}"#).unwrap_err(),
            PageError::Duplicate("tickets")
        );
        assert_eq!(
            tickets(r#"{"end_of_stream":true,"end_of_stream":true}"#).unwrap_err(),
            PageError::Duplicate("end_of_stream")
        );
    }

    #[test]
    fn records_that_are_not_objects_are_refused() {
        assert_eq!(
            tickets(r#"{"tickets":[{},[1]]}"#).unwrap_err(),
            PageError::NotAnObject(1)
        );
        assert_eq!(
            tickets(r#"{"tickets":[7]}"#).unwrap_err(),
            PageError::NotAnObject(0)
        );
        assert!(!tickets(r#"{"x":[]}"#).unwrap().has_list);
    }

    #[test]
    fn what_is_not_json_is_refused_with_where() {
        for (text, what) in [
            (r#"{"tickets":[]} x"#, "trailing characters"),
            (r#"{"x":[}"#, "expected value"),
            (r#"{"tickets":[],}"#, "expected a key"),
            (r#"{"a":01}"#, "expected `,` or `}`"),
            (r#"{"a":1.}"#, "invalid number"),
            (r#"{"a":-}"#, "invalid number"),
            (r#"{"a":1e}"#, "invalid number"),
            (r#"{"a":tru}"#, "expected ident"),
            (r#"{"a":"\x"}"#, "invalid escape"),
            (r#"{"a":"\u12g4"}"#, "invalid \\u escape"),
            (
                "{\"a\":\"tab\there\"}",
                "control character while parsing a string",
            ),
            (r#"{"a":"open"#, "EOF while parsing a string"),
            (r#"{"a":"#, "EOF while parsing a value"),
            (r#"[1]"#, "expected an object"),
        ] {
            match tickets(text) {
                Err(PageError::Syntax(e)) => assert_eq!(e.what, what, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!(r#"{{"x":{}{}}}"#, "[".repeat(n), "]".repeat(n));
        assert!(tickets(&deep(MAX_DEPTH as usize - 1)).is_ok());
        match tickets(&deep(MAX_DEPTH as usize)) {
            Err(PageError::Syntax(e)) => assert_eq!(e.what, "recursion limit exceeded"),
            other => panic!("{other:?}"),
        }
        // Far deeper input is refused as quickly, without exhausting the stack.
        assert!(tickets(&deep(1_000_000)).is_err());
    }

    #[test]
    fn the_digit_filter_marks_exactly_the_bytes_that_are_not_digits() {
        for at in 0..8 {
            for byte in 0..=255u8 {
                let mut bytes = *b"01234567";
                bytes[at] = byte;
                let marked = non_digits(u64::from_le_bytes(bytes));
                let expected = if byte.is_ascii_digit() {
                    0
                } else {
                    0x80u64 << (8 * at)
                };
                assert_eq!(marked, expected, "{bytes:?}");
            }
        }
        let mut s = Scanner::new(b"1234567890123,");
        assert_eq!(s.digits(), 13);
        let mut s = Scanner::new(b"12");
        assert_eq!(s.digits(), 2);
    }

    #[test]
    fn the_eight_byte_filter_finds_the_first_special_byte_exactly() {
        let specials: Vec<u8> = (0u8..0x20)
            .chain([b'"', b'\\'])
            .chain(0x80..=0xff)
            .collect();
        let fillers = [
            b'a', b' ', 0x01, 0x7f, 0x80, 0xff, b'!', b'#', b']', b'"', b'\\',
        ];
        for &special in &specials {
            for at in 0..8 {
                for filler in fillers {
                    // Ordinary bytes before the special one, anything after it.
                    let mut bytes = [b'x'; 8];
                    bytes[at] = special;
                    for after in bytes.iter_mut().skip(at + 1) {
                        *after = filler;
                    }
                    let found = special_bytes(u64::from_le_bytes(bytes));
                    assert_eq!(found.trailing_zeros() / 8, at as u32, "{bytes:?}");
                }
            }
        }
        assert_eq!(special_bytes(u64::from_le_bytes(*b"abcdefgh")), 0);
        // Non-ASCII stops the skip, so the string's run of it is checked as UTF-8.
        let text = "ab é ü ✓".as_bytes();
        assert_eq!(
            special_bytes(u64::from_le_bytes(text[..8].try_into().unwrap())).trailing_zeros() / 8,
            3
        );
    }

    #[test]
    fn strings_must_be_utf8_and_runs_of_it_are_found_whole() {
        let ok = |s: &[u8]| {
            page::<0, 0>(s, "tickets", [], [])
                .map(|p| p.records.concat())
                .map_err(|e| e.to_string())
        };
        let good =
            r#"{"tickets":[{"s":"é ü ✓ 日本語のテキスト, and ascii after it","e":"\u00e9é"}]}"#;
        assert_eq!(ok(good.as_bytes()).unwrap().len(), good.len() - 14);
        for bad in [
            &b"{\"tickets\":[{\"s\":\"\xff\"}]}"[..],
            b"{\"tickets\":[{\"s\":\"ab\xc3\"}]}",
            b"{\"tickets\":[{\"s\":\"\xed\xa0\x80 a surrogate\"}]}",
            b"{\"tickets\":[{\"s\":\"\xc0\xaf overlong\"}]}",
            b"{\"tickets\":[{\"s\":\"a long ascii prefix then \xe6\x97\"}]}",
            b"{\"tickets\":[{\"\xe6\x97\":1}]}",
        ] {
            assert!(
                ok(bad).unwrap_err().contains("invalid UTF-8 in a string"),
                "{bad:?}"
            );
        }
        // Outside strings, any byte past ASCII is not JSON.
        assert!(ok(b"{\"tickets\":[{\"s\":1\xc3\xa9}]}").is_err());
        assert!(ok("{\"tickets\":[]}\u{a0}".as_bytes()).is_err());
        assert_eq!(ascii_from("é日本x".as_bytes(), 0), "é日本".len());
        assert_eq!(ascii_from("éé".as_bytes(), 0), 4);
    }

    #[test]
    fn integer_fields_read_as_serde_reads_them() {
        for raw in [
            "0",
            "7",
            "-0",
            "-7",
            "1.0",
            "1e3",
            "007",
            "",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775808",
            "\"5\"",
            "null",
        ] {
            assert_eq!(
                int_field::<u64>("id", Some(raw)).ok(),
                serde_json::from_str::<u64>(raw).ok(),
                "{raw}"
            );
            assert_eq!(
                int_field::<i64>("t", Some(raw)).ok(),
                serde_json::from_str::<i64>(raw).ok(),
                "{raw}"
            );
        }
    }

    #[test]
    fn field_values_are_typed_by_serde() {
        assert!(field::<u64>("id", Some("-1")).is_err());
        assert!(field::<u64>("id", Some("1.5")).is_err());
        assert!(field::<u64>("id", Some("\"1\"")).is_err());
        assert_eq!(field::<i64>("t", Some("-3")), Ok(-3));
        assert_eq!(field::<Option<String>>("c", Some("null")), Ok(None));
        assert_eq!(
            str_field("s", Some(r#""plain""#)),
            Ok(Cow::Borrowed("plain"))
        );
        assert_eq!(
            str_field("s", Some(r#""a\nb""#)),
            Ok(Cow::Owned("a\nb".into()))
        );
        assert!(str_field("s", Some("5")).is_err());
        assert!(str_field("s", Some("null")).is_err());
    }
}
