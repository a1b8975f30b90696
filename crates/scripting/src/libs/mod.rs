//! The libraries Redis gives scripts beyond Lua 5.1's own: cjson, cmsgpack, bit, struct.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod structlib;

use mlua::{Lua, Table};

/// Sets the `cjson`, `cmsgpack`, `bit` and `struct` globals.
pub fn install(lua: &Lua, globals: &Table) -> mlua::Result<()> {
    globals.set("bit", bit::module(lua)?)?;
    globals.set("cjson", cjson::module(lua)?)?;
    globals.set("cmsgpack", cmsgpack::module(lua)?)?;
    globals.set("struct", structlib::module(lua)?)?;
    Ok(())
}

/// A Lua error with exactly this message (no "runtime error:" prefix when shown by Lua).
pub(crate) fn fail(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::runtime(msg.into())
}
