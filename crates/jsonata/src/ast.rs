//! The processed syntax tree the evaluator walks.
//!
//! Location paths are flattened into [`Kind::Path`] steps; predicates on a step are `stages`,
//! predicates on any other expression are `predicate`. The annotation fields mirror the ones the
//! reference implementation attaches during its post-parse pass.

use crate::regex::RegexLit;
use crate::signature::Signature;

/// Index into [`crate::parser::Processed::slots`]: the binding for a `%` parent reference.
pub(crate) type SlotId = usize;

/// A node with its annotations.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub kind: Kind,
    /// Character offset (end of the token) in the source.
    pub pos: usize,
    /// `[]` applied: keep singleton sequences as arrays.
    pub keep_array: bool,
    /// Filters applied after evaluating a non-step expression.
    pub predicate: Vec<Node>,
    /// Filters and index bindings applied to a path step.
    pub stages: Vec<Stage>,
    /// Group-by object constructor applied to the result.
    pub group: Option<Box<Group>>,
    /// `@$var` focus binding on a step.
    pub focus: Option<String>,
    /// `#$var` index binding on a step.
    pub index: Option<String>,
    /// Label under which this step's input is bound for a `%` reference.
    pub ancestor: Option<SlotId>,
    /// Evaluated as a tuple stream.
    pub tuple: bool,
    /// Array constructor at the start or end of a path (not flattened).
    pub cons_array: bool,
    /// Parent slots still looking for their step (only used while building the tree).
    pub seeking_parent: Vec<SlotId>,
}

/// A stage on a path step.
#[derive(Clone, Debug)]
pub(crate) enum Stage {
    Filter(Node),
    Index(String),
}

/// A group-by (or object constructor) specification.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub pairs: Vec<(Node, Node)>,
    pub pos: usize,
}

/// One `^(...)` sort term.
#[derive(Clone, Debug)]
pub(crate) struct SortTerm {
    pub descending: bool,
    pub expr: Node,
}

/// A lambda definition.
#[derive(Clone, Debug)]
pub(crate) struct LambdaDef {
    pub params: Vec<String>,
    pub signature: Option<Signature>,
    pub body: Node,
}

/// Binary operators evaluated on both operand values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Concat,
    And,
    Or,
    In,
    Range,
}

impl BinOp {
    /// The operator as written (used in error messages).
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Eq => "=",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Concat => "&",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::In => "in",
            BinOp::Range => "..",
        }
    }

    /// Parses an operator token.
    pub fn from_symbol(s: &str) -> Option<BinOp> {
        Some(match s {
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            "%" => BinOp::Mod,
            "=" => BinOp::Eq,
            "!=" => BinOp::Ne,
            "<" => BinOp::Lt,
            "<=" => BinOp::Le,
            ">" => BinOp::Gt,
            ">=" => BinOp::Ge,
            "&" => BinOp::Concat,
            "and" => BinOp::And,
            "or" => BinOp::Or,
            "in" => BinOp::In,
            ".." => BinOp::Range,
            _ => return None,
        })
    }
}

/// Node kinds.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// A location path.
    Path {
        steps: Vec<Node>,
        keep_singleton_array: bool,
    },
    /// A field name.
    Name(String),
    /// `*`
    Wildcard,
    /// `**`
    Descendant,
    /// `%`
    Parent(SlotId),
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Regex(Box<RegexLit>),
    /// `$name`; the empty name is the context value `$`.
    Variable(String),
    Binary {
        op: BinOp,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
    /// Unary minus.
    Neg(Box<Node>),
    /// Unary `!` (FDL syntax).
    Not(Box<Node>),
    /// `[...]`
    ArrayCons(Vec<Node>),
    /// `{...}` without a left-hand side.
    ObjectCons(Group),
    /// A function call.
    Call {
        procedure: Box<Node>,
        args: Vec<Node>,
    },
    /// A partial application; `None` arguments are `?` placeholders.
    Partial {
        procedure: Box<Node>,
        args: Vec<Option<Node>>,
    },
    Lambda(Box<LambdaDef>),
    /// A call in tail position of a lambda body, evaluated by the trampoline.
    Thunk(Box<Node>),
    Condition {
        condition: Box<Node>,
        then: Box<Node>,
        otherwise: Option<Box<Node>>,
    },
    /// `a ?: b`
    Elvis(Box<Node>, Box<Node>),
    /// `a ?? b`
    Coalesce(Box<Node>, Box<Node>),
    Block(Vec<Node>),
    /// `$name := value`
    Bind {
        name: String,
        value: Box<Node>,
    },
    /// `lhs ~> rhs`
    Apply {
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
    /// An order-by step.
    Sort(Vec<SortTerm>),
    /// `| pattern | update, delete |`
    Transform {
        pattern: Box<Node>,
        update: Box<Node>,
        delete: Option<Box<Node>>,
    },
    /// A call of an FDL built-in by bare name, e.g. `format("{}", $Input.x)`.
    FdlCall {
        name: String,
        args: Vec<Node>,
    },
}

impl Node {
    /// A node with no annotations.
    pub fn new(kind: Kind, pos: usize) -> Node {
        Node {
            kind,
            pos,
            keep_array: false,
            predicate: Vec::new(),
            stages: Vec::new(),
            group: None,
            focus: None,
            index: None,
            ancestor: None,
            tuple: false,
            cons_array: false,
            seeking_parent: Vec::new(),
        }
    }

    /// The node type name used in `S0217` messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Path { .. } => "path",
            Kind::Name(_) => "name",
            Kind::Wildcard => "wildcard",
            Kind::Descendant => "descendant",
            Kind::Parent(_) => "parent",
            Kind::Str(_) => "string",
            Kind::Num(_) => "number",
            Kind::Bool(_) | Kind::Null => "value",
            Kind::Regex(_) => "regex",
            Kind::Variable(_) => "variable",
            Kind::Binary { .. } => "binary",
            Kind::Neg(_) | Kind::Not(_) | Kind::ArrayCons(_) | Kind::ObjectCons(_) => "unary",
            Kind::Call { .. } | Kind::FdlCall { .. } => "function",
            Kind::Partial { .. } => "partial",
            Kind::Lambda(_) | Kind::Thunk(_) => "lambda",
            Kind::Condition { .. } | Kind::Elvis(..) | Kind::Coalesce(..) => "condition",
            Kind::Block(_) => "block",
            Kind::Bind { .. } => "bind",
            Kind::Apply { .. } => "apply",
            Kind::Sort(_) => "sort",
            Kind::Transform { .. } => "transform",
        }
    }

    /// Whether this is a path.
    pub fn is_path(&self) -> bool {
        matches!(self.kind, Kind::Path { .. })
    }
}
