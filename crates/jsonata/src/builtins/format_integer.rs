//! `$formatInteger` / `$parseInteger`: XPath `format-integer` pictures (decimal digit patterns,
//! letters, roman numerals, words, ordinals).

use super::{Def, num_arg, number_result, str_arg, string_result};
use crate::error::{Failure, Res};
use crate::eval::Evaluator;
use crate::json::quote;
use crate::value::Opt;

pub(super) const FUNCTIONS: &[Def] = &[
    Def {
        name: "formatInteger",
        signature: "<n-s:s>",
        arity: 2,
        func: format_integer,
    },
    Def {
        name: "parseInteger",
        signature: "<s-s:n>",
        arity: 2,
        func: parse_integer,
    },
];

/// Primary format of an integer picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Primary {
    Decimal,
    Letters,
    Roman,
    Words,
    Sequence,
}

/// Letter case of alphabetic output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Case {
    Upper,
    Lower,
    Title,
}

/// An analysed integer picture.
#[derive(Clone, Debug)]
pub(crate) struct IntegerFormat {
    pub primary: Primary,
    pub case: Case,
    pub ordinal: bool,
    pub zero: u32,
    pub mandatory_digits: usize,
    pub optional_digits: usize,
    regular: Option<(usize, char)>,
    separators: Vec<(usize, char)>,
    token: String,
}

/// Start code points of the Unicode decimal digit groups.
const DECIMAL_GROUPS: &[u32] = &[
    0x30, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
    0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0xFF10,
];

fn regular_repeat(separators: &[(usize, char)]) -> usize {
    let Some(&(_, first)) = separators.first() else {
        return 0;
    };
    if separators.iter().any(|(_, c)| *c != first) {
        return 0;
    }
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let positions: Vec<usize> = separators.iter().map(|(p, _)| *p).collect();
    let factor = positions.iter().copied().reduce(gcd).unwrap_or(0);
    if factor == 0 {
        return 0;
    }
    for i in 1..=positions.len() {
        if !positions.contains(&(i * factor)) {
            return 0;
        }
    }
    factor
}

/// Analyses an integer picture such as `#,##0`, `A`, `i`, `Ww;o`.
pub(crate) fn analyse_integer_picture(picture: &str) -> Res<IntegerFormat> {
    let mut format = IntegerFormat {
        primary: Primary::Decimal,
        case: Case::Lower,
        ordinal: false,
        zero: 0x30,
        mandatory_digits: 0,
        optional_digits: 0,
        regular: None,
        separators: Vec::new(),
        token: String::new(),
    };
    let primary = match picture.rfind(';') {
        None => picture,
        Some(i) => {
            if picture[i + 1..].starts_with('o') {
                format.ordinal = true;
            }
            &picture[..i]
        }
    };
    match primary {
        "A" => {
            format.case = Case::Upper;
            format.primary = Primary::Letters;
        }
        "a" => format.primary = Primary::Letters,
        "I" => {
            format.case = Case::Upper;
            format.primary = Primary::Roman;
        }
        "i" => format.primary = Primary::Roman,
        "W" => {
            format.case = Case::Upper;
            format.primary = Primary::Words;
        }
        "Ww" => {
            format.case = Case::Title;
            format.primary = Primary::Words;
        }
        "w" => format.primary = Primary::Words,
        _ => {
            let mut zero: Option<u32> = None;
            let mut position = 0;
            for c in primary.chars().rev() {
                let cp = c as u32;
                match DECIMAL_GROUPS.iter().find(|g| cp >= **g && cp <= **g + 9) {
                    Some(group) => {
                        format.mandatory_digits += 1;
                        position += 1;
                        match zero {
                            None => zero = Some(*group),
                            Some(z) if z != *group => return Err(Failure::new("D3131")),
                            _ => {}
                        }
                    }
                    None if c == '#' => {
                        position += 1;
                        format.optional_digits += 1;
                    }
                    None => format.separators.push((position, c)),
                }
            }
            if format.mandatory_digits > 0 {
                format.zero = zero.unwrap_or(0x30);
                let regular = regular_repeat(&format.separators);
                if regular > 0 {
                    format.regular = Some((regular, format.separators[0].1));
                }
            } else {
                format.primary = Primary::Sequence;
                format.token = primary.to_string();
            }
        }
    }
    Ok(format)
}

fn to_letters(mut value: u64, a: char) -> String {
    let mut letters = Vec::new();
    while value > 0 {
        letters.push(char::from_u32(((value - 1) % 26) as u32 + a as u32).unwrap_or(a));
        value = (value - 1) / 26;
    }
    letters.iter().rev().collect()
}

