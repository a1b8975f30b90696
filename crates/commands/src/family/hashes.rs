//! Hash commands: HSET, HGET, field expiry and the rest.

use crate::spec::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
