//! Function signatures such as `<s-nn?:s>`: parsing and argument validation (type checks,
//! context insertion for `-` parameters and wrapping single values into arrays for `a`).

use regex::Regex;

use crate::error::{Failure, Res};
use crate::json::describe;
use crate::value::{Opt, Value};

#[derive(Clone, Debug, Default)]
struct Param {
    regex: String,
    kind: String,
    context: bool,
    context_regex: Option<Regex>,
    subtype: Option<String>,
}

/// A parsed signature.
#[derive(Clone, Debug)]
pub(crate) struct Signature {
    params: Vec<Param>,
    regex: Regex,
}

/// The one-letter type code of a value (`m` for missing).
pub(crate) fn symbol(v: Option<&Value<'_>>) -> char {
    match v {
        None => 'm',
        Some(v) => match v {
            Value::Function(_) => 'f',
            Value::Str(_) | Value::String(_) => 's',
            Value::Number(_) => 'n',
            Value::Bool(_) => 'b',
            Value::Null => 'l',
            Value::JArray(_) | Value::Array(_) | Value::Tuples(_) => 'a',
            Value::JObject(_) | Value::Object(_) => 'o',
        },
    }
}

fn array_type_name(subtype: &str) -> &'static str {
    match subtype {
        "a" => "arrays",
        "b" => "booleans",
        "f" => "functions",
        "n" => "numbers",
        "o" => "objects",
        "s" => "strings",
        _ => "values",
    }
}

fn find_closing(chars: &[char], start: usize, open: char, close: char) -> usize {
    let mut depth = 1;
    let mut pos = start;
    while pos < chars.len() {
        pos += 1;
        match chars.get(pos) {
            Some(c) if *c == close => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Some(c) if *c == open => depth += 1,
            _ => {}
        }
    }
    pos
}

impl Signature {
    /// Parses a signature string (including the angle brackets).
    pub fn parse(sig: &str) -> Res<Signature> {
        let chars: Vec<char> = sig.chars().collect();
        let mut params: Vec<Param> = Vec::new();
        let mut param = Param::default();
        let mut pos = 1;
        while pos < chars.len() {
            let c = chars[pos];
            if c == ':' {
                break;
            }
            match c {
                's' | 'n' | 'b' | 'l' | 'o' => {
                    param.regex = format!("[{c}m]");
                    param.kind = c.to_string();
                    params.push(std::mem::take(&mut param));
                }
                'a' => {
                    param.regex = "[asnblfom]".into();
                    param.kind = "a".into();
                    params.push(std::mem::take(&mut param));
                }
                'f' => {
                    param.regex = "f".into();
                    param.kind = "f".into();
                    params.push(std::mem::take(&mut param));
                }
                'j' => {
                    param.regex = "[asnblom]".into();
                    param.kind = "j".into();
                    params.push(std::mem::take(&mut param));
                }
                'x' => {
                    param.regex = "[asnblfom]".into();
                    param.kind = "x".into();
                    params.push(std::mem::take(&mut param));
                }
                '-' => {
                    if let Some(prev) = params.last_mut() {
                        prev.context = true;
                        prev.context_regex = Regex::new(&format!("^{}$", prev.regex)).ok();
                        prev.regex.push('?');
                    }
                }
                '?' | '+' => {
                    if let Some(prev) = params.last_mut() {
                        prev.regex.push(c);
                    }
                }
                '(' => {
                    let end = find_closing(&chars, pos, '(', ')');
                    let choice: String = chars[pos + 1..end.min(chars.len())].iter().collect();
                    if choice.contains('<') {
                        return Err(
                            Failure::new("S0402").value(describe(Some(&Value::Str(&choice))))
                        );
                    }
                    param.regex = format!("[{choice}m]");
                    param.kind = format!("({choice})");
                    params.push(std::mem::take(&mut param));
                    pos = end;
                }
                '<' => {
                    let prev_kind = params.last().map(|p| p.kind.clone()).unwrap_or_default();
                    if prev_kind == "a" || prev_kind == "f" {
                        let end = find_closing(&chars, pos, '<', '>');
                        let sub: String = chars[pos + 1..end.min(chars.len())].iter().collect();
                        if let Some(prev) = params.last_mut() {
                            prev.subtype = Some(sub);
                        }
                        pos = end;
                    } else {
                        return Err(
                            Failure::new("S0401").value(describe(Some(&Value::Str(&prev_kind))))
                        );
                    }
                }
                _ => {}
            }
            pos += 1;
        }
        let pattern: String = params.iter().map(|p| format!("({})", p.regex)).collect();
        let regex = Regex::new(&format!("^{pattern}$")).map_err(|_| Failure::new("S0402"))?;
        Ok(Signature { params, regex })
    }

