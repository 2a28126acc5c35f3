//! Date/time functions: `$now`, `$millis`, `$fromMillis`, `$toMillis`, with ISO 8601 and
//! XPath picture strings (`[Y0001]-[M01]-[D01]`, `[FNn], [D1o] [MNn]`, ...).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use regex::Regex;

use super::format_integer::{
    Case, IntegerFormat, Primary, analyse_integer_picture, format_integer_with,
};
use super::{Def, num_arg, number_result, str_arg, string_result};
use crate::error::{Failure, Res};
use crate::eval::Evaluator;
use crate::json::quote;
use crate::value::{Opt, Value};

pub(super) const FUNCTIONS: &[Def] = &[
    Def {
        name: "now",
        signature: "<s?s?:s>",
        arity: 2,
        func: now,
    },
    Def {
        name: "millis",
        signature: "<:n>",
        arity: 0,
        func: millis,
    },
    Def {
        name: "fromMillis",
        signature: "<n-s?s?:s>",
        arity: 3,
        func: from_millis,
    },
    Def {
        name: "toMillis",
        signature: "<s-s?:n>",
        arity: 2,
        func: to_millis,
    },
];

const ISO_PICTURE: &str = "[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01].[f001][Z01:01t]";

const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: &[&str] = &[
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn now<'a>(ev: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let picture = str_arg(&args, 0);
    let tz = str_arg(&args, 1);
    string_result(format_millis(ev.now_millis as f64, picture, tz)?)
}

fn millis<'a>(ev: &Evaluator<'a>, _: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    number_result(ev.now_millis as f64)
}

fn from_millis<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(ms) = num_arg(&args, 0) else {
        return Ok(None);
    };
    string_result(format_millis(ms, str_arg(&args, 1), str_arg(&args, 2))?)
}

fn to_millis<'a>(ev: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(ts) = str_arg(&args, 0) else {
        return Ok(None);
    };
    match str_arg(&args, 1) {
        None => match parse_iso_millis(ts) {
            Some(ms) => number_result(ms),
            None if iso_shape(ts) => number_result(f64::NAN),
            None => Err(Failure::new("D3110").value(quote(ts))),
        },
        Some(picture) => Ok(parse_with_picture(ts, picture, ev.now_millis)?.map(Value::Number)),
    }
}

fn iso_regex() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$")
            .expect("valid ISO regex")
    })
}

fn iso_shape(ts: &str) -> bool {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^\d{4}(-[01]\d)*(-[0-3]\d)*(T[0-2]\d:[0-5]\d:[0-5]\d)*(\.\d+)*([+-][0-2]\d:?[0-5]\d|Z)*$")
            .expect("valid ISO shape regex")
    })
    .is_match(ts)
}

fn parse_offset(tz: &str) -> Option<i64> {
    if tz == "Z" {
        return Some(0);
    }
    let sign = match tz.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let digits: String = tz[1..].chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() != 4 {
        return None;
    }
    let h: i64 = digits[..2].parse().ok()?;
    let m: i64 = digits[2..].parse().ok()?;
    Some(sign * (h * 60 + m))
}

/// Parses an ISO 8601 timestamp to milliseconds since the epoch (no offset means UTC).
pub(crate) fn parse_iso_millis(ts: &str) -> Option<f64> {
    if !iso_shape(ts) {
        return None;
    }
    let caps = iso_regex().captures(ts)?;
    let num = |i: usize, default: u32| -> Option<u32> {
        match caps.get(i) {
            Some(m) => m.as_str().parse().ok(),
            None => Some(default),
        }
    };
    let date = NaiveDate::from_ymd_opt(num(1, 0)? as i32, num(2, 1)?, num(3, 1)?)?;
    let ms = caps
        .get(7)
        .map(|m| {
            let frac: String = m.as_str().chars().chain("000".chars()).take(3).collect();
            frac.parse::<u32>().unwrap_or(0)
        })
        .unwrap_or(0);
    let time = date.and_hms_milli_opt(num(4, 0)?, num(5, 0)?, num(6, 0)?, ms)?;
    let offset = match caps.get(8) {
        Some(m) => parse_offset(m.as_str())?,
        None => 0,
    };
    Some((time.and_utc().timestamp_millis() - offset * 60_000) as f64)
}

