//! Compiles the C side of the crate: the platform's `long double` is only reachable from C.

fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .warnings(true)
        .compile("cinnabar_longdouble");
}