    /// Validates (and adjusts) the arguments of a call. `context` is the input at the call
    /// site, substituted for a missing `-` parameter.
    pub fn validate<'a>(&self, args: Vec<Opt<'a>>, context: &Opt<'a>) -> Res<Vec<Opt<'a>>> {
        let supplied: String = args.iter().map(|a| symbol(a.as_ref())).collect();
        let Some(caps) = self.regex.captures(&supplied) else {
            return Err(self.mismatch(&args, &supplied));
        };
        let mut validated = Vec::with_capacity(self.params.len());
        let mut arg_index = 0;
        for (index, param) in self.params.iter().enumerate() {
            let matched = caps.get(index + 1).map(|m| m.as_str()).unwrap_or_default();
            if matched.is_empty() {
                if param.context
                    && let Some(re) = &param.context_regex
                {
                    let ctx_symbol = symbol(context.as_ref()).to_string();
                    if re.is_match(&ctx_symbol) {
                        validated.push(context.clone());
                    } else {
                        return Err(Failure::new("T0411")
                            .value(describe(context.as_ref()))
                            .index(arg_index + 1));
                    }
                } else {
                    validated.push(args.get(arg_index).cloned().flatten());
                    arg_index += 1;
                }
                continue;
            }
            for single in matched.chars() {
                let arg = args.get(arg_index).cloned().flatten();
                if param.kind == "a" {
                    if single == 'm' {
                        validated.push(None);
                    } else {
                        let arg = arg.expect("non-missing argument");
                        let mut ok = true;
                        if let Some(sub) = &param.subtype {
                            if single != 'a' && matched != sub {
                                ok = false;
                            } else if single == 'a'
                                && let Some(items) = arg.as_array()
                                && !items.is_empty()
                            {
                                let first = symbol(items.get(0).as_ref());
                                if !sub.starts_with(first) {
                                    ok = false;
                                } else {
                                    ok = items.iter().all(|v| symbol(Some(&v)) == first);
                                }
                            }
                        }
                        if !ok {
                            return Err(Failure::new("T0412")
                                .value(describe(Some(&arg)))
                                .index(arg_index + 1)
                                .kind(array_type_name(param.subtype.as_deref().unwrap_or(""))));
                        }
                        if single != 'a' {
                            validated.push(Some(Value::array(vec![arg])));
                        } else {
                            validated.push(Some(arg));
                        }
                    }
                } else {
                    validated.push(arg);
                }
                arg_index += 1;
            }
        }
        Ok(validated)
    }

    fn mismatch(&self, args: &[Opt<'_>], supplied: &str) -> Failure {
        let mut partial = String::from("^");
        let mut good_to = 0;
        for param in &self.params {
            partial.push_str(&param.regex);
            match Regex::new(&partial).ok().and_then(|re| re.find(supplied)) {
                Some(m) => good_to = m.end(),
                None => break,
            }
        }
        Failure::new("T0410")
            .value(describe(args.get(good_to).and_then(|a| a.as_ref())))
            .index(good_to + 1)
    }
}
