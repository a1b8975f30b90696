//! JSON documents for Cinnabar's built-in RedisJSON-compatible type.
//!
//! # Layout
//! - [`value`]: the compact document model (`Value` is 16 bytes; short strings inline,
//!   numbers unboxed, arrays of numbers packed, an object one allocation of its values
//!   behind its key list) and `Node`.
//! - [`shape`]: object key lists, interned process-wide (objects with the same keys share one).
//! - [`mem`]: jemalloc size classes, so memory accounting counts what is really allocated.
//! - [`parse`]: the strict parser, serde_json's error texts, a nesting limit of 128.
//! - [`ser`]: the serializer (compact, or INDENT / NEWLINE / SPACE).
//! - [`path`]: JSONPath — parser, legacy-path rewrite and evaluation.
//! - [`doc`]: `Document`, location-based writes and RFC 7396 merge.
//!
//! # Invariants
//! - Knows nothing about keys, RESP or clients; errors are typed.
//! - No input makes it recurse without bound: parsing stops at 128 levels, paths at 64.

pub mod doc;
pub mod mem;
pub mod parse;
pub mod path;
pub mod ser;
pub mod shape;
pub mod text;
pub mod value;

pub use doc::Document;
pub use parse::{parse, ParseError, ParseErrorKind, MAX_DEPTH};
pub use value::{Array, Kind, Node, Object, ObjectBuilder, Value};
