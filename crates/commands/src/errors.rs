//! Every protocol-visible error text, matching Redis byte for byte, and `CmdError`, the
//! error a handler returns.

use std::borrow::Cow;
use std::fmt;

/// An error reply. The text is complete (`ERR ...`, `WRONGTYPE ...`); its first word is the
/// error code INFO errorstats counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, str>);

impl CmdError {
    pub const fn new(text: &'static str) -> Self {
        CmdError(Cow::Borrowed(text))
    }

    /// An `ERR`-prefixed error with a formatted message.
    pub fn err(msg: impl fmt::Display) -> Self {
        CmdError(Cow::Owned(format!("ERR {msg}")))
    }

    pub fn text(&self) -> &str {
        &self.0
    }

    /// The error code: the first word of the text.
    pub fn code(&self) -> &str {
        self.0.split(' ').next().unwrap_or("ERR")
    }
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type CmdResult = Result<(), CmdError>;

pub const WRONGTYPE: CmdError =
    CmdError::new("WRONGTYPE Operation against a key holding the wrong kind of value");
pub const NOT_INTEGER: CmdError = CmdError::new("ERR value is not an integer or out of range");
pub const NOT_FLOAT: CmdError = CmdError::new("ERR value is not a valid float");
pub const SYNTAX: CmdError = CmdError::new("ERR syntax error");
pub const OVERFLOW: CmdError = CmdError::new("ERR increment or decrement would overflow");
pub const NAN_OR_INF: CmdError = CmdError::new("ERR increment would produce NaN or Infinity");
pub const NO_SUCH_KEY: CmdError = CmdError::new("ERR no such key");
pub const DB_INDEX: CmdError = CmdError::new("ERR DB index is out of range");
pub const NOAUTH: CmdError = CmdError::new("NOAUTH Authentication required.");
pub const WRONGPASS: CmdError =
    CmdError::new("WRONGPASS invalid username-password pair or user is disabled.");
pub const AUTH_NOT_CONFIGURED: CmdError = CmdError::new(
    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
);
pub const MAX_CLIENTS: CmdError = CmdError::new("ERR max number of clients reached");
pub const STRING_TOO_LONG: CmdError =
    CmdError::new("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
pub const OFFSET_RANGE: CmdError = CmdError::new("ERR offset is out of range");
pub const SAME_OBJECT: CmdError = CmdError::new("ERR source and destination objects are the same");
pub const POSITIVE: CmdError = CmdError::new("ERR value is out of range, must be positive");
pub const TIMEOUT_NOT_INTEGER: CmdError =
    CmdError::new("ERR timeout is not an integer or out of range");
pub const NO_PROTO: CmdError = CmdError::new("NOPROTO unsupported protocol version");
pub const LOADING: CmdError = CmdError::new("LOADING Redis is loading the dataset in memory");

pub fn wrong_arity(name: &str) -> CmdError {
    CmdError::err(format_args!(
        "wrong number of arguments for '{name}' command"
    ))
}

pub fn invalid_expire(cmd: &str) -> CmdError {
    CmdError::err(format_args!("invalid expire time in '{cmd}' command"))
}

pub fn unknown_subcommand(sub: &[u8], container: &str) -> CmdError {
    let sub = String::from_utf8_lossy(&sub[..sub.len().min(128)]).into_owned();
    CmdError::err(format_args!(
        "unknown subcommand '{sub}'. Try {} HELP.",
        container.to_ascii_uppercase()
    ))
}

/// Redis's reply to an unknown command: the name and the first arguments, 128 bytes at most.
pub fn unknown_command(args: &[bytes::Bytes]) -> CmdError {
    let name = String::from_utf8_lossy(&args[0][..args[0].len().min(128)]).into_owned();
    let mut list = String::new();
    for a in &args[1..] {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        let a = String::from_utf8_lossy(&a[..a.len().min(room)]).into_owned();
        list.push('\'');
        list.push_str(&a);
        list.push_str("' ");
    }
    CmdError::err(format_args!(
        "unknown command '{name}', with args beginning with: {list}"
    ))
}

// Generic key commands (family/keys.rs).
pub const INVALID_CURSOR: CmdError = CmdError::new("ERR invalid cursor");
pub const EXPIRE_NX_AND_OTHERS: CmdError =
    CmdError::new("ERR NX and XX, GT or LT options at the same time are not compatible");
pub const EXPIRE_GT_AND_LT: CmdError =
    CmdError::new("ERR GT and LT options at the same time are not compatible");
/// `getIntFromObjectOrReply` on an integer outside the range of a C int.
pub const NOT_INT32: CmdError =
    CmdError::new("ERR value is out of range, value must between -2147483648 and 2147483647");
pub const INVALID_FIRST_DB: CmdError = CmdError::new("ERR invalid first DB index");
pub const INVALID_SECOND_DB: CmdError = CmdError::new("ERR invalid second DB index");
pub const LFU_NOT_SELECTED: CmdError = CmdError::new(
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
);
pub const LFU_SELECTED: CmdError = CmdError::new(
    "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
);

/// EXPIRE-family's reply to an option it does not know.
pub fn unsupported_option(opt: &[u8]) -> CmdError {
    CmdError::err(format_args!(
        "Unsupported option {}",
        String::from_utf8_lossy(opt)
    ))
}

/// A DENYOOM command while memory is over `maxmemory` and nothing more can be evicted.
pub const OOM: CmdError = CmdError::new("OOM command not allowed when used memory > 'maxmemory'.");
/// EXEC refused for the same reason (Redis's execCommandAbort with the OOM error).
pub const EXECABORT_OOM: CmdError = CmdError::new(
    "EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.",
);

pub const NO_SUCH_CLIENT: CmdError = CmdError::new("ERR No such client");
pub const NO_CONFIG_FILE: CmdError =
    CmdError::new("ERR The server is running without a config file");
pub const DEBUG_NOT_ALLOWED: CmdError = CmdError::new(
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
);
pub const NO_SHUTDOWN: CmdError = CmdError::new("ERR No shutdown in progress.");

/// Redis's `addReplySubcommandSyntaxError`: a subcommand it does not know, or one given the
/// wrong number of arguments, of a command parsed by hand (DEBUG, and CLIENT's branches).
pub fn subcommand_syntax(sub: &[u8], container: &str) -> CmdError {
    let sub = String::from_utf8_lossy(&sub[..sub.len().min(128)]).into_owned();
    CmdError::err(format_args!(
        "unknown subcommand or wrong number of arguments for '{sub}'. Try {} HELP.",
        container.to_ascii_uppercase()
    ))
}

pub const LCS_IDX_AND_LEN: CmdError =
    CmdError::new("ERR If you want both the length and indexes, please just use IDX.");
pub const LCS_TOO_LONG: CmdError = CmdError::new("ERR String too long for LCS");
pub const LCS_TABLE_TOO_BIG: CmdError =
    CmdError::new("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
pub const LCS_ALLOC_FAILED: CmdError =
    CmdError::new("ERR Insufficient memory, failed allocating transient memory for LCS");
pub const LCS_NOT_STRINGS: CmdError =
    CmdError::new("ERR The specified keys must contain string values");
pub const DECREMENT_OVERFLOW: CmdError = CmdError::new("ERR decrement would overflow");
