//! The document model: `Value` (16 bytes), arrays that pack numbers, objects that are one
//! allocation (a pointer to their interned key list, then their values, in insertion order),
//! and `Node`, a read-only view of one value wherever it lives (packed array elements are
//! not `Value`s).

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use crate::mem::size_class;
use crate::shape::Shape;
use crate::text::{HeapStr, INLINE_CAP};

/// One JSON value. Strings of up to 14 bytes and all scalars need no allocation.
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    /// An integer (no fraction, no exponent) that fits an i64.
    Int(i64),
    /// An integer above i64::MAX that fits a u64.
    UInt(u64),
    /// Any other number: parsed with a fraction or exponent, or too large for a u64.
    Float(f64),
    Small {
        len: u8,
        data: [u8; INLINE_CAP],
    },
    Str(HeapStr),
    Array(Box<Array>),
    Object(Object),
}

/// RedisJSON's type names (JSON.TYPE, and the "expected ... but found ..." errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Boolean => "boolean",
            Kind::Integer => "integer",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }
}

impl Value {
    pub fn string(s: &str) -> Value {
        if s.len() <= INLINE_CAP {
            let mut data = [0u8; INLINE_CAP];
            data[..s.len()].copy_from_slice(s.as_bytes());
            Value::Small {
                len: s.len() as u8,
                data,
            }
        } else {
            Value::Str(HeapStr::new(s))
        }
    }

    pub fn array(values: Vec<Value>) -> Value {
        Value::Array(Box::new(Array::from_values(values)))
    }

    pub fn object(obj: Object) -> Value {
        Value::Object(obj)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            // Inline bytes were copied whole from a `&str`.
            Value::Small { len, data } => std::str::from_utf8(&data[..*len as usize]).ok(),
            Value::Str(h) => Some(h.as_str()),
            _ => None,
        }
    }

    pub fn node(&self) -> Node<'_> {
        Node::Value(self)
    }

    pub fn kind(&self) -> Kind {
        self.node().kind()
    }

    /// Heap bytes owned by this value and everything below it.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(h) => size_class(HeapStr::HEADER + h.as_str().len()),
            Value::Array(a) => size_class(std::mem::size_of::<Array>()) + a.heap_size(),
            Value::Object(o) => o.heap_size(),
            _ => 0,
        }
    }

    /// Nesting depth: 0 for a scalar, 1 for a container of scalars, and so on.
    pub fn depth(&self) -> usize {
        match self {
            Value::Array(a) => match &**a {
                Array::Values(v) => 1 + v.iter().map(Value::depth).max().unwrap_or(0),
                _ => 1,
            },
            Value::Object(o) => 1 + o.values().iter().map(Value::depth).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// A read-only view of one value: a `Value` in the tree or an element of a packed array.
#[derive(Clone, Copy, Debug)]
pub enum Node<'a> {
    Value(&'a Value),
    Int(i64),
    Float(f64),
}

impl<'a> Node<'a> {
    pub fn kind(self) -> Kind {
        match self {
            Node::Int(_) => Kind::Integer,
            Node::Float(_) => Kind::Number,
            Node::Value(v) => match v {
                Value::Null => Kind::Null,
                Value::Bool(_) => Kind::Boolean,
                Value::Int(_) | Value::UInt(_) => Kind::Integer,
                Value::Float(_) => Kind::Number,
                Value::Small { .. } | Value::Str(_) => Kind::String,
                Value::Array(_) => Kind::Array,
                Value::Object(_) => Kind::Object,
            },
        }
    }

    pub fn as_str(self) -> Option<&'a str> {
        match self {
            Node::Value(v) => v.as_str(),
            _ => None,
        }
    }

    pub fn as_bool(self) -> Option<bool> {
        match self {
            Node::Value(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// The number as an f64 (integers converted).
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Node::Int(i) | Node::Value(&Value::Int(i)) => Some(i as f64),
            Node::Value(Value::UInt(u)) => Some(*u as f64),
            Node::Float(f) | Node::Value(&Value::Float(f)) => Some(f),
            _ => None,
        }
    }

    /// The number as an i64 when it is an integer that fits.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Node::Int(i) | Node::Value(&Value::Int(i)) => Some(i),
            _ => None,
        }
    }

    pub fn as_array(self) -> Option<&'a Array> {
        match self {
            Node::Value(Value::Array(a)) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(self) -> Option<&'a Object> {
        match self {
            Node::Value(Value::Object(o)) => Some(o),
            _ => None,
        }
    }

    /// Number of elements or members; None for scalars.
    pub fn container_len(self) -> Option<usize> {
        match self {
            Node::Value(Value::Array(a)) => Some(a.len()),
            Node::Value(Value::Object(o)) => Some(o.len()),
            _ => None,
        }
    }

    pub fn to_value(self) -> Value {
        match self {
            Node::Value(v) => v.clone(),
            Node::Int(i) => Value::Int(i),
            Node::Float(f) => Value::Float(f),
        }
    }

    /// RedisJSON's equality (ARRINDEX, filters): same type and same contents; an integer
    /// never equals a float.
    pub fn json_eq(self, other: Node<'_>) -> bool {
        match (self.kind(), other.kind()) {
            (Kind::Null, Kind::Null) => true,
            (Kind::Boolean, Kind::Boolean) => self.as_bool() == other.as_bool(),
            (Kind::Integer, Kind::Integer) => match (self, other) {
                (Node::Value(Value::UInt(a)), Node::Value(Value::UInt(b))) => a == b,
                _ => self.as_i64().is_some() && self.as_i64() == other.as_i64(),
            },
            (Kind::Number, Kind::Number) => self.as_f64() == other.as_f64(),
            (Kind::String, Kind::String) => self.as_str() == other.as_str(),
            (Kind::Array, Kind::Array) => match (self.as_array(), other.as_array()) {
                (Some(a), Some(b)) => {
                    a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.json_eq(y))
                }
                _ => false,
            },
            (Kind::Object, Kind::Object) => match (self.as_object(), other.as_object()) {
                (Some(a), Some(b)) => {
                    a.len() == b.len()
                        && a.iter()
                            .all(|(k, v)| b.get(k).is_some_and(|w| v.node().json_eq(w.node())))
                }
                _ => false,
            },
            _ => false,
        }
    }
}

