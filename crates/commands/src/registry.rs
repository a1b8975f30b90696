//! The registry: every command family's specs listed once, flattened with subcommands into
//! ids (for statistics) and indexed by name for the dispatcher.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use std::sync::OnceLock;

use crate::family;
use crate::spec::CommandSpec;

/// Every top-level command, by family.
fn families() -> impl Iterator<Item = &'static CommandSpec> {
    [
        family::strings::COMMANDS,
        family::keys::COMMANDS,
        family::connection::COMMANDS,
        family::server::COMMANDS,
        family::client::COMMANDS,
        family::info::COMMANDS,
        family::config::COMMANDS,
        family::debug::COMMANDS,
        family::hashes::COMMANDS,
        family::lists::COMMANDS,
        family::sets::COMMANDS,
        family::zsets::COMMANDS,
        family::streams::COMMANDS,
        family::bitmaps::COMMANDS,
        family::hll::COMMANDS,
        family::geo::COMMANDS,
        family::sort::COMMANDS,
        family::json::COMMANDS,
        family::transactions::COMMANDS,
        family::pubsub::COMMANDS,
        family::scripting::COMMANDS,
        family::functions::COMMANDS,
        family::persistence::COMMANDS,
        crate::replication::COMMANDS,
        crate::aof::COMMANDS,
    ]
    .into_iter()
    .flatten()
}

pub struct Registry {
    /// All specs; subcommands follow their container.
    specs: Vec<&'static CommandSpec>,
    /// `get`, `client|list`, ... by id.
    full_names: Vec<String>,
    /// Id of each top-level command by lower-case name.
    by_name: HashMap<&'static [u8], usize, RandomState>,
    /// Ids of each spec's subcommands, in declaration order.
    subs: Vec<Vec<usize>>,
    /// Top-level ids in declaration order.
    top: Vec<usize>,
}

impl Registry {
    fn build() -> Self {
        let mut r = Registry {
            specs: Vec::new(),
            full_names: Vec::new(),
            by_name: HashMap::default(),
            subs: Vec::new(),
            top: Vec::new(),
        };
        for spec in families() {
            let id = r.push(spec, spec.name.to_string());
            let prev = r.by_name.insert(spec.name.as_bytes(), id);
            debug_assert!(prev.is_none(), "command {} registered twice", spec.name);
            r.top.push(id);
            let subs: Vec<usize> = spec
                .subcommands
                .iter()
                .map(|s| r.push(s, format!("{}|{}", spec.name, s.name)))
                .collect();
            r.subs[id] = subs;
        }
        r
    }

    fn push(&mut self, spec: &'static CommandSpec, full: String) -> usize {
        self.specs.push(spec);
        self.full_names.push(full);
        self.subs.push(Vec::new());
        self.specs.len() - 1
    }

    pub fn len(&self) -> usize {
        self.specs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Id of a top-level command, case-insensitively.
    #[inline]
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        for (d, s) in buf.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        self.by_name.get(&buf[..name.len()]).copied()
    }

    /// Id of a subcommand of `parent`, case-insensitively.
    pub fn lookup_sub(&self, parent: usize, name: &[u8]) -> Option<usize> {
        self.subs[parent]
            .iter()
            .copied()
            .find(|&id| self.specs[id].name.as_bytes().eq_ignore_ascii_case(name))
    }

    #[inline]
    pub fn spec(&self, id: usize) -> &'static CommandSpec {
        self.specs[id]
    }

    /// `get`, `client|list`, ...
    pub fn full_name(&self, id: usize) -> &str {
        &self.full_names[id]
    }

    pub fn subcommands(&self, id: usize) -> &[usize] {
        &self.subs[id]
    }

    /// Top-level command ids in declaration order.
    pub fn top_level(&self) -> &[usize] {
        &self.top
    }

    /// Id of a command or `container|sub` by its full name.
    pub fn lookup_full(&self, name: &[u8]) -> Option<usize> {
        match name.iter().position(|&b| b == b'|') {
            None => self.lookup(name),
            Some(i) => {
                let parent = self.lookup(&name[..i])?;
                self.lookup_sub(parent, &name[i + 1..])
            }
        }
    }
}

/// The registry, built on first use.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::build)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_docs_and_sane_arity() {
        let r = registry();
        for id in 0..r.len() {
            let s = r.spec(id);
            assert!(!s.summary.is_empty(), "{} has no summary", r.full_name(id));
            assert!(!s.since.is_empty(), "{} has no since", r.full_name(id));
            assert!(s.arity != 0, "{} has arity 0", r.full_name(id));
            assert_eq!(s.name, s.name.to_ascii_lowercase());
        }
    }

    #[test]
    fn lookup_is_case_insensitive() {
        let r = registry();
        assert_eq!(r.lookup(b"GeT"), r.lookup(b"get"));
        assert!(r.lookup(b"get").is_some());
        assert!(r.lookup(b"nosuchcommand").is_none());
        assert!(r.lookup_full(b"client|list").is_some());
    }
}
