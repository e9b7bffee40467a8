//! `cargo xtask test`: everything CI runs, in the order CI runs it.

use crate::{bench, dist, setup, shell};

pub fn run(args: &[String]) -> Result<(), String> {
    let mut do_setup = true;
    let mut quick = false;
    let mut unit = false;
    for arg in args {
        match arg.as_str() {
            "--no-setup" => do_setup = false,
            "--quick" => quick = true,
            "--unit" => unit = true,
            other => return Err(format!("unknown option `{other}` for `test`")),
        }
    }
    if unit {
        return unit_tests();
    }
    if do_setup {
        setup::ensure_tools()?;
    }
    shell::fetch()?;
    shell::run(shell::cargo().args(["fmt", "--all", "--check"]))?;
    if !quick {
        shell::run(shell::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    shell::run(shell::without_proxy(shell::cargo().args([
        "test",
        "--workspace",
        "--locked",
    ])))?;
    if !quick {
        shell::run(
            shell::cargo()
                .args(["doc", "--workspace", "--no-deps", "--locked"])
                .env("RUSTDOCFLAGS", "-D warnings"),
        )?;
        let built = dist::build(None)?;
        dist::check(&built)?;
        // The benchmark harness itself (a small image, one run): proves `cargo xtask bench`
        // works; the numbers of this run mean nothing and are not checked.
        bench::run(&["--quick".to_owned()])?;
    }
    eprintln!("xtask: all checks passed");
    Ok(())
}

/// The unit tests only, for platforms without the end-to-end tools (macOS, Windows, musl builders):
/// every package but the workspace-level harness, with tests that need skopeo or a registry skipped.
fn unit_tests() -> Result<(), String> {
    shell::run(
        shell::cargo()
            .args([
                "test",
                "--workspace",
                "--locked",
                "--exclude",
                "imgpull-tests",
            ])
            .env("IMGPULL_SKIP_E2E", "1"),
    )
}