// ----- arrays --------------------------------------------------------------------------------

/// An array: general values, or numbers packed in the narrowest type that holds them all.
#[derive(Clone, Debug)]
pub enum Array {
    Values(Vec<Value>),
    I8(Box<[i8]>),
    I16(Box<[i16]>),
    I32(Box<[i32]>),
    I64(Box<[i64]>),
    F64(Box<[f64]>),
}

impl Array {
    /// Packs `values` when they are at least two numbers of one kind (all integers, or all
    /// floats); keeps them as values otherwise.
    pub fn from_values(mut values: Vec<Value>) -> Array {
        if values.len() >= 2 {
            if values.iter().all(|v| matches!(v, Value::Int(_))) {
                let ints = values.iter().map(|v| match v {
                    Value::Int(i) => *i,
                    _ => 0,
                });
                let (lo, hi) = ints
                    .clone()
                    .fold((i64::MAX, i64::MIN), |(l, h), i| (l.min(i), h.max(i)));
                return if lo >= i8::MIN as i64 && hi <= i8::MAX as i64 {
                    Array::I8(ints.map(|i| i as i8).collect())
                } else if lo >= i16::MIN as i64 && hi <= i16::MAX as i64 {
                    Array::I16(ints.map(|i| i as i16).collect())
                } else if lo >= i32::MIN as i64 && hi <= i32::MAX as i64 {
                    Array::I32(ints.map(|i| i as i32).collect())
                } else {
                    Array::I64(ints.collect())
                };
            }
            if values.iter().all(|v| matches!(v, Value::Float(_))) {
                return Array::F64(
                    values
                        .iter()
                        .map(|v| match v {
                            Value::Float(f) => *f,
                            _ => 0.0,
                        })
                        .collect(),
                );
            }
        }
        values.shrink_to_fit();
        Array::Values(values)
    }

