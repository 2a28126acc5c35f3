//! Top-down operator precedence parser producing the raw syntax tree, which
//! [`crate::process`] then turns into the evaluator's [`crate::ast::Node`] tree.

use crate::Syntax;
use crate::ast::BinOp;
use crate::error::{Failure, Res};
use crate::lexer::{Lexer, Tok, Token};
use crate::regex::RegexLit;
use crate::signature::Signature;
use crate::stack::StackGuard;

/// A raw syntax tree node.
#[derive(Debug)]
pub(crate) struct Raw {
    pub kind: RawKind,
    pub pos: usize,
    pub keep_array: bool,
}

/// Raw node kinds.
#[derive(Debug)]
pub(crate) enum RawKind {
    Name(String),
    Variable(String),
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Regex(RegexLit),
    Wildcard,
    Descendant,
    Parent,
    Op(BinOp, Box<Raw>, Box<Raw>),
    Dot(Box<Raw>, Box<Raw>),
    Predicate(Box<Raw>, Box<Raw>),
    Focus(Box<Raw>, String),
    Index(Box<Raw>, String),
    Bind(String, Box<Raw>),
    Apply(Box<Raw>, Box<Raw>),
    Neg(Box<Raw>),
    Not(Box<Raw>),
    Array(Vec<Raw>),
    Object(Vec<(Raw, Raw)>),
    Group(Box<Raw>, Vec<(Raw, Raw)>),
    Sort(Box<Raw>, Vec<(bool, Raw)>),
    Call {
        procedure: Box<Raw>,
        args: Vec<Raw>,
        partial: bool,
    },
    Placeholder,
    Lambda {
        params: Vec<String>,
        signature: Option<Signature>,
        body: Box<Raw>,
    },
    Condition(Box<Raw>, Box<Raw>, Option<Box<Raw>>),
    Elvis(Box<Raw>, Box<Raw>),
    Coalesce(Box<Raw>, Box<Raw>),
    Block(Vec<Raw>),
    Transform(Box<Raw>, Box<Raw>, Option<Box<Raw>>),
    FdlCall(String, Vec<Raw>),
}

impl Raw {
    fn new(kind: RawKind, pos: usize) -> Raw {
        Raw {
            kind,
            pos,
            keep_array: false,
        }
    }

    /// The token text of a leaf (for error messages).
    pub fn text(&self) -> String {
        match &self.kind {
            RawKind::Name(n) => n.clone(),
            RawKind::Variable(v) => v.clone(),
            RawKind::Str(s) => s.clone(),
            RawKind::Num(n) => crate::json::number_to_string(*n),
            RawKind::Bool(b) => b.to_string(),
            RawKind::Null => "null".into(),
            _ => String::new(),
        }
    }
}

/// Left binding power of an operator.
fn binding_power(op: &str) -> u32 {
    match op {
        "." => 75,
        "[" | "(" | "@" | "#" => 80,
        "{" => 70,
        "+" | "-" | "&" => 50,
        "*" | "/" | "%" => 60,
        "=" | "<" | ">" | "!=" | "<=" | ">=" | "~>" | "?:" | "??" | "in" | "^" => 40,
        "and" => 30,
        "or" => 25,
        "?" => 20,
        ":=" => 10,
        _ => 0,
    }
}

/// The raw parser.
pub(crate) struct Parser {
    lexer: Lexer,
    node: Token,
    syntax: Syntax,
    stack: StackGuard,
}

fn token_text(tok: &Tok) -> String {
    match tok {
        Tok::Name(n) => n.clone(),
        Tok::Variable(v) => format!("${v}"),
        Tok::Str(s) => s.clone(),
        Tok::Num(n) => crate::json::number_to_string(*n),
        Tok::Bool(b) => b.to_string(),
        Tok::Null => "null".into(),
        Tok::Regex(r) => format!("/{}/{}", r.source, r.flags),
        Tok::Op(op) => (*op).to_string(),
        Tok::End => "(end)".into(),
    }
}

