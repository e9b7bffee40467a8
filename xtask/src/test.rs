//! `cargo xtask test`: everything CI runs, in the order CI runs it.

use crate::{dist, setup, shell};

pub fn run(args: &[String]) -> Result<(), String> {
    let mut do_setup = true;
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            "--no-setup" => do_setup = false,
            "--quick" => quick = true,
            other => return Err(format!("unknown option `{other}` for `test`")),
        }
    }
    if do_setup {
        setup::ensure_tools()?;
    }
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
    shell::run(shell::cargo().args(["test", "--workspace", "--locked"]))?;
    if !quick {
        shell::run(
            shell::cargo()
                .args(["doc", "--workspace", "--no-deps", "--locked"])
                .env("RUSTDOCFLAGS", "-D warnings"),
        )?;
        let built = dist::build(None)?;
        dist::check(&built)?;
    }
    eprintln!("xtask: all checks passed");
    Ok(())
}
