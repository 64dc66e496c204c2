//! A small JSON reader for the client: text -> [`Value`], which `json::FromJson` reads into the
//! API's types.
//!
//! Why not serde_json here: its deserializer is generic over the visitor, so the parser is
//! compiled again, inlined, for every type the client reads; that was 10.4 KB brotli of a
//! download with a 150 KB budget. This reader parses once, into a tree, with one non-generic
//! function. (A serde `Deserializer` over the tree came next, and went too: serde's derived
//! visitors were 20 KB of the wasm; see `json::FromJson`.) The other serde route,
//! `serde_json::from_str::<Value>` then `from_value`, parses once too but keeps those derived
//! visitors: 8.4 KB brotli when they went (measured 2026-12-05), on top of serde_json's `Value`
//! parser in place of this one, so it costs more than both savings' difference.
//!
//! The `differential` tests below hold this reader to serde_json's on generated input.
//!
//! What it accepts is RFC 8259 JSON, with two limits that the API never reaches: nesting deeper
//! than [`MAX_DEPTH`] is refused (a hostile answer cannot exhaust the stack), and a number with a
//! fraction or an exponent, or an integer outside i64/u64, is kept as text and refused only if a
//! field asks for it (no field of the API is fractional; an unknown field holding one is skipped
//! as usual).

/// How deep arrays and objects may nest.
pub const MAX_DEPTH: usize = 64;

/// A parsed JSON value. Objects keep their members in order, duplicates included: the
/// deserializer then reports a duplicate field, as serde_json does.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Uint(u64),
    Int(i64),
    /// A number this reader does not convert (fraction, exponent or out of range), as written.
    Other(String),
    Str(String),
    Arr(Vec<Value>),
    Obj(Vec<(String, Value)>),
}

