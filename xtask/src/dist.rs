//! `cargo xtask dist`: a release build packaged for download.
//!
//! Produces `target/distrib/imgpull-<version>-<target>.tar.gz` (`.zip` for Windows targets) holding the
//! binary, `README.md`, `LICENSE`, shell completions and a man page, plus `target/distrib/SHA256SUMS`.
//!
//! Reproducibility: archive entries are sorted, owned by uid/gid 0 with fixed modes, and stamped with
//! `SOURCE_DATE_EPOCH` (default: the commit time of `HEAD`); the gzip header carries no time or name;
//! source paths are remapped out of the binary. What is not pinned: the Rust toolchain (the same
//! toolchain must be used to get the same bytes) and the C compiler used by `ring`.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::shell;

/// Files of one distribution archive, relative to its top directory, with their Unix mode.
struct Entry {
    name: String,
    mode: u32,
    bytes: Vec<u8>,
}

/// What `dist` produced.
pub struct Dist {
    /// The archive.
    pub archive: PathBuf,
    /// The name of the binary inside the archive (`imgpull` or `imgpull.exe`).
    pub binary_name: String,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut target = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--target" => {
                target = Some(
                    iter.next()
                        .ok_or("`--target` needs a target triple")?
                        .clone(),
                );
            }
            other => return Err(format!("unknown option `{other}` for `dist`")),
        }
    }
    let dist = build(target.as_deref())?;
    eprintln!("xtask: wrote {}", dist.archive.display());
    Ok(())
}