/// One part of a date/time picture.
enum PicturePart {
    Literal(String),
    Marker(Marker),
}

struct Marker {
    component: char,
    presentation: String,
    names: Option<Case>,
    integer: Option<IntegerFormat>,
    zulu: bool,
    width: Option<(Option<usize>, Option<usize>)>,
    year_digits: Option<usize>,
}

fn default_presentation(c: char) -> &'static str {
    match c {
        'F' | 'P' | 'C' | 'E' => "n",
        'm' | 's' => "01",
        'Z' | 'z' => "01:01",
        _ => "1",
    }
}

fn parse_width(w: &str) -> (Option<usize>, Option<usize>) {
    let mut parts = w.splitn(2, '-');
    let parse = |s: Option<&str>| s.and_then(|s| if s == "*" { None } else { s.parse().ok() });
    let min = parse(parts.next());
    let max = parse(parts.next());
    (min, max)
}

fn analyse_picture(picture: &str) -> Res<Vec<PicturePart>> {
    let chars: Vec<char> = picture.chars().collect();
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '[' {
            if chars.get(i + 1) == Some(&'[') {
                literal.push('[');
                i += 2;
                continue;
            }
            let Some(end) = chars[i..].iter().position(|c| *c == ']').map(|e| e + i) else {
                return Err(Failure::new("D3135"));
            };
            if !literal.is_empty() {
                parts.push(PicturePart::Literal(std::mem::take(&mut literal)));
            }
            let body: String = chars[i + 1..end]
                .iter()
                .filter(|c| !c.is_whitespace())
                .collect();
            parts.push(PicturePart::Marker(analyse_marker(&body)?));
            i = end + 1;
            continue;
        }
        if c == ']' && chars.get(i + 1) == Some(&']') {
            literal.push(']');
            i += 2;
            continue;
        }
        literal.push(c);
        i += 1;
    }
    if !literal.is_empty() {
        parts.push(PicturePart::Literal(literal));
    }
    Ok(parts)
}

fn analyse_marker(body: &str) -> Res<Marker> {
    let mut chars = body.chars();
    let component = chars.next().unwrap_or(' ');
    if !"YMDdFWwXxHhPmsfZzCE".contains(component) {
        return Err(Failure::new("D3132").value(quote(&component.to_string())));
    }
    let rest: String = chars.collect();
    let (pres, width) = match rest.rfind(',') {
        Some(i) => (rest[..i].to_string(), Some(parse_width(&rest[i + 1..]))),
        None => (rest, None),
    };
    let mut presentation = if pres.is_empty() {
        default_presentation(component).to_string()
    } else {
        pres
    };
    let mut suffix = None;
    if presentation.chars().count() > 1
        && let Some(last) = presentation.chars().last()
        && "atco".contains(last)
    {
        suffix = Some(last);
        presentation.pop();
    }
    let ordinal = suffix == Some('o');
    let names = match presentation.as_str() {
        "N" => Some(Case::Upper),
        "n" => Some(Case::Lower),
        "Nn" => Some(Case::Title),
        _ => None,
    };
    if names.is_some() && !"MFPECxZz".contains(component) {
        return Err(Failure::new("D3133").value(quote(&component.to_string())));
    }
    let mut integer = None;
    let mut year_digits = None;
    if names.is_none() && component != 'Z' && component != 'z' {
        let mut format = analyse_integer_picture(&presentation)?;
        format.ordinal = ordinal;
        if let Some((Some(min), _)) = width
            && format.mandatory_digits < min
        {
            format.mandatory_digits = min;
        }
        if component == 'Y' {
            match width {
                Some((_, Some(max))) => year_digits = Some(max),
                _ => {
                    let w = format.mandatory_digits + format.optional_digits;
                    if w >= 2 {
                        year_digits = Some(w);
                    }
                }
            }
        }
        integer = Some(format);
    }
    Ok(Marker {
        component,
        presentation,
        names,
        integer,
        zulu: suffix == Some('t'),
        width,
        year_digits,
    })
}