impl Parser {
    /// Parses a whole expression.
    pub fn parse(source: &str, syntax: Syntax) -> Res<Raw> {
        let mut lexer = Lexer::new(source, syntax);
        let first = lexer.next(false)?;
        let mut parser = Parser {
            lexer,
            node: Token {
                tok: Tok::End,
                pos: 0,
            },
            syntax,
            stack: StackGuard::new(),
        };
        parser.set_node(first)?;
        let expr = parser.expression(0)?;
        if !matches!(parser.node.tok, Tok::End) {
            return Err(Failure::new("S0201")
                .at(parser.node.pos)
                .token(token_text(&parser.node.tok)));
        }
        Ok(expr)
    }

    fn set_node(&mut self, token: Token) -> Res<()> {
        if let Tok::Op(op) = token.tok
            && (op == "~" || (op == "!" && self.syntax != Syntax::Fdl))
        {
            return Err(Failure::new("S0204").at(token.pos).token(op));
        }
        self.node = match token.tok {
            Tok::End => Token {
                tok: Tok::End,
                pos: self.lexer.len(),
            },
            _ => token,
        };
        Ok(())
    }

    fn id(&self) -> &str {
        match &self.node.tok {
            Tok::Op(op) => op,
            Tok::Name(_) | Tok::Variable(_) => "(name)",
            Tok::Str(_) | Tok::Num(_) | Tok::Bool(_) | Tok::Null => "(literal)",
            Tok::Regex(_) => "(regex)",
            Tok::End => "(end)",
        }
    }

    fn lbp(&self) -> u32 {
        match &self.node.tok {
            Tok::Op(op) => binding_power(op),
            _ => 0,
        }
    }

    fn advance(&mut self, expected: Option<&str>, infix: bool) -> Res<()> {
        if let Some(id) = expected
            && self.id() != id
        {
            let code = if matches!(self.node.tok, Tok::End) {
                "S0203"
            } else {
                "S0202"
            };
            return Err(Failure::new(code)
                .at(self.node.pos)
                .token(token_text(&self.node.tok))
                .value(crate::json::quote(id)));
        }
        let next = self.lexer.next(infix)?;
        self.set_node(next)
    }

    fn take_node(&mut self) -> Token {
        std::mem::replace(
            &mut self.node,
            Token {
                tok: Tok::End,
                pos: 0,
            },
        )
    }

    fn expression(&mut self, rbp: u32) -> Res<Raw> {
        self.stack.check().map_err(|e| e.at(self.node.pos))?;
        let t = self.take_node();
        self.advance(None, true)?;
        let mut left = self.nud(t)?;
        while rbp < self.lbp() {
            let t = self.take_node();
            self.advance(None, false)?;
            left = self.led(t, left)?;
        }
        Ok(left)
    }

    fn nud(&mut self, t: Token) -> Res<Raw> {
        let pos = t.pos;
        let kind = match t.tok {
            Tok::Name(n) => RawKind::Name(n),
            Tok::Variable(v) => RawKind::Variable(v),
            Tok::Str(s) => RawKind::Str(s),
            Tok::Num(n) => RawKind::Num(n),
            Tok::Bool(b) => RawKind::Bool(b),
            Tok::Null => RawKind::Null,
            Tok::Regex(r) => RawKind::Regex(r),
            Tok::End => return Err(Failure::new("S0207").at(pos)),
            Tok::Op(op) => match op {
                "and" | "or" | "in" => RawKind::Name(op.to_string()),
                "-" => RawKind::Neg(Box::new(self.expression(70)?)),
                "!" => RawKind::Not(Box::new(self.expression(70)?)),
                "*" => RawKind::Wildcard,
                "**" => RawKind::Descendant,
                "%" => RawKind::Parent,
                "(" => self.block()?,
                "[" => self.array()?,
                "{" => RawKind::Object(self.object_pairs()?),
                "|" => self.transform()?,
                _ => return Err(Failure::new("S0211").at(pos).token(op)),
            },
        };
        Ok(Raw::new(kind, pos))
    }