/// Parses `text`, which must hold exactly one JSON value (whitespace around it allowed).
pub fn parse(text: &str) -> Result<Value, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        at: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.at != p.s.len() {
        return Err(p.fail("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn fail(&self, what: &str) -> String {
        format!("{what} at byte {}", self.at)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.at) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        let hit = self.s.get(self.at) == Some(&b);
        self.at += hit as usize;
        hit
    }

    fn word(&mut self, w: &str, v: Value) -> Result<Value, String> {
        if self.s[self.at..].starts_with(w.as_bytes()) {
            self.at += w.len();
            Ok(v)
        } else {
            Err(self.fail("expected a value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        self.ws();
        // `depth` counts the arrays and objects around this value: at most MAX_DEPTH of them
        // may nest, whatever is inside the innermost.
        if depth >= MAX_DEPTH && matches!(self.s.get(self.at), Some(b'[' | b'{')) {
            return Err(self.fail("nested too deeply"));
        }
        match self.s.get(self.at) {
            None => Err(self.fail("unexpected end")),
            Some(b'n') => self.word("null", Value::Null),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'"') => self.string().map(Value::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value(depth + 1)?);
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return Err(self.fail("expected `,` or `]`"));
                        }
                    }
                }
                Ok(Value::Arr(items))
            }
            Some(b'{') => {
                self.at += 1;
                let mut members = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.ws();
                        if self.s.get(self.at) != Some(&b'"') {
                            return Err(self.fail("expected a member name"));
                        }
                        let key = self.string()?;
                        if !self.eat(b':') {
                            return Err(self.fail("expected `:`"));
                        }
                        members.push((key, self.value(depth + 1)?));
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return Err(self.fail("expected `,` or `}`"));
                        }
                    }
                }
                Ok(Value::Obj(members))
            }
            Some(_) => Err(self.fail("expected a value")),
        }
    }

    fn digits(&mut self) -> usize {
        let from = self.at;
        while self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        self.at - from
    }

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<Value, String> {
        let from = self.at;
        self.at += (self.s[self.at] == b'-') as usize;
        let lead = self.s.get(self.at).copied();
        let int = self.digits();
        if int == 0 || (lead == Some(b'0') && int > 1) {
            return Err(self.fail("invalid number"));
        }
        let mut plain = true;
        if self.s.get(self.at) == Some(&b'.') {
            self.at += 1;
            plain = false;
            if self.digits() == 0 {
                return Err(self.fail("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.at) {
            self.at += 1;
            plain = false;
            if let Some(b'+' | b'-') = self.s.get(self.at) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.fail("invalid number"));
            }
        }
        // The slice is ASCII digits and signs, so it is UTF-8.
        let text = String::from_utf8_lossy(&self.s[from..self.at]).into_owned();
        // `-0` is a float to serde_json, refused for an integer field: here too.
        let plain = plain && text != "-0";
        Ok(match (plain, text.parse::<u64>(), text.parse::<i64>()) {
            (true, Ok(u), _) => Value::Uint(u),
            (true, _, Ok(i)) => Value::Int(i),
            _ => Value::Other(text),
        })
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.at..self.at + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| {
                u32::from_str_radix(h, 16)
                    .ok()
                    .filter(|_| !h.starts_with('+'))
            })
            .ok_or_else(|| self.fail("invalid \\u escape"))?;
        self.at += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, String> {
        self.at += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.at) else {
                return Err(self.fail("unterminated string"));
            };
            self.at += 1;
            match b {
                b'"' => break,
                0..=0x1f => return Err(self.fail("control character in a string")),
                b'\\' => {
                    let Some(&e) = self.s.get(self.at) else {
                        return Err(self.fail("unterminated string"));
                    };
                    self.at += 1;
                    let e = Some(e);
                    let c = match e {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi)
                                && self.s[self.at..].starts_with(b"\\u")
                            {
                                self.at += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.fail("unpaired surrogate"));
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or_else(|| self.fail("unpaired surrogate"))?
                        }
                        _ => return Err(self.fail("invalid escape")),
                    };
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                _ => out.push(b),
            }
        }
        // The input is a &str and escapes are written as whole chars: still UTF-8.
        String::from_utf8(out).map_err(|_| self.fail("invalid UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Value {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_every_kind_of_value() {
        assert_eq!(ok(" null "), Value::Null);
        assert_eq!(ok("true"), Value::Bool(true));
        assert_eq!(ok("false"), Value::Bool(false));
        assert_eq!(ok("0"), Value::Uint(0));
        assert_eq!(ok("18446744073709551615"), Value::Uint(u64::MAX));
        assert_eq!(ok("-9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(ok("-0"), Value::Other("-0".into()));
        assert_eq!(ok("1.5e3"), Value::Other("1.5e3".into()));
        assert_eq!(
            ok("99999999999999999999"),
            Value::Other("99999999999999999999".into())
        );
        assert_eq!(
            ok(r#"{"a":[1,{"b":"c"}],"d":{}, "e":[]}"#),
            Value::Obj(vec![
                (
                    "a".into(),
                    Value::Arr(vec![
                        Value::Uint(1),
                        Value::Obj(vec![("b".into(), Value::Str("c".into()))])
                    ])
                ),
                ("d".into(), Value::Obj(vec![])),
                ("e".into(), Value::Arr(vec![])),
            ])
        );
    }

    #[test]
    fn decodes_string_escapes() {
        assert_eq!(
            ok(r#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00é""#),
            Value::Str("a\"b\\c/d\u{8}\u{c}\n\r\té😀é".into())
        );
    }

    #[test]
    fn refuses_what_is_not_json() {
        for bad in [
            "",
            " ",
            "nul",
            "tru",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "+1",
            "[1,]",
            "[1 2]",
            "{\"a\"}",
            "{\"a\":1,}",
            "{a:1}",
            "\"abc",
            "\"a\nb\"",
            r#""\x""#,
            r#""\u12""#,
            r#""\u+123""#,
            r#""\ud800""#,
            r#""\ud800\u0041""#,
            r#""\ud800\ue000""#,
            r#""\udc00""#,
            "1 2",
            "{} x",
            "[",
            "{",
            "'a'",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    /// Accepts and refuses what serde_json (the server's writer and a strict RFC 8259 reader)
    /// does, below the nesting limit.
    #[test]
    fn agrees_with_serde_json_on_what_is_json() {
        for text in [
            "0",
            "-0",
            "1e5",
            "-1.25E-3",
            "[[],{}]",
            "\"\\u0000\"",
            "\"\\uD834\\uDD1E\"",
            "{\"\":0}",
            "[1,2",
            "{\"a\":1 \"b\":2}",
            "00",
            "-01",
            "1.e1",
            "1e+",
            "\"\t\"",
            "\"\\a\"",
            "nulll",
            "[true,false,null]",
            "  {\"a\" : [ 1 , 2 ] }  ",
            "\u{feff}{}",
            "[1]x",
            "{\"a\":}",
        ] {
            assert_eq!(
                parse(text).is_ok(),
                serde_json::from_str::<serde_json::Value>(text).is_ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&deep(MAX_DEPTH)).is_ok());
        let deep_with = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(
            parse(&deep_with(MAX_DEPTH)).is_ok(),
            "a scalar inside the deepest level"
        );
        assert!(parse(&deep_with(MAX_DEPTH + 1)).is_err());
        let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
        assert!(parse(&objects(MAX_DEPTH)).is_ok());
        assert!(parse(&objects(MAX_DEPTH + 1)).is_err());
        assert!(parse(&deep(MAX_DEPTH + 1))
            .unwrap_err()
            .contains("nested too deeply"));
        assert!(parse(&"[".repeat(100_000)).is_err());
    }
}

/// The reader against serde_json on generated input: a reader written here could share a
/// misreading of RFC 8259 with the tests written here; serde_json is code nobody here wrote.
#[cfg(test)]
mod differential {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value as J;

    /// Whether our tree says what serde_json's says. serde_json keeps the last of duplicate
    /// members; ours keeps them all, in order (the field reader then refuses duplicates).
    fn same(ours: &Value, theirs: &J) -> bool {
        match (ours, theirs) {
            (Value::Null, J::Null) => true,
            (Value::Bool(a), J::Bool(b)) => a == b,
            (Value::Uint(a), J::Number(n)) => n.as_u64() == Some(*a),
            (Value::Int(a), J::Number(n)) => n.as_i64() == Some(*a) && !n.is_u64(),
            // Kept as text: serde_json read a float or a big integer there, and reads the text
            // kept as the same number (its float reading rounds differently from `str::parse`).
            (Value::Other(t), J::Number(n)) => {
                !(n.is_u64() || n.is_i64())
                    && serde_json::from_str::<J>(t).is_ok_and(|j| j == J::Number(n.clone()))
            }
            (Value::Str(a), J::String(b)) => a == b,
            (Value::Arr(a), J::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
            }
            (Value::Obj(a), J::Object(b)) => {
                let mut last = std::collections::BTreeMap::new();
                for (k, v) in a {
                    last.insert(k, v);
                }
                last.len() == b.len()
                    && last
                        .iter()
                        .all(|(k, v)| b.get(k.as_str()).is_some_and(|w| same(v, w)))
            }
            _ => false,
        }
    }

    fn depth(v: &J) -> usize {
        match v {
            J::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            J::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    fn any_json() -> impl Strategy<Value = J> {
        let leaf = prop_oneof![
            Just(J::Null),
            any::<bool>().prop_map(J::Bool),
            any::<u64>().prop_map(J::from),
            any::<i64>().prop_map(J::from),
            any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
                .prop_map(J::from),
            any::<String>().prop_map(J::String),
        ];
        leaf.prop_recursive(8, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(J::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| J::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Text near JSON: fragments that are each a piece of the grammar or a classic mistake, so
    /// that generated strings often parse, and often fail in interesting places.
    fn near_json() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("{"),
            Just("}"),
            Just("["),
            Just("]"),
            Just(","),
            Just(":"),
            Just(" "),
            Just("\n"),
            Just("\""),
            Just("\"a\""),
            Just("\"\\u00e9\""),
            Just("\"\\ud83d\\ude00\""),
            Just("\"\\ud800\""),
            Just("\"\\udc00\\ud800\""),
            Just("\\"),
            Just("\\u"),
            Just("0"),
            Just("-0"),
            Just("01"),
            Just("1.5"),
            Just("1e5"),
            Just("1E+2"),
            Just("-"),
            Just("."),
            Just("e"),
            Just("18446744073709551616"),
            Just("-9223372036854775809"),
            Just("true"),
            Just("nul"),
            Just("null"),
            Just("\u{1}"),
            Just("\t"),
            Just("é"),
            Just("\u{2028}"),
        ];
        prop::collection::vec(piece, 0..24).prop_map(|p| p.concat())
    }

    /// A string literal made of pieces of escapes, surrogates and raw characters (controls
    /// included): the part of the grammar with the most ways to be wrong.
    fn string_literal() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            any::<char>().prop_map(String::from),
            (0u8..0x20).prop_map(|c| char::from(c).to_string()),
            prop::sample::select(vec![
                "\\", "\\u", "\\\"", "\\/", "\\b", "\\x", "\\ud83d", "\\ude00", "\\ud800",
                "\\udfff", "\\uDBFF", "\\uE000", "\\u00", "\\uzzzz", "\\u+123", "\""
            ])
            .prop_map(String::from),
            "[0-9a-fA-F]{1,4}",
        ];
        prop::collection::vec(piece, 0..12).prop_map(|p| format!("\"{}\"", p.concat()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever serde_json writes, compact or pretty, we read as serde_json reads it.
        #[test]
        fn reads_what_serde_json_writes(v in any_json()) {
            prop_assume!(depth(&v) <= MAX_DEPTH);
            for text in [serde_json::to_string(&v).unwrap(), serde_json::to_string_pretty(&v).unwrap()] {
                let ours = parse(&text);
                prop_assert!(ours.is_ok(), "refused {text}: {ours:?}");
                let theirs: J = serde_json::from_str(&text).unwrap();
                prop_assert!(same(ours.as_ref().unwrap(), &theirs), "{text} read as {ours:?}");
            }
        }

        /// On text near JSON, and on string literals, we accept exactly what serde_json
        /// accepts, and read it the same.
        #[test]
        fn accepts_exactly_what_serde_json_accepts(text in prop_oneof![near_json(), string_literal()]) {
            let theirs = serde_json::from_str::<J>(&text);
            let ours = parse(&text);
            match (&ours, &theirs) {
                (Ok(o), Ok(t)) => prop_assert!(same(o, t), "{text:?}: {o:?} vs {t:?}"),
                (Err(_), Err(_)) => {}
                // serde_json nests deeper (128) than we allow (64).
                (Err(e), Ok(t)) if e.contains("nested too deeply") => prop_assert!(depth(t) > MAX_DEPTH),
                // A number beyond f64 (1e501) is refused by serde_json; we keep it as text and
                // refuse it only where a field asks for a number (the module's doc says why).
                (Ok(_), Err(e)) if e.to_string().starts_with("number out of range") => {}
                _ => prop_assert!(false, "{text:?}: ours {ours:?}, serde_json {theirs:?}"),
            }
        }
    }
}
