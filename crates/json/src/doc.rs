//! `Document`: what a key holds — a root value — and location-based access for writes
//! (the path engine finds locations on a shared borrow; writes then walk to each).

use crate::parse::{self, ParseError};
use crate::path::Step;
use crate::value::{Object, Value};

/// A JSON document as stored under a key.
#[derive(Clone, Debug)]
pub struct Document {
    pub root: Value,
}

impl Default for Document {
    fn default() -> Self {
        Document { root: Value::Null }
    }
}

impl Document {
    pub fn new(root: Value) -> Document {
        Document { root }
    }

    pub fn parse(text: &str) -> Result<Document, ParseError> {
        parse::parse(text).map(Document::new)
    }

    /// Heap bytes owned by the document (MEMORY USAGE, JSON.DEBUG MEMORY).
    pub fn heap_size(&self) -> usize {
        self.root.heap_size()
    }

    /// The value at `path`, for writing; packed arrays on the way are unpacked.
    pub fn get_mut(&mut self, path: &[Step]) -> Option<&mut Value> {
        get_mut(&mut self.root, path)
    }

    /// Removes the value at `path` (not the root); whether something was removed.
    pub fn remove(&mut self, path: &[Step]) -> bool {
        let Some((last, parent)) = path.split_last() else {
            return false;
        };
        match (get_mut(&mut self.root, parent), last) {
            (Some(Value::Object(o)), Step::Key(k)) => o.remove(k).is_some(),
            (Some(Value::Array(a)), Step::Index(i)) => {
                let v = a.values_mut();
                if *i < v.len() {
                    v.remove(*i);
                    true
                } else {
                    false
                }
            }
            _ => false,
        }
    }
}

/// Walks `path` from `v`.
pub fn get_mut<'a>(mut v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    for step in path {
        v = match (v, step) {
            (Value::Object(o), Step::Key(k)) => o.get_mut(k)?,
            (Value::Array(a), Step::Index(i)) => a.values_mut().get_mut(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// RFC 7396 merge of `patch` into `target`.
pub fn merge(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(p) => {
            if !matches!(target, Value::Object(_)) {
                *target = Value::object(Object::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p.into_entries() {
                    if matches!(v, Value::Null) {
                        t.remove(&k);
                    } else if let Some(cur) = t.get_mut(&k) {
                        merge(cur, v);
                    } else {
                        let mut fresh = Value::Null;
                        merge(&mut fresh, v);
                        t.insert(&k, fresh);
                    }
                }
            }
        }
        other => *target = other,
    }
}
