//! Stream commands and consumer groups.

use crate::spec::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