/// Builds, packages and checksums imgpull for `target` (the host when `None`).
pub fn build(target: Option<&str>) -> Result<Dist, String> {
    let root = shell::workspace_root();
    let host = host_triple()?;
    let target = target.unwrap_or(&host).to_owned();
    let version = workspace_version(&root)?;
    let epoch = source_date_epoch(&root);

    let mut cargo = shell::cargo();
    cargo.args([
        "build",
        "--profile",
        "dist",
        "--locked",
        "-p",
        "imgpull",
        "--target",
        &target,
    ]);
    cargo.env("RUSTFLAGS", remap_flags(&root));
    cargo.env("SOURCE_DATE_EPOCH", epoch.to_string());
    shell::run(&mut cargo)?;

    let windows = target.contains("windows");
    let binary_name = if windows { "imgpull.exe" } else { "imgpull" }.to_owned();
    let binary = root
        .join("target")
        .join(&target)
        .join("dist")
        .join(&binary_name);
    let binary_bytes =
        fs::read(&binary).map_err(|e| format!("reading {}: {e}", binary.display()))?;

    // Completions and the man page come from the binary's own clap definition. They are the same
    // for every target, so a cross build uses a host build to produce them.
    let generator = if target == host {
        binary.clone()
    } else {
        let mut host_build = shell::cargo();
        host_build.args(["build", "--release", "--locked", "-p", "imgpull"]);
        shell::run(&mut host_build)?;
        root.join("target").join("release").join("imgpull")
    };

    let top = format!("imgpull-{version}-{target}");
    let mut entries = vec![
        Entry {
            name: binary_name.clone(),
            mode: 0o755,
            bytes: binary_bytes,
        },
        Entry {
            name: "README.md".into(),
            mode: 0o644,
            bytes: read(&root.join("README.md"))?,
        },
        Entry {
            name: "LICENSE".into(),
            mode: 0o644,
            bytes: read(&root.join("LICENSE"))?,
        },
        Entry {
            name: "man/imgpull.1".into(),
            mode: 0o644,
            bytes: capture(&generator, &["manpage"])?,
        },
    ];
    for (shell_name, file) in [
        ("bash", "completions/imgpull.bash"),
        ("zsh", "completions/_imgpull"),
        ("fish", "completions/imgpull.fish"),
        ("powershell", "completions/_imgpull.ps1"),
    ] {
        entries.push(Entry {
            name: file.into(),
            mode: 0o644,
            bytes: capture(&generator, &["completions", shell_name])?,
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));

    let out_dir = root.join("target").join("distrib");
    fs::create_dir_all(&out_dir).map_err(|e| format!("creating {}: {e}", out_dir.display()))?;
    let archive = if windows {
        let path = out_dir.join(format!("{top}.zip"));
        write_zip(&path, &top, &entries, epoch)?;
        path
    } else {
        let path = out_dir.join(format!("{top}.tar.gz"));
        write_tar_gz(&path, &top, &entries, epoch)?;
        path
    };
    write_checksums(&out_dir)?;
    Ok(Dist {
        archive,
        binary_name,
    })
}

fn write_tar_gz(path: &Path, top: &str, entries: &[Entry], epoch: u64) -> Result<(), String> {
    let file = fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    // No file name and a zero mtime in the gzip header, so equal inputs give equal bytes.
    let gzip = flate2::GzBuilder::new()
        .mtime(0)
        .write(file, flate2::Compression::best());
    let mut tar = tar::Builder::new(gzip);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut directories: Vec<String> = vec![top.to_owned()];
    for entry in entries {
        if let Some((dir, _)) = entry.name.rsplit_once('/') {
            let dir = format!("{top}/{dir}");
            if !directories.contains(&dir) {
                directories.push(dir);
            }
        }
    }
    for dir in &directories {
        let mut header = header(tar::EntryType::Directory, 0o755, 0, epoch);
        tar.append_data(&mut header, format!("{dir}/"), std::io::empty())
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    for entry in entries {
        let size = entry.bytes.len() as u64;
        let mut header = header(tar::EntryType::Regular, entry.mode, size, epoch);
        tar.append_data(
            &mut header,
            format!("{top}/{}", entry.name),
            entry.bytes.as_slice(),
        )
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let gzip = tar
        .into_inner()
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    let file = gzip
        .finish()
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    file.sync_all()
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

fn header(kind: tar::EntryType, mode: u32, size: u64, epoch: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(epoch);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn write_zip(path: &Path, top: &str, entries: &[Entry], epoch: u64) -> Result<(), String> {
    let file = fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let time = zip_time(epoch);
    for entry in entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(entry.mode)
            .last_modified_time(time);
        zip.start_file(format!("{top}/{}", entry.name), options)
            .and_then(|()| zip.write_all(&entry.bytes).map_err(Into::into))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    zip.finish()
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// The zip timestamp for a Unix time (zip's DOS times start in 1980).
fn zip_time(epoch: u64) -> zip::DateTime {
    let days = epoch / 86_400;
    let (year, month, day) = civil_from_days(days);
    let seconds = epoch % 86_400;
    let (hour, minute, second) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    u16::try_from(year)
        .ok()
        .and_then(|year| {
            zip::DateTime::from_date_and_time(
                year,
                u8::try_from(month).ok()?,
                u8::try_from(day).ok()?,
                u8::try_from(hour).ok()?,
                u8::try_from(minute).ok()?,
                u8::try_from(second).ok()?,
            )
            .ok()
        })
        .unwrap_or_default()
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Rewrites `target/distrib/SHA256SUMS` for every archive in the directory, sorted by name.
fn write_checksums(out_dir: &Path) -> Result<(), String> {
    let mut names: Vec<String> = fs::read_dir(out_dir)
        .map_err(|e| format!("reading {}: {e}", out_dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            let extension = Path::new(name).extension().and_then(|ext| ext.to_str());
            name.starts_with("imgpull-") && matches!(extension, Some("gz" | "zip"))
        })
        .collect();
    names.sort();
    let mut sums = String::new();
    for name in names {
        let mut hasher = Sha256::new();
        let mut file =
            fs::File::open(out_dir.join(&name)).map_err(|e| format!("reading {name}: {e}"))?;
        let mut buffer = vec![0; 1 << 20];
        loop {
            let n = file
                .read(&mut buffer)
                .map_err(|e| format!("reading {name}: {e}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
        let _ = writeln!(sums, "{}  {name}", hex::encode(hasher.finalize()));
    }
    let path = out_dir.join("SHA256SUMS");
    fs::write(&path, sums).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn host_triple() -> Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("running rustc -vV: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .ok_or_else(|| "rustc -vV printed no host triple".to_owned())
}

/// The `[workspace.package] version` of the root manifest.
fn workspace_version(root: &Path) -> Result<String, String> {
    let manifest = fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|e| format!("reading Cargo.toml: {e}"))?;
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
        } else if in_package
            && let Some(value) = line.strip_prefix("version").map(str::trim_start)
            && let Some(value) = value.strip_prefix('=')
        {
            return Ok(value.trim().trim_matches('"').to_owned());
        }
    }
    Err("no version in [workspace.package] of Cargo.toml".into())
}

/// `SOURCE_DATE_EPOCH` if set, else the commit time of `HEAD`, else 0.
fn source_date_epoch(root: &Path) -> u64 {
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return epoch;
    }
    Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(root)
        .output()
        .ok()
        .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
        .unwrap_or(0)
}

/// Flags that keep build paths out of the binary, so that two checkouts build the same bytes.
fn remap_flags(root: &Path) -> String {
    let cargo_home = std::env::var("CARGO_HOME").ok().or_else(|| {
        std::env::var("HOME")
            .ok()
            .map(|home| format!("{home}/.cargo"))
    });
    let mut flags = format!("--remap-path-prefix={}=/imgpull", root.display());
    if let Some(cargo_home) = cargo_home {
        let _ = write!(flags, " --remap-path-prefix={cargo_home}=/cargo");
    }
    flags
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

/// Runs `program args` and returns its standard output, failing on a non-zero exit.
fn capture(program: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("running {} {}: {e}", program.display(), args.join(" ")))?;
    if !output.status.success() {
        return Err(format!(
            "`{} {}` failed ({}): {}",
            program.display(),
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}

/// Unpacks the archive into a scratch directory and checks that what users run works:
/// `imgpull --version`, `imgpull completions bash`, and that the man page renders.
pub fn check(dist: &Dist) -> Result<(), String> {
    let scratch = shell::workspace_root()
        .join("target")
        .join("distrib")
        .join("check");
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).map_err(|e| format!("creating {}: {e}", scratch.display()))?;
    let file = fs::File::open(&dist.archive)
        .map_err(|e| format!("opening {}: {e}", dist.archive.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive
        .unpack(&scratch)
        .map_err(|e| format!("unpacking {}: {e}", dist.archive.display()))?;
    let top = fs::read_dir(&scratch)
        .map_err(|e| format!("reading {}: {e}", scratch.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .next()
        .ok_or("the archive is empty")?;
    let binary = top.join(&dist.binary_name);
    let version = capture(&binary, &["--version"])?;
    let version = String::from_utf8_lossy(&version);
    if !version.starts_with("imgpull ") {
        return Err(format!("`imgpull --version` printed {version:?}"));
    }
    let completions = capture(&binary, &["completions", "bash"])?;
    if !String::from_utf8_lossy(&completions).contains("imgpull") {
        return Err("`imgpull completions bash` printed no completion script".into());
    }
    for file in [
        "README.md",
        "LICENSE",
        "man/imgpull.1",
        "completions/_imgpull",
        "completions/imgpull.fish",
    ] {
        if !top.join(file).is_file() {
            return Err(format!("the archive lacks {file}"));
        }
    }
    if shell::on_path("man") {
        let page = top.join("man/imgpull.1");
        let rendered = Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .map_err(|e| format!("running man -l: {e}"))?;
        let text = String::from_utf8_lossy(&rendered.stdout);
        if !rendered.status.success() || !text.contains("imgpull") {
            return Err(format!(
                "`man -l {}` did not render the page",
                page.display()
            ));
        }
    } else {
        eprintln!("xtask: note: `man` is not installed; the man page was not rendered");
    }
    eprintln!(
        "xtask: dist archive checked: {} ({})",
        dist.archive.display(),
        version.trim()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_419), (2025, 11, 27));
    }
}