    pub fn len(&self) -> usize {
        match self {
            Array::Values(v) => v.len(),
            Array::I8(v) => v.len(),
            Array::I16(v) => v.len(),
            Array::I32(v) => v.len(),
            Array::I64(v) => v.len(),
            Array::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> Option<Node<'_>> {
        match self {
            Array::Values(v) => v.get(i).map(Node::Value),
            Array::I8(v) => v.get(i).map(|&x| Node::Int(x as i64)),
            Array::I16(v) => v.get(i).map(|&x| Node::Int(x as i64)),
            Array::I32(v) => v.get(i).map(|&x| Node::Int(x as i64)),
            Array::I64(v) => v.get(i).map(|&x| Node::Int(x)),
            Array::F64(v) => v.get(i).map(|&x| Node::Float(x)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Node<'_>> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }

    /// The elements as values, unpacking a packed array first (every mutation goes here).
    pub fn values_mut(&mut self) -> &mut Vec<Value> {
        if !matches!(self, Array::Values(_)) {
            let values: Vec<Value> = self.iter().map(Node::to_value).collect();
            *self = Array::Values(values);
        }
        match self {
            Array::Values(v) => v,
            // Just converted above.
            _ => unreachable!("array unpacked above"),
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            Array::Values(v) => {
                size_class(v.capacity() * std::mem::size_of::<Value>())
                    + v.iter().map(Value::heap_size).sum::<usize>()
            }
            Array::I8(v) => size_class(v.len()),
            Array::I16(v) => size_class(v.len() * 2),
            Array::I32(v) => size_class(v.len() * 4),
            Array::I64(v) => size_class(v.len() * 8),
            Array::F64(v) => size_class(v.len() * 8),
        }
    }
}

// ----- objects -------------------------------------------------------------------------------

/// An object: one allocation holding a pointer to its interned key list ([`Shape`]) and then
/// its values, both in insertion order. One pointer wide; an empty object allocates nothing.
#[derive(Default)]
pub struct Object {
    ptr: Option<NonNull<Shape>>,
}

// SAFETY: an Object owns its allocation exclusively; Shape and Value are Send + Sync.
unsafe impl Send for Object {}
// SAFETY: as above; shared access is read-only.
unsafe impl Sync for Object {}

/// Offset of the values in an object's allocation.
const VALUES_AT: usize = std::mem::size_of::<Shape>();

fn put_varint(buf: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

/// Reads the key at `at`: its text and the offset of the next key.
fn key_at(buf: &[u8], at: usize) -> (&str, usize) {
    let (mut n, mut shift, mut i) = (0usize, 0u32, at);
    while let Some(&b) = buf.get(i) {
        i += 1;
        n |= ((b & 0x7f) as usize).checked_shl(shift).unwrap_or(0);
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    let end = i.saturating_add(n).min(buf.len());
    // Keys are copied whole from `&str`s.
    (std::str::from_utf8(&buf[i..end]).unwrap_or(""), end)
}

/// Position of `key` in a key buffer and the byte range of its entry.
fn find_key(buf: &[u8], key: &str) -> Option<(usize, usize, usize)> {
    let mut at = 0;
    let mut i = 0;
    while at < buf.len() {
        let (k, next) = key_at(buf, at);
        if k == key {
            return Some((i, at, next));
        }
        at = next;
        i += 1;
    }
    None
}

/// Iterator over the keys of an object.
pub struct Keys<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Keys<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.at >= self.buf.len() {
            return None;
        }
        let (k, next) = key_at(self.buf, self.at);
        self.at = next;
        Some(k)
    }
}

fn object_layout(n: usize) -> Layout {
    // n values already exist in memory, so this size cannot overflow isize.
    Layout::from_size_align(
        VALUES_AT + n * std::mem::size_of::<Value>(),
        std::mem::align_of::<Value>().max(std::mem::align_of::<Shape>()),
    )
    .unwrap_or_else(|_| Layout::new::<Shape>())
}

/// Builds an object member by member (the parser), then interns its key list once.
#[derive(Default)]
pub struct ObjectBuilder {
    keys: Vec<u8>,
    values: Vec<Value>,
    /// Past a few members, duplicates are found through a map instead of a scan.
    index: Option<std::collections::HashMap<String, usize>>,
}

impl ObjectBuilder {
    pub fn new() -> ObjectBuilder {
        ObjectBuilder::default()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Sets `key`: a repeated key replaces the earlier value in place (serde_json's rule).
    pub fn insert(&mut self, key: &str, value: Value) {
        let found = if self.values.len() < 16 {
            find_key(&self.keys, key).map(|(i, _, _)| i)
        } else {
            let (keys, values) = (&self.keys, &self.values);
            let idx = self.index.get_or_insert_with(|| {
                Keys { buf: keys, at: 0 }
                    .enumerate()
                    .map(|(i, k)| (k.to_string(), i))
                    .collect()
            });
            let found = idx.get(key).copied();
            if found.is_none() {
                idx.insert(key.to_string(), values.len());
            }
            found
        };
        match found {
            Some(i) => self.values[i] = value,
            None => {
                put_varint(&mut self.keys, key.len());
                self.keys.extend_from_slice(key.as_bytes());
                self.values.push(value);
            }
        }
    }

    pub fn finish(self) -> Object {
        Object::from_parts(&self.keys, self.values)
    }
}

impl Object {
    pub fn new() -> Object {
        Object::default()
    }

    /// An object of `values` under the keys in `keys` (key-buffer form, no duplicates).
    fn from_parts(keys: &[u8], values: Vec<Value>) -> Object {
        if values.is_empty() {
            return Object::new();
        }
        let shape = Shape::intern(keys, values.len());
        let layout = object_layout(values.len());
        // SAFETY: the layout is non-zero in size and aligned for Shape and Value; the shape
        // goes first and the values after it, each written once; the Vec's elements are moved
        // out (its length set to 0 before it is dropped, so none is dropped twice).
        unsafe {
            let p = alloc::alloc(layout);
            let Some(p) = NonNull::new(p.cast::<Shape>()) else {
                alloc::handle_alloc_error(layout)
            };
            p.as_ptr().write(shape);
            let mut values = values;
            std::ptr::copy_nonoverlapping(values.as_ptr(), Self::values_ptr(p), values.len());
            values.set_len(0);
            Object { ptr: Some(p) }
        }
    }

    fn values_ptr(p: NonNull<Shape>) -> *mut Value {
        // SAFETY (of callers' use): the values start VALUES_AT bytes into the allocation.
        p.as_ptr()
            .cast::<u8>()
            .wrapping_add(VALUES_AT)
            .cast::<Value>()
    }

    fn shape(&self) -> Option<&Shape> {
        // SAFETY: a live allocation starts with its Shape.
        self.ptr.map(|p| unsafe { &*p.as_ptr() })
    }

    fn key_bytes(&self) -> &[u8] {
        self.shape().map_or(&[], Shape::bytes)
    }

    pub fn len(&self) -> usize {
        self.shape().map_or(0, Shape::len)
    }

    pub fn is_empty(&self) -> bool {
        self.ptr.is_none()
    }

    pub fn keys(&self) -> Keys<'_> {
        Keys {
            buf: self.key_bytes(),
            at: 0,
        }
    }

    pub fn values(&self) -> &[Value] {
        match self.ptr {
            // SAFETY: the allocation holds len() initialised values after the shape.
            Some(p) => unsafe { std::slice::from_raw_parts(Self::values_ptr(p), self.len()) },
            None => &[],
        }
    }

    fn values_slice_mut(&mut self) -> &mut [Value] {
        let n = self.len();
        match self.ptr {
            // SAFETY: as in `values`, and `&mut self` makes the access exclusive.
            Some(p) => unsafe { std::slice::from_raw_parts_mut(Self::values_ptr(p), n) },
            None => &mut [],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> + '_ {
        self.keys().zip(self.values().iter())
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Value> + '_ {
        self.values_slice_mut().iter_mut()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        find_key(self.key_bytes(), key).and_then(|(i, _, _)| self.values().get(i))
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let (i, _, _) = find_key(self.key_bytes(), key)?;
        self.values_slice_mut().get_mut(i)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        find_key(self.key_bytes(), key).is_some()
    }

    /// Moves the members out: the key buffer and the values; leaves the object empty.
    fn take_parts(&mut self) -> (Vec<u8>, Vec<Value>) {
        self.take_shape_and_values()
            .map(|(shape, values)| (shape.bytes().to_vec(), values))
            .unwrap_or_default()
    }

    /// Sets `key`: replaces the value in place when present, appends otherwise.
    pub fn insert(&mut self, key: &str, value: Value) {
        match self.get_mut(key) {
            Some(v) => *v = value,
            None => self.push(key, value),
        }
    }

    /// Appends `key` without looking for it first (the caller knows it is new).
    pub fn push(&mut self, key: &str, value: Value) {
        let (mut keys, mut values) = self.take_parts();
        put_varint(&mut keys, key.len());
        keys.extend_from_slice(key.as_bytes());
        values.push(value);
        *self = Object::from_parts(&keys, values);
    }

    /// Replaces the value of the `i`-th member.
    pub fn set_at(&mut self, i: usize, value: Value) {
        if let Some(v) = self.values_slice_mut().get_mut(i) {
            *v = value;
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let (i, start, end) = find_key(self.key_bytes(), key)?;
        let (mut keys, mut values) = self.take_parts();
        keys.drain(start..end);
        let v = values.remove(i);
        *self = Object::from_parts(&keys, values);
        Some(v)
    }

    pub fn clear(&mut self) {
        *self = Object::new();
    }

    /// Kept for callers that trimmed spare capacity: an object never has any.
    pub fn shrink(&mut self) {}

    /// The entries, moved out.
    pub fn into_entries(mut self) -> Vec<(String, Value)> {
        let (keys, values) = self.take_parts();
        let names: Vec<String> = Keys { buf: &keys, at: 0 }.map(str::to_string).collect();
        names.into_iter().zip(values).collect()
    }

    pub fn heap_size(&self) -> usize {
        match self.shape() {
            Some(s) => {
                size_class(object_layout(s.len()).size())
                    + s.heap_share()
                    + self.values().iter().map(Value::heap_size).sum::<usize>()
            }
            None => 0,
        }
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        // Values and shape are dropped by the Vec and the Shape taken out.
        drop(self.take_shape_and_values());
    }
}

impl Object {
    /// Detaches the allocation: its shape and its values, moved out; leaves the object empty.
    fn take_shape_and_values(&mut self) -> Option<(Shape, Vec<Value>)> {
        let p = self.ptr.take()?;
        // SAFETY: `p` was the live allocation (now detached from self): read the shape and
        // every value out exactly once, then free the memory without dropping anything.
        unsafe {
            let shape = p.as_ptr().read();
            let n = shape.len();
            let mut values = Vec::with_capacity(n);
            std::ptr::copy_nonoverlapping(Self::values_ptr(p), values.as_mut_ptr(), n);
            values.set_len(n);
            alloc::dealloc(p.as_ptr().cast::<u8>(), object_layout(n));
            Some((shape, values))
        }
    }
}

impl Clone for Object {
    fn clone(&self) -> Object {
        let Some(s) = self.shape() else {
            return Object::new();
        };
        let n = s.len();
        let layout = object_layout(n);
        // SAFETY: as in `from_parts`: shape first, then n values written once each. A panic
        // in a value's clone would leak the block, never free it half-written.
        unsafe {
            let p = alloc::alloc(layout);
            let Some(p) = NonNull::new(p.cast::<Shape>()) else {
                alloc::handle_alloc_error(layout)
            };
            let dst = Self::values_ptr(p);
            for (i, v) in self.values().iter().enumerate() {
                dst.add(i).write(v.clone());
            }
            p.as_ptr().write(s.clone());
            Object { ptr: Some(p) }
        }
    }
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
    }

    #[test]
    fn objects_keep_insertion_order_and_replace_in_place() {
        let mut o = Object::new();
        o.insert("b", Value::Int(1));
        o.insert(&"k".repeat(200), Value::Int(2));
        o.insert("a", Value::Int(3));
        o.insert("b", Value::Int(4));
        let keys: Vec<&str> = o.keys().collect();
        assert_eq!(keys, vec!["b", &"k".repeat(200)[..], "a"]);
        assert!(matches!(o.get("b"), Some(Value::Int(4))));
        assert!(o.remove(&"k".repeat(200)).is_some());
        assert_eq!(o.keys().collect::<Vec<_>>(), vec!["b", "a"]);
        assert!(matches!(o.get("a"), Some(Value::Int(3))));
        assert!(o.remove("zz").is_none());
    }

    #[test]
    fn arrays_pack_numbers_and_unpack_on_write() {
        let mut a = Array::from_values(vec![Value::Int(1), Value::Int(-300)]);
        assert!(matches!(a, Array::I16(_)));
        assert_eq!(a.get(1).and_then(Node::as_i64), Some(-300));
        a.values_mut().push(Value::Null);
        assert!(matches!(a, Array::Values(_)));
        assert_eq!(a.len(), 3);
        let f = Array::from_values(vec![Value::Float(1.5), Value::Float(2.0)]);
        assert!(matches!(f, Array::F64(_)));
        let mixed = Array::from_values(vec![Value::Int(1), Value::Float(2.0)]);
        assert!(matches!(mixed, Array::Values(_)));
    }
}
