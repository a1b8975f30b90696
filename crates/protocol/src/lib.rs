//! RESP codec for Cinnabar: request decoding, reply encoding and RESP values; no I/O.
//!
//! # Layout
//!
//! - [`request`]: the server-side [`RequestDecoder`], which turns the bytes a client sends
//!   (multibulk `*N` or inline commands) into argument vectors, with Redis 7.4's exact
//!   limits and error texts ([`ProtocolError`]).
//! - [`reply`]: [`ReplyWriter`], which appends RESP2 or RESP3 replies to a `BytesMut`, and
//!   [`format_double_reply`], Redis's text for a double reply.
//! - [`frame`]: [`Frame`], any RESP2/RESP3 value, with [`parse_frame`] and
//!   [`Frame::encode`] for the client side (tests, scripting, replication).
//! - `int`: Redis's strict `string2ll` integer parsing, shared by the decoders.
//!
//! Nothing here reads or writes sockets, knows commands, or touches the keyspace.

pub mod frame;
mod int;
pub mod reply;
pub mod request;

pub use frame::{parse_frame, Frame, FrameError, MAX_DEPTH};
pub use reply::{format_double_reply, Protocol, ReplyWriter, DOUBLE_TEXT_MAX};
pub use request::{
    split_args, ProtocolError, RequestDecoder, RequestLimits, DEFAULT_MAX_BULK_LEN,
    DEFAULT_MAX_INLINE_LEN,
};
