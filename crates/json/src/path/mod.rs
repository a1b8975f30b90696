//! JSONPath: the parsed form of a path (`JsonPath`), its parser (`parse`) and its
//! evaluation (`select`), which returns every match in document order with, on request, the
//! concrete location of each (so writes can find them again).

mod eval;
mod parse;

pub use eval::{select, Match, Step};
pub use parse::{normalize, parse, PathError, MAX_NESTING};

use regex::Regex;

/// A compiled `$` path: the segments after `$`.
#[derive(Clone, Debug)]
pub struct JsonPath {
    pub segments: Vec<Segment>,
}

impl JsonPath {
    /// Whether the path names exactly one location: only member names and indexes.
    pub fn is_static(&self) -> bool {
        self.segments.iter().all(|s| {
            matches!(
                s,
                Segment::Child(Selector::Name(_)) | Segment::Child(Selector::Index(_))
            )
        })
    }

    /// Whether this is `$` itself.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }
}

#[derive(Clone, Debug)]
pub enum Segment {
    /// `.sel` or `[sel]`: the selected children.
    Child(Selector),
    /// `..sel`: the selected children of the node and of every descendant.
    Descend(Selector),
}

#[derive(Clone, Debug)]
pub enum Selector {
    Name(String),
    Index(i64),
    Wildcard,
    /// `[start:end:step]`.
    Slice(Option<i64>, Option<i64>, i64),
    /// `[a, b, ...]`: names, indexes and slices, in order.
    Union(Vec<Selector>),
    /// `[?(expr)]`: the elements (or member values) for which `expr` holds.
    Filter(Box<Expr>),
}

#[derive(Clone, Debug)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// A lone term: true when a path matches something (or a literal is truthy).
    Exists(Term),
    Cmp {
        left: Term,
        op: CmpOp,
        right: Term,
        /// The pattern of `=~ "literal"`, compiled once.
        regex: Option<Box<Regex>>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Match,
}

#[derive(Clone, Debug)]
pub enum Term {
    /// `@...`: relative to the element being filtered.
    Relative(Vec<Segment>),
    /// `$...`: from the document root.
    Absolute(Vec<Segment>),
    Literal(Literal),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}
