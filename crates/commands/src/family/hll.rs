//! HyperLogLog commands with Redis's sparse/dense byte format.

use crate::spec::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
