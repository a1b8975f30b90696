//! Bitmap commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD.

use crate::spec::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
