//! Input generators shared by the property tests and the fuzz targets.
//!
//! Every generator is driven by bytes ([`Gen`] over
//! `arbitrary::Unstructured`): the property tests hand it random byte
//! strings (proptest shrinks them, and keeps failing ones in its
//! regression files), the cargo-fuzz targets (`fuzz/`) hand it libFuzzer's
//! input, whose coverage guidance then steers the same structure. Running
//! out of bytes is never an error: every choice falls back to its first
//! option, so any byte string makes an input.
//!
//! They make plain text and bytes (no `spotify_auth` type), so the same
//! files compile inside the library's unit tests, the CLI's, the
//! integration tests and the fuzz crate, each including this folder by
//! path.
//!
//! Valid inputs come first, then near misses made from them ([`mutate`]).
//! Secrets are [`MARKER`]s, so that a test can check that no error's text
//! holds one.
#![allow(dead_code)]

pub mod callback;
pub mod json;
pub mod text;

use arbitrary::Unstructured;

/// Every secret a generator writes (tokens, codes, states, passwords)
/// contains this; no error's `Display` or `Debug` may.
pub const MARKER: &str = "sEcReTmArKeR";

/// Whether `text` holds a secret a generator wrote.
pub fn has_marker(text: &str) -> bool {
    text.contains(MARKER)
}

/// A secret: the marker and a few generated characters.
pub fn secret(g: &mut Gen) -> String {
    format!("{MARKER}{}", g.word(8))
}

/// Infallible choices over fuzz-style input bytes.
pub struct Gen<'a> {
    u: Unstructured<'a>,
}

impl<'a> Gen<'a> {
    /// A generator reading `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Gen {
            u: Unstructured::new(bytes),
        }
    }

    /// Whether every byte has been used.
    pub fn is_empty(&self) -> bool {
        self.u.is_empty()
    }

    /// A number in `lo..=hi` (`lo` once the bytes run out).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        self.u.int_in_range(lo..=hi).unwrap_or(lo)
    }

    /// True `num` times in `den` (false once the bytes run out).
    pub fn chance(&mut self, num: u32, den: u32) -> bool {
        self.u.ratio(num, den).unwrap_or(false)
    }

    /// One of `options` (the first once the bytes run out).
    pub fn pick<T: Clone>(&mut self, options: &[T]) -> T {
        options[self.range(0, options.len() - 1)].clone()
    }

    /// A byte.
    pub fn byte(&mut self) -> u8 {
        self.u.arbitrary().unwrap_or(0)
    }

    /// A number of any size.
    pub fn u64(&mut self) -> u64 {
        self.u.arbitrary().unwrap_or(0)
    }

    /// Up to `max` arbitrary bytes.
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.range(0, max);
        (0..n).map(|_| self.byte()).collect()
    }

    /// Up to `max` characters of `[A-Za-z0-9_-]`.
    pub fn word(&mut self, max: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
        let n = self.range(1, max.max(1));
        (0..n).map(|_| self.pick(ALPHABET) as char).collect()
    }

    /// Up to `max` characters of anything: ASCII, controls, the
    /// characters that delimit URLs, queries and JSON, and non-ASCII.
    pub fn text(&mut self, max: usize) -> String {
        let n = self.range(0, max);
        (0..n).map(|_| self.char()).collect()
    }

    /// One character, mostly ASCII.
    pub fn char(&mut self) -> char {
        match self.range(0, 9) {
            0 => self.pick(&[
                '\0', '\t', '\n', '\r', '\u{b}', '\u{7f}', '\u{85}', '\u{a0}', '\u{2028}',
                '\u{feff}', '\u{fffd}', 'é', '中', '😀',
            ]),
            1 => self.pick(&[
                '%', '&', '=', '#', '?', '+', '/', '\\', ':', '@', '[', ']', ';', ',', ' ', '"',
                '{', '}', '.',
            ]),
            _ => (self.range(0x21, 0x7e) as u8) as char,
        }
    }

    /// An integer as JSON or text might hold it: small, large, negative,
    /// fractional, exponent, overflowing.
    pub fn number_text(&mut self) -> String {
        match self.range(0, 9) {
            0 => "-1".into(),
            1 => "1e400".into(),
            2 => "18446744073709551616".into(),
            3 => format!("{}.{}", self.range(0, 5000), self.range(0, 99)),
            4 => "0".into(),
            5 => "-0.0".into(),
            6 => format!("{}", self.u64()),
            7 => "1E3".into(),
            _ => format!("{}", self.range(0, 100_000)),
        }
    }
}

/// Near misses of a valid input: `valid` with zero to four edits, each
/// removing, repeating or swapping a stretch, cutting it short, or
/// inserting a character or token that means something to some parser.
/// Works on characters, so the result is still UTF-8 (`mutate_bytes`
/// breaks that too).
pub fn mutate(g: &mut Gen, valid: &str) -> String {
    const TOKENS: &[&str] = &[
        "\"",
        "\\",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "%",
        "%00",
        "%zz",
        "%2",
        "&",
        "=",
        "#",
        "?",
        "+",
        " ",
        "\t",
        "\r\n",
        "\0",
        "é",
        "\u{feff}",
        "null",
        "true",
        "-1",
        "1e400",
        "[[[[[[[[",
        "}}}}",
        "\\u0000",
        "\\ud800",
        "\"\":\"\"",
        "&state=",
        "&code=",
        "//",
        "..",
        "@",
        "::",
    ];
    let mut chars: Vec<char> = valid.chars().collect();
    for _ in 0..g.range(0, 4) {
        let len = chars.len();
        let at = g.range(0, len);
        let end = g.range(at, len);
        match g.range(0, 5) {
            0 => {
                chars.drain(at..end);
            }
            1 => {
                let copy: Vec<char> = chars[at..end].to_vec();
                for _ in 0..g.range(1, 3) {
                    chars.splice(at..at, copy.iter().copied());
                }
            }
            2 => chars.truncate(at),
            3 => {
                let token = g.pick(TOKENS);
                chars.splice(at..at, token.chars());
            }
            4 => {
                let c = g.char();
                chars.insert(at, c);
            }
            _ => {
                if at < len {
                    chars[at] = if chars[at].is_ascii_lowercase() {
                        chars[at].to_ascii_uppercase()
                    } else {
                        chars[at].to_ascii_lowercase()
                    };
                }
            }
        }
    }
    chars.into_iter().collect()
}

/// [`mutate`], then perhaps a few raw bytes (invalid UTF-8 included).
pub fn mutate_bytes(g: &mut Gen, valid: &str) -> Vec<u8> {
    let mut bytes = mutate(g, valid).into_bytes();
    if g.chance(1, 4) {
        let at = g.range(0, bytes.len());
        let raw = g.bytes(4);
        bytes.splice(at..at, raw);
    }
    bytes
}
