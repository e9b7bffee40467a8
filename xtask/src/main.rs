//! Project automation (the cargo-xtask pattern): `cargo xtask test|bench|dist|demo`.

fn main() {}