fn apply_case(s: &str, case: Case) -> String {
    match case {
        Case::Upper => s.to_uppercase(),
        Case::Lower => s.to_lowercase(),
        Case::Title => s.to_string(),
    }
}

fn name_of(name: &str, marker: &Marker) -> String {
    let case = marker.names.unwrap_or(Case::Title);
    let mut s = apply_case(name, case);
    if let Some((_, Some(max))) = marker.width {
        s = s.chars().take(max).collect();
    }
    s
}

fn format_offset(offset_minutes: i64, pres: &str, zulu: bool) -> String {
    if zulu && offset_minutes == 0 {
        return "Z".into();
    }
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let abs = offset_minutes.abs();
    let (h, m) = (abs / 60, abs % 60);
    let digits: Vec<char> = pres.chars().filter(|c| c.is_ascii_digit()).collect();
    let separator: Option<char> = pres.chars().find(|c| !c.is_ascii_digit());
    match (digits.len(), separator) {
        (1, None) | (2, None) if m == 0 => {
            if digits.len() == 1 {
                format!("{sign}{h}")
            } else {
                format!("{sign}{h:02}")
            }
        }
        (1, None) | (2, None) => format!("{sign}{h:02}:{m:02}"),
        (_, Some(sep)) => {
            let hours = if pres.starts_with("01") || pres.starts_with("00") {
                format!("{h:02}")
            } else {
                h.to_string()
            };
            format!("{sign}{hours}{sep}{m:02}")
        }
        _ => format!("{sign}{h:02}{m:02}"),
    }
}

fn iso_week(date: NaiveDate) -> (i32, u32) {
    let w = date.iso_week();
    (w.year(), w.week())
}

fn format_marker(marker: &Marker, dt: &NaiveDateTime, offset: i64) -> Res<String> {
    let date = dt.date();
    let value: i64 = match marker.component {
        'Y' => {
            let y = date.year() as i64;
            match marker.year_digits {
                Some(n) => u32::try_from(n)
                    .ok()
                    .and_then(|n| 10i64.checked_pow(n))
                    .map_or(y, |m| y % m),
                None => y,
            }
        }
        'M' => {
            if marker.names.is_some() {
                return Ok(name_of(MONTHS[date.month0() as usize], marker));
            }
            date.month() as i64
        }
        'D' => date.day() as i64,
        'd' => date.ordinal() as i64,
        'F' => {
            let dow = date.weekday().number_from_monday();
            if marker.names.is_some() {
                return Ok(name_of(DAYS[(dow - 1) as usize], marker));
            }
            dow as i64
        }
        'W' => iso_week(date).1 as i64,
        'X' => iso_week(date).0 as i64,
        'w' => {
            let first = date.with_day(1).unwrap_or(date);
            let offset_days = first.weekday().num_days_from_monday() as i64;
            (date.day() as i64 + offset_days - 1) / 7 + 1
        }
        'x' => date.month() as i64,
        'H' => dt.hour() as i64,
        'h' => {
            let h = dt.hour() % 12;
            if h == 0 { 12 } else { h as i64 }
        }
        'P' => {
            let s = if dt.hour() < 12 { "am" } else { "pm" };
            return Ok(match marker.names {
                Some(Case::Upper) => s.to_uppercase(),
                _ => s.to_string(),
            });
        }
        'm' => dt.minute() as i64,
        's' => dt.second() as i64,
        'f' => {
            let ms = dt.and_utc().timestamp_subsec_millis();
            let digits = marker
                .integer
                .as_ref()
                .map(|f| f.mandatory_digits.max(1))
                .unwrap_or(3);
            let s = format!("{ms:03}");
            return Ok(if digits <= 3 {
                s[..digits].to_string()
            } else {
                format!("{s}{}", "0".repeat(digits - 3))
            });
        }
        'Z' => return Ok(format_offset(offset, &marker.presentation, marker.zulu)),
        'z' => {
            return Ok(format!(
                "GMT{}",
                format_offset(offset, &marker.presentation, marker.zulu)
            ));
        }
        'C' => return Ok(name_of("ISO", marker)),
        'E' => return Ok(name_of("AD", marker)),
        other => return Err(Failure::new("D3132").value(quote(&other.to_string()))),
    };
    match &marker.integer {
        Some(format) => {
            let mut s = format_integer_with(value as f64, format)?;
            if let Some((_, Some(max))) = marker.width
                && format.primary == Primary::Decimal
                && s.chars().count() > max
                && marker.component != 'Y'
            {
                s = s.chars().take(max).collect();
            }
            Ok(s)
        }
        None => Ok(value.to_string()),
    }
}

