//! Blocking commands (BLPOP, BZPOPMIN, XREAD BLOCK, ...): how a handler asks to wait for
//! keys, and the registry of waiting clients fed by the change feed.

use bytes::Bytes;

use crate::client::Action;
use crate::context::Ctx;

/// What a blocked client receives when its timeout expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutReply {
    /// `*-1` in RESP2, `_` in RESP3 (BLPOP, BZPOPMIN, XREAD...).
    NullArray,
    /// `$-1` in RESP2, `_` in RESP3 (BLMOVE, BRPOPLPUSH).
    Null,
}

/// A handler's request to wait until one of `keys` may be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRequest {
    /// Keys of the client's current database to wait on.
    pub keys: Vec<Bytes>,
    /// Absolute deadline in ms since the epoch; None waits forever.
    pub deadline_ms: Option<u64>,
    pub on_timeout: TimeoutReply,
    /// The command to run again when a key is ready, if not the original one (XREAD
    /// resolves `$` to the last ID once, when it blocks).
    pub retry_args: Option<Vec<Bytes>>,
}

impl Ctx<'_> {
    /// Asks to block: the handler writes no reply; the client waits until a key is ready
    /// (and the command is run again) or the deadline passes.
    pub fn block(&mut self, req: BlockRequest) {
        self.client.action = Some(Action::Block(req));
    }
}
