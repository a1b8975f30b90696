//! JSON documents for Cinnabar's built-in RedisJSON-compatible type.
//!
//! # Layout
//! - [`value`]: the compact document model (`Value` is 16 bytes; short strings inline,
//!   numbers unboxed, arrays of numbers packed, object keys in one buffer) and `Node`.
//! - [`parse`]: the strict parser, serde_json's error texts, a nesting limit of 128.
//! - [`ser`]: the serializer (compact, or INDENT / NEWLINE / SPACE).
//! - [`path`]: JSONPath — parser, legacy-path rewrite and evaluation.
//! - [`doc`]: `Document`, location-based writes and RFC 7396 merge.
//!
//! # Invariants
//! - Knows nothing about keys, RESP or clients; errors are typed.
//! - No input makes it recurse without bound: parsing stops at 128 levels, paths at 64.

pub mod doc;
pub mod parse;
pub mod path;
pub mod ser;
pub mod text;
pub mod value;

pub use doc::Document;
pub use parse::{parse, ParseError, ParseErrorKind, MAX_DEPTH};
pub use value::{Array, Kind, Node, Object, Value};
