//! `$formatNumber`: XPath F&O 3.1 `format-number` pictures.

use super::numeric::round_half_even;
use super::{Def, arg, num_arg, str_arg, string_result};
use crate::error::{Failure, Res};
use crate::eval::Evaluator;
use crate::value::Opt;

pub(super) const FUNCTIONS: &[Def] = &[Def {
    name: "formatNumber",
    signature: "<n-so?:s>",
    arity: 3,
    func: format_number,
}];

struct Properties {
    decimal: char,
    grouping: char,
    exponent: char,
    minus: String,
    percent: char,
    per_mille: char,
    zero: char,
    digit: char,
    pattern_separator: char,
}

impl Properties {
    fn family(&self) -> Vec<char> {
        (0..10)
            .filter_map(|i| char::from_u32(self.zero as u32 + i))
            .collect()
    }
}

#[derive(Clone)]
struct Parts {
    prefix: String,
    suffix: String,
    active: Vec<char>,
    mantissa: Vec<char>,
    exponent: Option<Vec<char>>,
    integer: Vec<char>,
    fractional: Vec<char>,
    picture: Vec<char>,
}

#[derive(Clone)]
struct Analysis {
    integer_grouping: Vec<usize>,
    regular_grouping: usize,
    min_integer: usize,
    scaling: usize,
    prefix: String,
    fractional_grouping: Vec<usize>,
    min_fraction: usize,
    max_fraction: usize,
    min_exponent: usize,
    suffix: String,
    picture: Vec<char>,
}

fn index_of(chars: &[char], c: char) -> Option<usize> {
    chars.iter().position(|x| *x == c)
}

fn last_index_of(chars: &[char], c: char) -> Option<usize> {
    chars.iter().rposition(|x| *x == c)
}

fn split_parts(sub: &[char], p: &Properties, active: &[char]) -> Parts {
    let is_active = |c: char| active.contains(&c) && c != p.exponent;
    let prefix_len = sub.iter().position(|c| is_active(*c)).unwrap_or(sub.len());
    let suffix_start = sub
        .iter()
        .rposition(|c| is_active(*c))
        .map(|i| i + 1)
        .unwrap_or(sub.len());
    let prefix: String = sub[..prefix_len].iter().collect();
    let suffix: String = sub[suffix_start.max(prefix_len)..].iter().collect();
    let active_part: Vec<char> = sub[prefix_len..suffix_start.max(prefix_len)].to_vec();
    let exp_pos = sub[prefix_len..]
        .iter()
        .position(|c| *c == p.exponent)
        .map(|i| i + prefix_len);
    let (mantissa, exponent) = match exp_pos {
        Some(e) if e <= suffix_start => {
            // The position is relative to the whole sub-picture but applied to the active
            // part, as in the reference implementation.
            let at = e.min(active_part.len());
            (
                active_part[..at].to_vec(),
                Some(active_part[(at + 1).min(active_part.len())..].to_vec()),
            )
        }
        _ => (active_part.clone(), None),
    };
    let (integer, fractional) = match index_of(&mantissa, p.decimal) {
        None => (mantissa.clone(), suffix.chars().collect()),
        Some(d) => (mantissa[..d].to_vec(), mantissa[d + 1..].to_vec()),
    };
    Parts {
        prefix,
        suffix,
        active: active_part,
        mantissa,
        exponent,
        integer,
        fractional,
        picture: sub.to_vec(),
    }
}

fn validate(parts: &Parts, p: &Properties, family: &[char], active: &[char]) -> Res<()> {
    let sub = &parts.picture;
    let mut error = None;
    let decimal_pos = index_of(sub, p.decimal);
    if decimal_pos != last_index_of(sub, p.decimal) {
        error = Some("D3081");
    }
    if index_of(sub, p.percent) != last_index_of(sub, p.percent) {
        error = Some("D3082");
    }
    if index_of(sub, p.per_mille) != last_index_of(sub, p.per_mille) {
        error = Some("D3083");
    }
    if index_of(sub, p.percent).is_some() && index_of(sub, p.per_mille).is_some() {
        error = Some("D3084");
    }
    if !parts
        .mantissa
        .iter()
        .any(|c| family.contains(c) || *c == p.digit)
    {
        error = Some("D3085");
    }
    if parts.active.iter().any(|c| !active.contains(c)) {
        error = Some("D3086");
    }
    match decimal_pos {
        Some(d) => {
            let before = if d > 0 { sub.get(d - 1) } else { None };
            if before == Some(&p.grouping) || sub.get(d + 1) == Some(&p.grouping) {
                error = Some("D3087");
            }
        }
        None => {
            if parts.integer.last() == Some(&p.grouping) {
                error = Some("D3088");
            }
        }
    }
    if sub
        .windows(2)
        .any(|w| w[0] == p.grouping && w[1] == p.grouping)
    {
        error = Some("D3089");
    }
    if let Some(opt) = index_of(&parts.integer, p.digit)
        && parts.integer[..opt].iter().any(|c| family.contains(c))
    {
        error = Some("D3090");
    }
    if let Some(opt) = last_index_of(&parts.fractional, p.digit)
        && parts.fractional[opt..].iter().any(|c| family.contains(c))
    {
        error = Some("D3091");
    }
    if let Some(exp) = &parts.exponent {
        if !exp.is_empty()
            && (index_of(sub, p.percent).is_some() || index_of(sub, p.per_mille).is_some())
        {
            error = Some("D3092");
        }
        if exp.is_empty() || exp.iter().any(|c| !family.contains(c)) {
            error = Some("D3093");
        }
    }
    match error {
        Some(code) => Err(Failure::new(code)),
        None => Ok(()),
    }
}