const ROMAN: &[(u64, &str)] = &[
    (1000, "m"),
    (900, "cm"),
    (500, "d"),
    (400, "cd"),
    (100, "c"),
    (90, "xc"),
    (50, "l"),
    (40, "xl"),
    (10, "x"),
    (9, "ix"),
    (5, "v"),
    (4, "iv"),
    (1, "i"),
];

fn to_roman(mut value: u64) -> String {
    let mut out = String::new();
    for (n, s) in ROMAN {
        while value >= *n {
            out.push_str(s);
            value -= n;
        }
    }
    out
}

const FEW: &[&str] = &[
    "Zero",
    "One",
    "Two",
    "Three",
    "Four",
    "Five",
    "Six",
    "Seven",
    "Eight",
    "Nine",
    "Ten",
    "Eleven",
    "Twelve",
    "Thirteen",
    "Fourteen",
    "Fifteen",
    "Sixteen",
    "Seventeen",
    "Eighteen",
    "Nineteen",
];
const ORDINALS: &[&str] = &[
    "Zeroth",
    "First",
    "Second",
    "Third",
    "Fourth",
    "Fifth",
    "Sixth",
    "Seventh",
    "Eighth",
    "Ninth",
    "Tenth",
    "Eleventh",
    "Twelfth",
    "Thirteenth",
    "Fourteenth",
    "Fifteenth",
    "Sixteenth",
    "Seventeenth",
    "Eighteenth",
    "Nineteenth",
];
const DECADES: &[&str] = &[
    "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety", "Hundred",
];
const MAGNITUDES: &[&str] = &["Thousand", "Million", "Billion", "Trillion"];

fn words(num: u64, prev: bool, ord: bool) -> String {
    if num <= 19 {
        let w = if ord {
            ORDINALS[num as usize]
        } else {
            FEW[num as usize]
        };
        return format!("{}{w}", if prev { " and " } else { "" });
    }
    if num < 100 {
        let tens = (num / 10) as usize;
        let rem = num % 10;
        let mut w = format!("{}{}", if prev { " and " } else { "" }, DECADES[tens - 2]);
        if rem > 0 {
            w.push('-');
            w.push_str(&words(rem, false, ord));
        } else if ord {
            w.pop();
            w.push_str("ieth");
        }
        return w;
    }
    if num < 1000 {
        let hundreds = (num / 100) as usize;
        let rem = num % 100;
        let mut w = format!("{}{} Hundred", if prev { ", " } else { "" }, FEW[hundreds]);
        if rem > 0 {
            w.push_str(&words(rem, true, ord));
        } else if ord {
            w.push_str("th");
        }
        return w;
    }
    let mut mag = ((num as f64).log10() / 3.0).floor() as usize;
    if mag > MAGNITUDES.len() {
        mag = MAGNITUDES.len();
    }
    let factor = 10u64.pow((mag * 3) as u32);
    let mant = num / factor;
    let rem = num - mant * factor;
    let mut w = format!(
        "{}{} {}",
        if prev { ", " } else { "" },
        words(mant, false, false),
        MAGNITUDES[mag - 1]
    );
    if rem > 0 {
        w.push_str(&words(rem, true, ord));
    } else if ord {
        w.push_str("th");
    }
    w
}

/// Formats an integer with an analysed picture.
pub(crate) fn format_integer_with(value: f64, format: &IntegerFormat) -> Res<String> {
    let negative = value < 0.0;
    let abs = value.abs();
    let n = abs as u64;
    let mut s = match format.primary {
        Primary::Letters => to_letters(n, if format.case == Case::Upper { 'A' } else { 'a' }),
        Primary::Roman => {
            let r = to_roman(n);
            if format.case == Case::Upper {
                r.to_uppercase()
            } else {
                r
            }
        }
        Primary::Words => {
            let w = words(n, false, format.ordinal);
            match format.case {
                Case::Upper => w.to_uppercase(),
                Case::Lower => w.to_lowercase(),
                Case::Title => w,
            }
        }
        Primary::Decimal => {
            let mut digits = crate::json::number_to_string(abs);
            let pad = format.mandatory_digits as i64 - digits.chars().count() as i64;
            if pad > 0 {
                digits = format!("{}{digits}", "0".repeat(pad as usize));
            }
            if format.zero != 0x30 {
                digits = digits
                    .chars()
                    .map(|c| match c.to_digit(10) {
                        Some(d) => char::from_u32(format.zero + d).unwrap_or(c),
                        None => c,
                    })
                    .collect();
            }
            let mut chars: Vec<char> = digits.chars().collect();
            match format.regular {
                Some((every, sep)) => {
                    let groups = (chars.len().saturating_sub(1)) / every;
                    for g in (1..=groups).rev() {
                        let pos = chars.len() - g * every;
                        chars.insert(pos, sep);
                    }
                }
                None => {
                    for (position, sep) in format.separators.iter().rev() {
                        if *position <= chars.len() {
                            let pos = chars.len() - position;
                            chars.insert(pos, *sep);
                        }
                    }
                }
            }
            let mut s: String = chars.into_iter().collect();
            if format.ordinal {
                let last = s.chars().last();
                let second_last = s.chars().rev().nth(1);
                let suffix = match last {
                    Some('1') => "st",
                    Some('2') => "nd",
                    Some('3') => "rd",
                    _ => "th",
                };
                let suffix = if second_last == Some('1') {
                    "th"
                } else {
                    suffix
                };
                s.push_str(suffix);
            }
            s
        }
        Primary::Sequence => return Err(Failure::new("D3130").value(quote(&format.token))),
    };
    if negative {
        s.insert(0, '-');
    }
    Ok(s)
}

