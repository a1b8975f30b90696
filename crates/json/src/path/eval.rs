//! Evaluation of a `JsonPath` against a document: every match in document order (for `..`,
//! a node's own matches before those of its descendants), each with its location.

use std::cmp::Ordering;

use super::parse::compile_regex;
use super::{CmpOp, Expr, JsonPath, Literal, Segment, Selector, Term};
use crate::value::{Kind, Node, Value};

/// One step of a concrete location: a member name or an array index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A match: the node and, when asked for, where it is.
#[derive(Clone, Debug)]
pub struct Match<'a> {
    pub node: Node<'a>,
    pub path: Vec<Step>,
}

/// Every node `path` selects in `root`; `track` records their locations.
pub fn select<'a>(root: &'a Value, path: &JsonPath, track: bool) -> Vec<Match<'a>> {
    let mut cx = Cx {
        root,
        track,
        out: Vec::new(),
        at: Vec::new(),
    };
    cx.apply(&path.segments, Node::Value(root));
    cx.out
}

struct Cx<'a> {
    root: &'a Value,
    track: bool,
    out: Vec<Match<'a>>,
    at: Vec<Step>,
}

impl<'a> Cx<'a> {
    fn apply(&mut self, segs: &[Segment], node: Node<'a>) {
        let Some((seg, rest)) = segs.split_first() else {
            let path = if self.track {
                self.at.clone()
            } else {
                Vec::new()
            };
            self.out.push(Match { node, path });
            return;
        };
        match seg {
            Segment::Child(sel) => self.children(sel, node, rest),
            Segment::Descend(sel) => {
                self.children(sel, node, rest);
                self.each_child(node, |cx, child| cx.apply(segs, child));
            }
        }
    }

    fn step(&mut self, step: impl FnOnce() -> Step, child: Node<'a>, rest: &[Segment]) {
        if self.track {
            self.at.push(step());
        }
        self.apply(rest, child);
        if self.track {
            self.at.pop();
        }
    }

    /// Calls `f` on every child of `node` (members or elements), with its step pushed.
    fn each_child(&mut self, node: Node<'a>, mut f: impl FnMut(&mut Self, Node<'a>)) {
        if let Some(a) = node.as_array() {
            for (i, c) in a.iter().enumerate() {
                if self.track {
                    self.at.push(Step::Index(i));
                }
                f(self, c);
                if self.track {
                    self.at.pop();
                }
            }
        } else if let Some(o) = node.as_object() {
            for (k, v) in o.iter() {
                if self.track {
                    self.at.push(Step::Key(k.to_string()));
                }
                f(self, Node::Value(v));
                if self.track {
                    self.at.pop();
                }
            }
        }
    }

    fn children(&mut self, sel: &Selector, node: Node<'a>, rest: &[Segment]) {
        match sel {
            Selector::Name(k) => {
                if let Some(v) = node.as_object().and_then(|o| o.get(k)) {
                    self.step(|| Step::Key(k.clone()), Node::Value(v), rest);
                }
            }
            Selector::Index(i) => {
                if let Some(a) = node.as_array() {
                    let len = a.len() as i64;
                    let i = if *i < 0 { len + i } else { *i };
                    if (0..len).contains(&i) {
                        if let Some(c) = a.get(i as usize) {
                            self.step(|| Step::Index(i as usize), c, rest);
                        }
                    }
                }
            }
            Selector::Wildcard => self.each_child(node, |cx, c| cx.apply(rest, c)),
            Selector::Slice(start, end, step) => {
                if let Some(a) = node.as_array() {
                    let len = a.len() as i64;
                    let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                    let s = start.map_or(0, norm);
                    let e = end.map_or(len, norm);
                    if *step > 0 {
                        let mut i = s;
                        while i < e {
                            if let Some(c) = a.get(i as usize) {
                                self.step(|| Step::Index(i as usize), c, rest);
                            }
                            i += step;
                        }
                    }
                }
            }
            Selector::Union(items) => {
                for item in items {
                    self.children(item, node, rest);
                }
            }
            Selector::Filter(expr) => {
                if let Some(a) = node.as_array() {
                    for (i, c) in a.iter().enumerate() {
                        if self.test(expr, c) {
                            self.step(|| Step::Index(i), c, rest);
                        }
                    }
                } else if let Some(o) = node.as_object() {
                    for (k, v) in o.iter() {
                        if self.test(expr, Node::Value(v)) {
                            self.step(|| Step::Key(k.to_string()), Node::Value(v), rest);
                        }
                    }
                }
            }
        }
    }

    fn test(&self, e: &Expr, at: Node<'a>) -> bool {
        match e {
            Expr::Or(a, b) => self.test(a, at) || self.test(b, at),
            Expr::And(a, b) => self.test(a, at) && self.test(b, at),
            Expr::Not(a) => !self.test(a, at),
            Expr::Exists(t) => match t {
                Term::Literal(l) => !matches!(l, Literal::Null | Literal::Bool(false)),
                _ => self.term(t, at).is_some(),
            },
            Expr::Cmp {
                left,
                op,
                right,
                regex,
            } => {
                let (Some(l), Some(r)) = (self.term(left, at), self.term(right, at)) else {
                    return false;
                };
                if *op == CmpOp::Match {
                    let Some(text) = l.as_str() else { return false };
                    return match regex {
                        Some(re) => re.is_match(text),
                        None => r
                            .as_str()
                            .and_then(compile_regex)
                            .is_some_and(|re| re.is_match(text)),
                    };
                }
                compare(l, *op, r)
            }
        }
    }

    /// The value of a term: the first match of a path, or a literal.
    fn term(&self, t: &Term, at: Node<'a>) -> Option<Operand<'a>> {
        let (segs, from) = match t {
            Term::Literal(l) => return Some(Operand::Lit(l.clone())),
            Term::Relative(segs) => (segs, at),
            Term::Absolute(segs) => (segs, Node::Value(self.root)),
        };
        let mut sub = Cx {
            root: self.root,
            track: false,
            out: Vec::new(),
            at: Vec::new(),
        };
        sub.apply(segs, from);
        sub.out.into_iter().next().map(|m| Operand::Node(m.node))
    }
}

