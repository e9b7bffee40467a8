//! Project automation for imgpull (the cargo-xtask pattern).
//!
//! Run as `cargo xtask <command>`; `cargo xtask help` lists the commands. Everything CI does is
//! here, in Rust, so that a developer's machine and CI run exactly the same steps.

mod bench;
mod demo;
mod dist;
mod package;
mod setup;
mod shell;
mod test;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  setup            install the system tools the tests need (docker-registry, skopeo, podman, ...)
                   with apt-get when running as root; otherwise print the command to run
  test [--no-setup] [--quick | --unit]
                   everything CI runs: setup, rustfmt check, clippy -D warnings, the whole
                   workspace test suite (unit, fake-registry and real-registry end-to-end tests)
                   rustdoc with -D warnings, a `dist` build that is unpacked and run, and
                   `bench --quick` (the benchmark harness on a small image);
                   --quick skips clippy, rustdoc, dist and bench; --unit runs only the tests that need
                   no system tools (for the release matrix)
  dist [--target TRIPLE]
                   release build (profile `dist`) packaged as target/distrib/imgpull-<version>-<target>.tar.gz
                   (.zip for Windows) with README, LICENSE, completions and man page, plus SHA256SUMS
  bench [--quick] [--runs N] [--fresh] [--prepare] [--imgpull PATH]
                   time imgpull, skopeo, oci-client and curl pulling seeded images from a TLS
                   registry on 127.0.0.1; table in target/bench/ (see docs/PERFORMANCE.md);
                   --quick: tiny images, one run, only checks that the harness works
  package          `cargo package` every published crate (each builds from its .crate) and
                   `cargo publish --dry-run` the leaf crates
  demo             without network access: start a local TLS registry with a generated image,
                   then inspect it, pull it twice (the second from the cache) and check the archive
  help             this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match command {
        "setup" => setup::run(rest),
        "test" => test::run(rest),
        "dist" => dist::run(rest),
        "demo" => demo::run(rest),
        "package" => package::run(rest),
        "bench" => bench::run(rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}
