//! Links libaio_rs.so with libaio's version nodes and its own SONAME.
//!
//! rustc writes an anonymous version script for the names it exports; the
//! io_* symbols are therefore not `#[no_mangle]` exports but aliases made by
//! `.symver` directives (src/abi.rs), which take the versions defined here.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=libaio.map");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={dir}/libaio.map");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libaio_rs.so.1");
}