/// A side of a comparison.
enum Operand<'a> {
    Node(Node<'a>),
    Lit(Literal),
}

impl Operand<'_> {
    fn kind(&self) -> Kind {
        match self {
            Operand::Node(n) => n.kind(),
            Operand::Lit(l) => match l {
                Literal::Null => Kind::Null,
                Literal::Bool(_) => Kind::Boolean,
                Literal::Int(_) => Kind::Integer,
                Literal::Float(_) => Kind::Number,
                Literal::Str(_) => Kind::String,
            },
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Operand::Node(n) => n.as_str(),
            Operand::Lit(Literal::Str(s)) => Some(s),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Operand::Node(n) => n.as_f64(),
            Operand::Lit(Literal::Int(i)) => Some(*i as f64),
            Operand::Lit(Literal::Float(f)) => Some(*f),
            _ => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match self {
            Operand::Node(n) => n.as_i64(),
            Operand::Lit(Literal::Int(i)) => Some(*i),
            _ => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            Operand::Node(n) => n.as_bool(),
            Operand::Lit(Literal::Bool(b)) => Some(*b),
            _ => None,
        }
    }
}

fn is_number(k: Kind) -> bool {
    matches!(k, Kind::Integer | Kind::Number)
}

/// Compares two operands: numbers by value, strings by bytes, booleans and nulls for
/// (in)equality, arrays and objects by contents; values of different types are unequal.
fn compare(l: Operand<'_>, op: CmpOp, r: Operand<'_>) -> bool {
    let (lk, rk) = (l.kind(), r.kind());
    let ord: Option<Ordering> = if is_number(lk) && is_number(rk) {
        match (l.as_i64(), r.as_i64()) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => l
                .as_f64()
                .zip(r.as_f64())
                .and_then(|(a, b)| a.partial_cmp(&b)),
        }
    } else if lk == Kind::String && rk == Kind::String {
        l.as_str().zip(r.as_str()).map(|(a, b)| a.cmp(b))
    } else {
        None
    };
    match ord {
        Some(o) => match op {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
            CmpOp::Match => false,
        },
        None => {
            let eq = match (lk, rk) {
                (Kind::Null, Kind::Null) => true,
                (Kind::Boolean, Kind::Boolean) => l.as_bool() == r.as_bool(),
                (Kind::Array, Kind::Array) | (Kind::Object, Kind::Object) => match (&l, &r) {
                    (Operand::Node(a), Operand::Node(b)) => a.json_eq(*b),
                    _ => false,
                },
                _ => false,
            };
            match op {
                CmpOp::Eq => eq,
                CmpOp::Ne => !eq,
                _ => false,
            }
        }
    }
}
