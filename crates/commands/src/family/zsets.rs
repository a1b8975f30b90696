//! Sorted set commands, blocking pops included.

use crate::spec::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
