//! `cargo xtask package`: check that every published crate packs and builds from its package.

use crate::shell;

/// Workspace members that are never published.
const UNPUBLISHED: &[&str] = &["xtask", "imgpull-tests"];

/// The leaf crates (no internal dependencies), which can be dry-run published before the others.
const LEAVES: &[&str] = &["imgpull-reference"];

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("`package` takes no arguments, got `{arg}`"));
    }
    let mut package = shell::cargo();
    package.args(["package", "--workspace", "--locked"]);
    for name in UNPUBLISHED {
        package.args(["--exclude", name]);
    }
    shell::run(&mut package)?;
    for leaf in LEAVES {
        shell::run(shell::cargo().args(["publish", "--dry-run", "--locked", "-p", leaf]))?;
    }
    Ok(())
}