    fn block(&mut self) -> Res<RawKind> {
        let mut exprs = Vec::new();
        while self.id() != ")" {
            exprs.push(self.expression(0)?);
            if self.id() != ";" {
                break;
            }
            self.advance(Some(";"), false)?;
        }
        self.advance(Some(")"), true)?;
        Ok(RawKind::Block(exprs))
    }

    fn array(&mut self) -> Res<RawKind> {
        let mut items = Vec::new();
        if self.id() != "]" {
            loop {
                let mut item = self.expression(0)?;
                if self.id() == ".." {
                    let pos = self.node.pos;
                    self.advance(Some(".."), false)?;
                    let rhs = self.expression(0)?;
                    item = Raw::new(
                        RawKind::Op(BinOp::Range, Box::new(item), Box::new(rhs)),
                        pos,
                    );
                }
                items.push(item);
                if self.id() != "," {
                    break;
                }
                self.advance(Some(","), false)?;
            }
        }
        self.advance(Some("]"), true)?;
        Ok(RawKind::Array(items))
    }

    fn object_pairs(&mut self) -> Res<Vec<(Raw, Raw)>> {
        let mut pairs = Vec::new();
        if self.id() != "}" {
            loop {
                let key = self.expression(0)?;
                self.advance(Some(":"), false)?;
                let value = self.expression(0)?;
                pairs.push((key, value));
                if self.id() != "," {
                    break;
                }
                self.advance(Some(","), false)?;
            }
        }
        self.advance(Some("}"), true)?;
        Ok(pairs)
    }

    fn transform(&mut self) -> Res<RawKind> {
        let pattern = self.expression(0)?;
        self.advance(Some("|"), false)?;
        let update = self.expression(0)?;
        let mut delete = None;
        if self.id() == "," {
            self.advance(Some(","), false)?;
            delete = Some(Box::new(self.expression(0)?));
        }
        self.advance(Some("|"), true)?;
        Ok(RawKind::Transform(
            Box::new(pattern),
            Box::new(update),
            delete,
        ))
    }

    fn led(&mut self, t: Token, left: Raw) -> Res<Raw> {
        let pos = t.pos;
        let Tok::Op(op) = t.tok else {
            return Err(Failure::new("S0201").at(pos).token(token_text(&t.tok)));
        };
        let lhs = Box::new(left);
        let kind = match op {
            "(" => return self.call(*lhs, pos),
            "[" => {
                if self.id() == "]" {
                    let mut left = *lhs;
                    mark_keep_array(&mut left);
                    self.advance(Some("]"), true)?;
                    return Ok(left);
                }
                let rhs = self.expression(0)?;
                self.advance(Some("]"), true)?;
                RawKind::Predicate(lhs, Box::new(rhs))
            }
            "^" => {
                self.advance(Some("("), false)?;
                let mut terms = Vec::new();
                loop {
                    let mut descending = false;
                    if self.id() == "<" {
                        self.advance(Some("<"), false)?;
                    } else if self.id() == ">" {
                        descending = true;
                        self.advance(Some(">"), false)?;
                    }
                    terms.push((descending, self.expression(0)?));
                    if self.id() != "," {
                        break;
                    }
                    self.advance(Some(","), false)?;
                }
                self.advance(Some(")"), true)?;
                RawKind::Sort(lhs, terms)
            }
            "{" => RawKind::Group(lhs, self.object_pairs()?),
            ":=" => {
                let RawKind::Variable(name) = &lhs.kind else {
                    return Err(Failure::new("S0212").at(lhs.pos).token(lhs.text()));
                };
                let name = name.clone();
                RawKind::Bind(name, Box::new(self.expression(binding_power(":=") - 1)?))
            }
            "@" | "#" => {
                let rhs = self.expression(binding_power(op))?;
                let RawKind::Variable(name) = rhs.kind else {
                    return Err(Failure::new("S0214").at(rhs.pos).token(op));
                };
                if op == "@" {
                    RawKind::Focus(lhs, name)
                } else {
                    RawKind::Index(lhs, name)
                }
            }
            "?" => {
                let then = self.expression(0)?;
                let mut otherwise = None;
                if self.id() == ":" {
                    self.advance(Some(":"), false)?;
                    otherwise = Some(Box::new(self.expression(0)?));
                }
                RawKind::Condition(lhs, Box::new(then), otherwise)
            }
            "?:" => RawKind::Elvis(lhs, Box::new(self.expression(0)?)),
            "??" => RawKind::Coalesce(lhs, Box::new(self.expression(0)?)),
            "." => RawKind::Dot(lhs, Box::new(self.expression(binding_power("."))?)),
            "~>" => RawKind::Apply(lhs, Box::new(self.expression(binding_power("~>"))?)),
            _ => match BinOp::from_symbol(op) {
                Some(bin) => RawKind::Op(bin, lhs, Box::new(self.expression(binding_power(op))?)),
                None => return Err(Failure::new("S0201").at(pos).token(op)),
            },
        };
        Ok(Raw::new(kind, pos))
    }