/// `$formatInteger(value, picture)` as a plain function.
pub(crate) fn format_integer_picture(value: f64, picture: &str) -> Res<String> {
    let format = analyse_integer_picture(picture)?;
    format_integer_with(value.floor(), &format)
}

fn format_integer<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(n) = num_arg(&args, 0) else {
        return Ok(None);
    };
    string_result(format_integer_picture(
        n,
        str_arg(&args, 1).unwrap_or_default(),
    )?)
}

fn from_roman(s: &str) -> Option<f64> {
    let value = |c: char| match c.to_ascii_lowercase() {
        'i' => Some(1),
        'v' => Some(5),
        'x' => Some(10),
        'l' => Some(50),
        'c' => Some(100),
        'd' => Some(500),
        'm' => Some(1000),
        _ => None,
    };
    let digits: Vec<i64> = s.chars().map(value).collect::<Option<_>>()?;
    let mut total = 0i64;
    for (i, d) in digits.iter().enumerate() {
        if digits.get(i + 1).is_some_and(|next| next > d) {
            total -= d;
        } else {
            total += d;
        }
    }
    Some(total as f64)
}

fn from_words(s: &str) -> Option<f64> {
    let lower = s.to_lowercase();
    let mut total = 0u64;
    let mut current = 0u64;
    for token in lower
        .split([' ', '-', ','])
        .filter(|t| !t.is_empty() && *t != "and")
    {
        let find = |list: &[&str]| list.iter().position(|w| w.to_lowercase() == token);
        if let Some(i) = find(FEW).or_else(|| find(ORDINALS)) {
            current += i as u64;
        } else if let Some(i) = find(&DECADES[..8]) {
            current += (i as u64 + 2) * 10;
        } else if let Some(i) = DECADES[..8]
            .iter()
            .position(|w| format!("{}ieth", &w.to_lowercase()[..w.len() - 1]) == token)
        {
            current += (i as u64 + 2) * 10;
        } else if token == "hundred" || token == "hundredth" {
            current *= 100;
        } else if let Some(i) = MAGNITUDES
            .iter()
            .position(|w| w.to_lowercase() == token || format!("{}th", w.to_lowercase()) == token)
        {
            total += current * 10u64.pow(3 * (i as u32 + 1));
            current = 0;
        } else {
            return None;
        }
    }
    Some((total + current) as f64)
}

/// Parses `s` as an integer written with `picture`; `None` when it cannot be read.
pub(crate) fn parse_integer_text(s: &str, picture: &str) -> Res<Option<f64>> {
    let format = analyse_integer_picture(picture)?;
    Ok(match format.primary {
        Primary::Letters => {
            let mut n = 0f64;
            let base = if format.case == Case::Upper { 'A' } else { 'a' } as u32;
            for c in s.chars() {
                n = n * 26.0 + (c as u32).wrapping_sub(base) as f64 + 1.0;
            }
            Some(n)
        }
        Primary::Roman => from_roman(s),
        Primary::Words => from_words(s),
        Primary::Decimal => {
            let digits: String = s
                .chars()
                .filter_map(|c| {
                    let cp = c as u32;
                    if cp >= format.zero && cp <= format.zero + 9 {
                        char::from_digit(cp - format.zero, 10)
                    } else {
                        None
                    }
                })
                .collect();
            let sign = if s.starts_with('-') { -1.0 } else { 1.0 };
            digits.parse::<f64>().ok().map(|n| sign * n)
        }
        Primary::Sequence => return Err(Failure::new("D3130").value(quote(&format.token))),
    })
}

fn parse_integer<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(s) = str_arg(&args, 0) else {
        return Ok(None);
    };
    match parse_integer_text(s, str_arg(&args, 1).unwrap_or_default())? {
        Some(n) => number_result(n),
        None => Ok(None),
    }
}