fn analyse(parts: &Parts, p: &Properties, family: &[char]) -> Analysis {
    let is_digit = |c: &char| family.contains(c) || *c == p.digit;
    let grouping_positions = |part: &[char], to_left: bool| -> Vec<usize> {
        let mut positions = Vec::new();
        let mut pos = index_of(part, p.grouping);
        while let Some(g) = pos {
            let count = if to_left {
                part[..g].iter().filter(|c| is_digit(c)).count()
            } else {
                part[g..].iter().filter(|c| is_digit(c)).count()
            };
            positions.push(count);
            pos = part[g + 1..]
                .iter()
                .position(|c| *c == p.grouping)
                .map(|i| i + g + 1);
        }
        positions
    };
    let integer_grouping = grouping_positions(&parts.integer, false);
    let regular = |indexes: &[usize]| -> usize {
        if indexes.is_empty() {
            return 0;
        }
        fn gcd(a: usize, b: usize) -> usize {
            if b == 0 { a } else { gcd(b, a % b) }
        }
        let factor = indexes.iter().copied().reduce(gcd).unwrap_or(0);
        if factor == 0 {
            return 0;
        }
        for i in 1..=indexes.len() {
            if !indexes.contains(&(i * factor)) {
                return 0;
            }
        }
        factor
    };
    let regular_grouping = regular(&integer_grouping);
    let fractional_grouping = grouping_positions(&parts.fractional, true);
    let mut min_integer = parts.integer.iter().filter(|c| family.contains(c)).count();
    let scaling = min_integer;
    let mut min_fraction = parts
        .fractional
        .iter()
        .filter(|c| family.contains(c))
        .count();
    let mut max_fraction = parts.fractional.iter().filter(|c| is_digit(c)).count();
    let exponent_present = parts.exponent.is_some();
    if min_integer == 0 && max_fraction == 0 {
        if exponent_present {
            min_fraction = 1;
            max_fraction = 1;
        } else {
            min_integer = 1;
        }
    }
    if exponent_present && min_integer == 0 && index_of(&parts.integer, p.digit).is_some() {
        min_integer = 1;
    }
    if min_integer == 0 && min_fraction == 0 {
        min_fraction = 1;
    }
    let min_exponent = parts
        .exponent
        .as_ref()
        .map(|e| e.iter().filter(|c| family.contains(c)).count())
        .unwrap_or(0);
    Analysis {
        integer_grouping,
        regular_grouping,
        min_integer,
        scaling,
        prefix: parts.prefix.clone(),
        fractional_grouping,
        min_fraction,
        max_fraction,
        min_exponent,
        suffix: parts.suffix.clone(),
        picture: parts.picture.clone(),
    }
}

fn option_char(options: &Opt<'_>, key: &str, default: char) -> char {
    options
        .as_ref()
        .and_then(|o| o.as_object())
        .and_then(|o| o.get(key))
        .and_then(|v| v.as_str().and_then(|s| s.chars().next()))
        .unwrap_or(default)
}

fn format_number<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(value) = num_arg(&args, 0) else {
        return Ok(None);
    };
    let picture = str_arg(&args, 1).unwrap_or_default();
    let options = arg(&args, 2);
    let p = Properties {
        decimal: option_char(&options, "decimal-separator", '.'),
        grouping: option_char(&options, "grouping-separator", ','),
        exponent: option_char(&options, "exponent-separator", 'e'),
        minus: options
            .as_ref()
            .and_then(|o| o.as_object())
            .and_then(|o| o.get("minus-sign"))
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "-".into()),
        percent: option_char(&options, "percent", '%'),
        per_mille: option_char(&options, "per-mille", '\u{2030}'),
        zero: option_char(&options, "zero-digit", '0'),
        digit: option_char(&options, "digit", '#'),
        pattern_separator: option_char(&options, "pattern-separator", ';'),
    };
    string_result(format_with(value, picture, &p)?)
}

