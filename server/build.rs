//! Rebuilds the server when the web client (`../web`, embedded by `rust-embed`) changes.
//!
//! The embedding macro reads each file with `include_bytes!`, so rustc already notices a
//! changed file; a new or deleted file is only noticed through this directory watch
//! (Cargo scans the whole directory for modifications).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../web");
}