/// Formats milliseconds since the epoch with a picture (ISO 8601 by default) in a timezone
/// given as `±HHMM`.
pub(crate) fn format_millis(ms: f64, picture: Option<&str>, tz: Option<&str>) -> Res<String> {
    let offset = tz.and_then(parse_offset).unwrap_or(0);
    let picture = picture.unwrap_or(ISO_PICTURE);
    let parts = analyse_picture(picture)?;
    let shifted = (ms as i64).saturating_add(offset.saturating_mul(60_000));
    let dt = DateTime::<Utc>::from_timestamp_millis(shifted)
        .ok_or_else(|| Failure::new("D1001").value(crate::json::number_to_string(ms)))?
        .naive_utc();
    let mut out = String::new();
    for part in &parts {
        match part {
            PicturePart::Literal(s) => out.push_str(s),
            PicturePart::Marker(m) => out.push_str(&format_marker(m, &dt, offset)?),
        }
    }
    Ok(out)
}

fn name_pattern(names: &[&str], marker: &Marker) -> String {
    let alternatives: Vec<String> = names
        .iter()
        .map(|n| regex::escape(&name_of(n, marker)))
        .collect();
    format!("({})", alternatives.join("|"))
}

/// Parses a timestamp against a picture; `None` when it does not match.
fn parse_with_picture(ts: &str, picture: &str, now_millis: i64) -> Res<Option<f64>> {
    let parts = analyse_picture(picture)?;
    let mut pattern = String::from("(?i)^");
    let mut markers: Vec<&Marker> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        match part {
            PicturePart::Literal(s) => pattern.push_str(&regex::escape(s)),
            PicturePart::Marker(m) => {
                let next_is_marker = matches!(parts.get(i + 1), Some(PicturePart::Marker(_)));
                let group = match (m.component, m.names) {
                    ('M', Some(_)) => name_pattern(MONTHS, m),
                    ('F', Some(_)) => name_pattern(DAYS, m),
                    ('P', _) => "(am|pm)".to_string(),
                    ('Z', _) | ('z', _) => "(Z|(?:GMT)?[+-]\\d{1,2}:?\\d{0,2})".to_string(),
                    _ => match &m.integer {
                        Some(f) if f.primary == Primary::Roman => "([ivxlcdmIVXLCDM]+)".to_string(),
                        Some(f) if f.primary == Primary::Letters => "([a-zA-Z]+)".to_string(),
                        Some(f) if f.primary == Primary::Words => "([a-zA-Z ,\\-]+?)".to_string(),
                        Some(f) if next_is_marker && f.mandatory_digits > 0 => {
                            format!("(\\d{{{}}})", f.mandatory_digits)
                        }
                        _ => "(\\d+)(?:st|nd|rd|th)?".to_string(),
                    },
                };
                pattern.push_str(&group);
                markers.push(m);
            }
        }
    }
    pattern.push('$');
    let re = Regex::new(&pattern).map_err(|_| Failure::new("D3136"))?;
    let Some(caps) = re.captures(ts) else {
        return Ok(None);
    };
    let mut fields: std::collections::HashMap<char, i64> = std::collections::HashMap::new();
    let mut offset_minutes: Option<i64> = None;
    let mut pm: Option<bool> = None;
    for (i, m) in markers.iter().enumerate() {
        let text = caps.get(i + 1).map(|g| g.as_str()).unwrap_or_default();
        match (m.component, m.names) {
            ('M', Some(_)) => {
                let idx = MONTHS
                    .iter()
                    .position(|n| name_of(n, m).eq_ignore_ascii_case(text))
                    .unwrap_or(0);
                fields.insert('M', idx as i64 + 1);
            }
            ('F', Some(_)) => {}
            ('P', _) => pm = Some(text.eq_ignore_ascii_case("pm")),
            ('Z', _) | ('z', _) => {
                let t = text.trim_start_matches("GMT");
                offset_minutes = if t == "Z" {
                    Some(0)
                } else {
                    let sign = if t.starts_with('-') { -1 } else { 1 };
                    let digits: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
                    let (h, mm) = if digits.len() <= 2 {
                        (digits.parse::<i64>().unwrap_or(0), 0)
                    } else {
                        let split = digits.len() - 2;
                        (
                            digits[..split].parse::<i64>().unwrap_or(0),
                            digits[split..].parse::<i64>().unwrap_or(0),
                        )
                    };
                    Some(sign * (h * 60 + mm))
                };
            }
            (c, _) => {
                let value = match &m.integer {
                    Some(f)
                        if f.primary == Primary::Roman
                            || f.primary == Primary::Letters
                            || f.primary == Primary::Words =>
                    {
                        let picture = m.presentation.clone();
                        let parsed = super::format_integer::parse_integer_text(text, &picture)?;
                        parsed.unwrap_or(0.0) as i64
                    }
                    _ => text
                        .trim_end_matches(|ch: char| ch.is_alphabetic())
                        .parse::<i64>()
                        .unwrap_or(0),
                };
                let value = if c == 'f' {
                    let digits = text.len() as u32;
                    if digits <= 3 {
                        value * 10i64.pow(3 - digits)
                    } else {
                        value / 10i64.pow(digits - 3)
                    }
                } else {
                    value
                };
                fields.insert(c, value);
            }
        }
    }
    if fields.contains_key(&'D') && !fields.contains_key(&'M') && fields.contains_key(&'Y') {
        return Err(Failure::new("D3136"));
    }
    let now = Utc
        .timestamp_millis_opt(now_millis)
        .single()
        .unwrap_or_default()
        .naive_utc();
    let has_date = ['Y', 'M', 'D', 'd'].iter().any(|c| fields.contains_key(c));
    let year = fields.get(&'Y').copied().unwrap_or(now.year() as i64) as i32;
    let date = if let Some(doy) = fields.get(&'d') {
        NaiveDate::from_yo_opt(year, *doy as u32)
    } else {
        let month = fields
            .get(&'M')
            .copied()
            .unwrap_or(if has_date && fields.contains_key(&'Y') {
                1
            } else {
                now.month() as i64
            });
        let day = fields
            .get(&'D')
            .copied()
            .unwrap_or(if has_date { 1 } else { now.day() as i64 });
        NaiveDate::from_ymd_opt(year, month as u32, day as u32)
    };
    let Some(date) = date else { return Ok(None) };
    let mut hour = fields.get(&'H').copied().unwrap_or(0);
    if let Some(h) = fields.get(&'h') {
        hour = h % 12;
        if pm == Some(true) {
            hour += 12;
        }
    } else if pm == Some(true) && hour < 12 {
        hour += 12;
    }
    let minute = fields.get(&'m').copied().unwrap_or(0);
    let second = fields.get(&'s').copied().unwrap_or(0);
    let ms = fields.get(&'f').copied().unwrap_or(0);
    let Some(dt) = date.and_hms_milli_opt(hour as u32, minute as u32, second as u32, ms as u32)
    else {
        return Ok(None);
    };
    let offset = offset_minutes.unwrap_or(0);
    Ok(Some(
        (dt.and_utc().timestamp_millis() - offset * 60_000) as f64,
    ))
}