    fn call(&mut self, left: Raw, pos: usize) -> Res<Raw> {
        let mut args = Vec::new();
        let mut partial = false;
        if self.id() != ")" {
            loop {
                if matches!(self.node.tok, Tok::Op("?")) {
                    partial = true;
                    args.push(Raw::new(RawKind::Placeholder, self.node.pos));
                    self.advance(Some("?"), false)?;
                } else {
                    args.push(self.expression(0)?);
                }
                if self.id() != "," {
                    break;
                }
                self.advance(Some(","), false)?;
            }
        }
        self.advance(Some(")"), true)?;
        if let RawKind::Name(name) = &left.kind {
            if name == "function" || name == "\u{3bb}" {
                return self.lambda(args, pos);
            }
            if self.syntax == Syntax::Fdl && !partial {
                if !crate::fdl::is_function(name) {
                    return Err(Failure::new("F0001")
                        .at(left.pos)
                        .token(name.clone())
                        .message(format!("Unknown function: {name}")));
                }
                return Ok(Raw::new(RawKind::FdlCall(name.clone(), args), pos));
            }
        }
        Ok(Raw::new(
            RawKind::Call {
                procedure: Box::new(left),
                args,
                partial,
            },
            pos,
        ))
    }

    fn lambda(&mut self, args: Vec<Raw>, pos: usize) -> Res<Raw> {
        let mut params = Vec::with_capacity(args.len());
        for (i, arg) in args.into_iter().enumerate() {
            match arg.kind {
                RawKind::Variable(v) => params.push(v),
                _ => {
                    return Err(Failure::new("S0208")
                        .at(arg.pos)
                        .token(arg.text())
                        .value((i + 1).to_string()));
                }
            }
        }
        let mut signature = None;
        if self.id() == "<" {
            let sig_pos = self.node.pos;
            let mut depth = 1;
            let mut sig = String::from("<");
            while depth > 0 && self.id() != "{" && self.id() != "(end)" {
                self.advance(None, false)?;
                match self.id() {
                    ">" => depth -= 1,
                    "<" => depth += 1,
                    _ => {}
                }
                sig.push_str(&token_text(&self.node.tok));
            }
            self.advance(Some(">"), false)?;
            signature = Some(Signature::parse(&sig).map_err(|e| e.or_at(sig_pos))?);
        }
        self.advance(Some("{"), false)?;
        let body = self.expression(0)?;
        self.advance(Some("}"), true)?;
        Ok(Raw::new(
            RawKind::Lambda {
                params,
                signature,
                body: Box::new(body),
            },
            pos,
        ))
    }
}

/// `step[]`: flags the innermost step of a chain of predicates.
fn mark_keep_array(node: &mut Raw) {
    match &mut node.kind {
        RawKind::Predicate(lhs, _) => mark_keep_array(lhs),
        _ => node.keep_array = true,
    }
}
