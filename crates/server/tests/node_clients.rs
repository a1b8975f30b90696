//! Node.js client traffic against the in-process server: the scripts in `tests/node/` at the
//! repository root, run with the `node` on PATH. They assert every reply themselves and exit
//! non-zero on the first mismatch; this test starts the server, installs the scripts' npm
//! packages when `tests/node/node_modules` is missing (`npm ci` from the committed lock file),
//! runs a script and checks its exit status.
//!
//! Needs `node` (14 or newer) and `npm` on PATH; without them the test fails and says so
//! (.ci/run installs them). `npm ci` needs the npm registry once; later runs reuse
//! `node_modules`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::TestServer;

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node")
}

fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `node --version`, or a failure that says what to install.
fn require_node() -> String {
    let hint = "the Node.js client tests need `node` (14 or newer) and `npm` on PATH: \
                install them (Debian: apt-get install -y nodejs npm) and run again";
    let out = match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => out,
        Ok(out) => panic!("{hint}\n{}", describe("node --version", &out)),
        Err(e) => panic!("{hint}\n`node --version` could not run: {e}"),
    };
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if m >= 14 => version,
        _ => panic!("{hint}\nfound node {version:?}"),
    }
}

/// Installs tests/node's packages unless they are there already.
fn ensure_packages(dir: &Path) {
    let installed = ["redis", "redis-rejson"].iter().all(|p| {
        dir.join("node_modules")
            .join(p)
            .join("package.json")
            .is_file()
    });
    if installed {
        return;
    }
    let verb = if dir.join("package-lock.json").is_file() {
        "ci"
    } else {
        "install"
    };
    let out = Command::new("npm")
        .args([verb, "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .env("npm_config_update_notifier", "false")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "`npm {verb}` could not run in {}: {e} (install npm: apt-get install -y npm)",
                dir.display()
            )
        });
    assert!(
        out.status.success(),
        "{}",
        describe(&format!("npm {verb} in {}", dir.display()), &out)
    );
}

/// Runs `node SCRIPT 127.0.0.1 PORT` in tests/node against a fresh server.
fn run_script(script: &str) {
    let version = require_node();
    let dir = node_dir();
    ensure_packages(&dir);
    let srv = TestServer::start(&[]);
    let out = Command::new("node")
        .arg(script)
        .arg(srv.addr.ip().to_string())
        .arg(srv.addr.port().to_string())
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("node {script} could not run: {e}"));
    assert!(
        out.status.success(),
        "{}",
        describe(&format!("node {version} {script}"), &out)
    );
    // The scripts leave the database empty.
    let mut conn = srv.connect();
    assert_eq!(conn.cmd(&["DBSIZE"]), protocol::Frame::Integer(0));
}

/// The shopping-cart demo's traffic with npm redis@3 + redis-rejson@1: ready check (INFO),
/// `AUTH ""` without a password, the ReJSON probe, SCAN, JSON.SET/JSON.GET of the ten
/// products, cart hashes, and the reset.
#[test]
fn shopping_cart_with_redis3_and_rejson() {
    run_script("shopping_cart.js");
}
