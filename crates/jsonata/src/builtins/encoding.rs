//! Base64 and URL encoding functions.
//!
//! `$base64encode`/`$base64decode` follow the Node.js behaviour of the reference
//! implementation: the string is treated as Latin-1 (one byte per UTF-16 code unit).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{Def, str_arg, string_result};
use crate::error::{Failure, Res};
use crate::eval::Evaluator;
use crate::json::quote;
use crate::value::Opt;

pub(super) const FUNCTIONS: &[Def] = &[
    Def {
        name: "base64encode",
        signature: "<s-:s>",
        arity: 1,
        func: base64encode,
    },
    Def {
        name: "base64decode",
        signature: "<s-:s>",
        arity: 1,
        func: base64decode,
    },
    Def {
        name: "encodeUrlComponent",
        signature: "<s-:s>",
        arity: 1,
        func: encode_url_component,
    },
    Def {
        name: "encodeUrl",
        signature: "<s-:s>",
        arity: 1,
        func: encode_url,
    },
    Def {
        name: "decodeUrlComponent",
        signature: "<s-:s>",
        arity: 1,
        func: decode_url_component,
    },
    Def {
        name: "decodeUrl",
        signature: "<s-:s>",
        arity: 1,
        func: decode_url,
    },
];

fn base64encode<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(s) = str_arg(&args, 0) else {
        return Ok(None);
    };
    let bytes: Vec<u8> = s.encode_utf16().map(|u| (u & 0xFF) as u8).collect();
    string_result(STANDARD.encode(bytes))
}

/// Lenient base64 decoding (invalid characters skipped, padding optional), as Node.js does.
pub(crate) fn decode_base64_lenient(s: &str) -> Vec<u8> {
    let mut clean: String = s
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '/')
        .collect();
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    while !clean.len().is_multiple_of(4) {
        clean.push('=');
    }
    STANDARD.decode(clean.as_bytes()).unwrap_or_default()
}

fn base64decode<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(s) = str_arg(&args, 0) else {
        return Ok(None);
    };
    let decoded: String = decode_base64_lenient(s)
        .into_iter()
        .map(char::from)
        .collect();
    string_result(decoded)
}

fn encode(s: &str, keep: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || keep.contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

const COMPONENT_SAFE: &str = "-_.!~*'()";
const URI_RESERVED: &str = ";,/?:@&=+$#";

fn encode_url_component<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(s) = str_arg(&args, 0) else {
        return Ok(None);
    };
    string_result(encode(s, COMPONENT_SAFE))
}

fn encode_url<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(s) = str_arg(&args, 0) else {
        return Ok(None);
    };
    string_result(encode(s, &format!("{COMPONENT_SAFE}{URI_RESERVED}")))
}

/// Percent-decoding as `decodeURIComponent` (`preserve` empty) or `decodeURI` (`preserve`
/// holding the reserved characters whose escapes are kept).
fn decode(s: &str, preserve: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = |j: usize| -> Option<u8> {
            let h = s.get(j + 1..j + 3)?;
            u8::from_str_radix(h, 16).ok()
        };
        let first = hex(i)?;
        let len = match first {
            0x00..=0x7F => 1,
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return None,
        };
        let mut seq = vec![first];
        for k in 1..len {
            let j = i + 3 * k;
            if bytes.get(j) != Some(&b'%') {
                return None;
            }
            let b = hex(j)?;
            if b & 0xC0 != 0x80 {
                return None;
            }
            seq.push(b);
        }
        let decoded = std::str::from_utf8(&seq).ok()?;
        if len == 1 && preserve.contains(decoded) {
            out.extend_from_slice(&bytes[i..i + 3]);
        } else {
            out.extend_from_slice(decoded.as_bytes());
        }
        i += 3 * len;
    }
    String::from_utf8(out).ok()
}

fn decode_with(args: &[Opt<'_>], preserve: &str, name: &str) -> Res<Option<String>> {
    let Some(s) = str_arg(args, 0) else {
        return Ok(None);
    };
    decode(s, preserve)
        .map(Some)
        .ok_or_else(|| Failure::new("D3140").token(name).value(quote(s)))
}

fn decode_url_component<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    match decode_with(&args, "", "decodeUrlComponent")? {
        Some(s) => string_result(s),
        None => Ok(None),
    }
}

fn decode_url<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    match decode_with(&args, URI_RESERVED, "decodeUrl")? {
        Some(s) => string_result(s),
        None => Ok(None),
    }
}
