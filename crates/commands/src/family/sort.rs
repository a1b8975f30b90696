//! SORT and SORT_RO.

use crate::spec::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