fn format_with(value: f64, picture: &str, p: &Properties) -> Res<String> {
    let family = p.family();
    let mut active = family.clone();
    active.extend([
        p.decimal,
        p.exponent,
        p.grouping,
        p.digit,
        p.pattern_separator,
    ]);
    let pic: Vec<char> = picture.chars().collect();
    let sub_pictures: Vec<&[char]> = pic.split(|c| *c == p.pattern_separator).collect();
    if sub_pictures.len() > 2 {
        return Err(Failure::new("D3080"));
    }
    let parts: Vec<Parts> = sub_pictures
        .iter()
        .map(|s| split_parts(s, p, &active))
        .collect();
    for part in &parts {
        validate(part, p, &family, &active)?;
    }
    let mut variables: Vec<Analysis> = parts.iter().map(|part| analyse(part, p, &family)).collect();
    if variables.len() == 1 {
        let mut negative = variables[0].clone();
        negative.prefix = format!("{}{}", p.minus, negative.prefix);
        variables.push(negative);
    }
    let pic = if value >= 0.0 {
        &variables[0]
    } else {
        &variables[1]
    };
    let adjusted = if pic.picture.contains(&p.percent) {
        value * 100.0
    } else if pic.picture.contains(&p.per_mille) {
        value * 1000.0
    } else {
        value
    };
    let (mantissa, exponent) = if pic.min_exponent == 0 {
        (adjusted, None)
    } else {
        let max_mantissa = 10f64.powi(pic.scaling as i32);
        let min_mantissa = 10f64.powi(pic.scaling as i32 - 1);
        let mut m = adjusted;
        let mut e = 0i32;
        if m != 0.0 {
            while m < min_mantissa {
                m *= 10.0;
                e -= 1;
            }
            while m > max_mantissa {
                m /= 10.0;
                e += 1;
            }
        }
        (m, Some(e))
    };
    let rounded = round_half_even(mantissa, pic.max_fraction as i32);
    let make_string = |v: f64, dp: usize| -> Vec<char> {
        let s = format!("{:.*}", dp, v.abs());
        s.chars()
            .map(|c| match c.to_digit(10) {
                Some(d) => family[d as usize],
                None => c,
            })
            .collect()
    };
    let mut s = make_string(rounded, pic.max_fraction);
    match index_of(&s, '.') {
        Some(i) => s[i] = p.decimal,
        None => s.push(p.decimal),
    }
    while s.first() == Some(&p.zero) {
        s.remove(0);
    }
    while s.last() == Some(&p.zero) {
        s.pop();
    }
    let decimal_pos = index_of(&s, p.decimal).unwrap_or(s.len());
    let pad_left = pic.min_integer as i64 - decimal_pos as i64;
    let pad_right = pic.min_fraction as i64 - (s.len() as i64 - decimal_pos as i64 - 1);
    if pad_left > 0 {
        let mut padded = vec![p.zero; pad_left as usize];
        padded.extend(s);
        s = padded;
    }
    if pad_right > 0 {
        s.extend(std::iter::repeat_n(p.zero, pad_right as usize));
    }
    let mut decimal_pos = index_of(&s, p.decimal).unwrap_or(s.len());
    if let Some(group_count) = decimal_pos
        .saturating_sub(1)
        .checked_div(pic.regular_grouping)
    {
        for group in 1..=group_count {
            let at = decimal_pos - group * pic.regular_grouping;
            s.insert(at, p.grouping);
        }
    } else {
        for pos in &pic.integer_grouping {
            if *pos <= decimal_pos {
                s.insert(decimal_pos - pos, p.grouping);
                decimal_pos += 1;
            }
        }
    }
    let decimal_pos = index_of(&s, p.decimal).unwrap_or(s.len());
    for pos in &pic.fractional_grouping {
        let at = pos + decimal_pos + 1;
        if at <= s.len() {
            s.insert(at, p.grouping);
        }
    }
    let decimal_pos = index_of(&s, p.decimal);
    if pic.max_fraction == 0 || decimal_pos == Some(s.len().saturating_sub(1)) {
        s.pop();
    }
    let mut out: String = s.into_iter().collect();
    if let Some(e) = exponent {
        let mut exp: Vec<char> = make_string(e as f64, 0);
        let pad = pic.min_exponent as i64 - exp.len() as i64;
        if pad > 0 {
            let mut padded = vec![p.zero; pad as usize];
            padded.extend(exp);
            exp = padded;
        }
        out.push(p.exponent);
        if e < 0 {
            out.push_str(&p.minus);
        }
        out.extend(exp);
    }
    Ok(format!("{}{}{}", pic.prefix, out, pic.suffix))
}
