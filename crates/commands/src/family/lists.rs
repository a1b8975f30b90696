//! List commands, blocking ones included.

use crate::spec::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
