//! JSON.* commands (RedisJSON-compatible) on the built-in JSON type.

use crate::spec::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
