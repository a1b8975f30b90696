//! Geo commands on sorted sets with Redis's 52-bit geohash scores.

use crate::spec::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
