//! The command-line interface: every command, option and help text, defined once with clap.
//!
//! Long option names are the interface users script against; keep them stable.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

const EXAMPLES: &str = "\
Examples:
  # Writes docker.io_library_nginx_1.25_linux_amd64.tar, for `docker load -i`:
  imgpull pull nginx:1.25
  imgpull pull --platform linux/arm64 -o nginx.tar nginx:1.25
  imgpull pull -q -o - alpine:3.20 | ssh host docker load
  imgpull pull --format oci --all-platforms -o alpine-layout alpine:3.20
  # Several images in one archive, shared layers written once:
  imgpull pull -o bundle.tar nginx:1.25 redis:7
  imgpull inspect --platform linux/arm64 nginx:1.25
  imgpull tags registry.example.com:5000/team/app
  imgpull login registry.example.com --username ci --password-stdin < token.txt
  imgpull cache du
  imgpull cache import saved-by-docker.tar

Exit codes: 0 ok, 1 other error, 2 usage or invalid reference, 3 authentication,
4 not found, 5 network or registry failure, 6 integrity, 130 interrupted.";

/// Pull container images from any Docker or OCI registry without a Docker daemon.
#[derive(Debug, Parser)]
#[command(name = "imgpull", version, about, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log every registry request to stderr (never credentials); repeat for more detail.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download images and write them as a docker-save or OCI archive.
    #[command(after_help = PULL_EXAMPLES)]
    Pull(PullArgs),
    /// Show an image's digest, platforms, layers and configuration without downloading layers.
    Inspect(InspectArgs),
    /// List the tags of a repository, one per line.
    Tags(TagsArgs),
    /// Store credentials for a registry in the docker config file.
    Login(LoginArgs),
    /// Remove stored credentials for a registry.
    Logout(LogoutArgs),
    /// Look after the local blob cache.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Print a shell completion script to stdout.
    Completions(CompletionsArgs),
    /// Print the man page (roff) to stdout; used to build release archives.
    #[command(hide = true)]
    Manpage,
}

const PULL_EXAMPLES: &str = "\
Examples:
  imgpull pull nginx:1.25
  imgpull pull --platform linux/arm/v7 -o nginx-armv7.tar nginx:1.25
  # Name an image pulled by digest:
  imgpull pull --tag myapp:1.0 registry.example.com/app@sha256:<hex>
  imgpull pull --json -q alpine:3.20 | jq .cache";

/// Options shared by every command that talks to a registry.
#[derive(Debug, Clone, Default, Args)]
pub struct RegistryArgs {
    /// Read settings from this config file instead of $XDG_CONFIG_HOME/imgpull/config.toml.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Pull through this mirror: `URL` mirrors Docker Hub, `REGISTRY=URL` another registry (repeatable).
    #[arg(long = "registry-mirror", value_name = "[REGISTRY=]URL")]
    pub registry_mirrors: Vec<String>,
    /// Talk to this registry over plain HTTP or with unverified TLS (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Trust the certificate authorities in this PEM file, in addition to the system ones (repeatable).
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_files: Vec<PathBuf>,
    /// Authenticate as this user to the registry named (the images' registry for pull, inspect and
    /// tags), never to another registry or a mirror (the password comes from --password-stdin,
    /// --password or IMGPULL_PASSWORD).
    #[arg(long, short = 'u', value_name = "USER")]
    pub username: Option<String>,
    /// Read the password (or token) from standard input.
    #[arg(long, requires = "username", conflicts_with = "password")]
    pub password_stdin: bool,
    /// The password on the command line (visible to other users: prefer --password-stdin).
    #[arg(long, short = 'p', value_name = "PASSWORD", requires = "username")]
    pub password: Option<String>,
}

/// The archive format `pull` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A `docker load` tar (Docker 25+ dual layout, read by every docker and podman).
    Docker,
    /// An OCI image layout directory.
    Oci,
    /// An OCI image layout in a tar.
    OciArchive,
}

/// Options of `imgpull pull`.
#[derive(Debug, Clone, Args)]
pub struct PullArgs {
    /// Images to pull, e.g. `nginx:1.25`, `ghcr.io/org/app@sha256:…`.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
    /// Where to write the archive (`-` for stdout); derived from the image when absent.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Archive format.
    #[arg(long, value_enum, default_value_t = Format::Docker)]
    pub format: Format,
    /// Platform to pull from a multi-platform image (default: config file, else linux
    /// on this machine's architecture): `os/arch[/variant]`, a lone architecture (`arm64`, on
    /// linux) or a lone OS (`windows`, on this machine's architecture).
    #[arg(
        long,
        value_name = "OS/ARCH[/VARIANT]",
        conflicts_with = "all_platforms"
    )]
    pub platform: Option<String>,
    /// Keep every platform of a multi-platform image (OCI formats only).
    #[arg(long)]
    pub all_platforms: bool,
    /// How many blobs to download at the same time [default: 3].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_concurrent_downloads: Option<u16>,
    /// Cache directory (default: config file, else the platform cache dir, e.g. ~/.cache/imgpull).
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    /// Use a temporary cache, removed at the end.
    #[arg(long)]
    pub no_cache: bool,
    /// Tag to give an image pulled by digest, e.g. `myapp:1.0` (one image only).
    #[arg(long, value_name = "NAME:TAG")]
    pub tag: Option<String>,
    /// Write layers uncompressed (each checked against its diff_id while writing).
    #[arg(long)]
    pub uncompressed_layers: bool,
    /// Compress the whole archive with gzip (implied by a `.tar.gz` or `.tgz` output name).
    #[arg(long)]
    pub gzip: bool,
    /// Overwrite an existing output file even if it holds a different image.
    #[arg(long)]
    pub force: bool,
    /// Fsync the output before renaming it into place (and its directory after), so that once
    /// it appears it survives a crash or power loss of the machine, e.g. on a removable disk.
    /// Without it (default: config file, else off) the output appears complete or not at all,
    /// as `docker save -o` and `skopeo copy` write theirs, and the kernel writes it back. The
    /// cache is always synced.
    #[arg(long)]
    pub sync: bool,
    /// Print only errors and the output path.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print one JSON object on stdout at the end (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// Registry and authentication options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Options of `imgpull inspect`.
#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// The image to inspect.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Platform to describe for a multi-platform image (default: config file, else linux
    /// on this machine's architecture): `os/arch[/variant]`, a lone architecture (`arm64`, on
    /// linux) or a lone OS (`windows`, on this machine's architecture).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Print the manifest bytes exactly as the registry served them.
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,
    /// Print the description as JSON.
    #[arg(long)]
    pub json: bool,
    /// Registry and authentication options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Options of `imgpull tags`.
#[derive(Debug, Clone, Args)]
pub struct TagsArgs {
    /// The repository, e.g. `library/nginx` or `registry.example.com/team/app`.
    #[arg(value_name = "REPO")]
    pub repository: String,
    /// Registry and authentication options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Options of `imgpull login`.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// The registry host, e.g. `registry.example.com:5000` or `docker.io`.
    #[arg(value_name = "REGISTRY")]
    pub server: String,
    /// Registry and authentication options (`--username` is required).
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Options of `imgpull logout`.
#[derive(Debug, Clone, Args)]
pub struct LogoutArgs {
    /// The registry host whose credentials to remove.
    #[arg(value_name = "REGISTRY")]
    pub server: String,
}

/// `imgpull cache …` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum CacheCommand {
    /// List cached images and blobs with their sizes and last use.
    Ls(CacheDirArgs),
    /// Show how much disk the cache uses.
    Du(CacheDirArgs),
    /// Remove old or unreferenced blobs.
    Prune(PruneArgs),
    /// Re-hash every blob and remove the corrupt ones.
    Verify(CacheDirArgs),
    /// Add the images of a docker-save tar or OCI archive/layout to the cache.
    Import(ImportArgs),
    /// Remove everything from the cache.
    Clear(CacheDirArgs),
}

/// The cache directory option every `cache` subcommand takes.
#[derive(Debug, Clone, Default, Args)]
pub struct CacheDirArgs {
    /// Cache directory (default: config file, else the platform cache dir).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Read settings from this config file.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Options of `imgpull cache prune`.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Remove blobs not used for this long, e.g. `30d`, `12h`, `90m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub older_than: Option<std::time::Duration>,
    /// Shrink the cache below this size, keeping the most recently used blobs, e.g. `10GiB`, `500M`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// The cache directory options.
    #[command(flatten)]
    pub cache: CacheDirArgs,
}

/// Options of `imgpull cache import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// A docker-save tar (plain or gzip), an OCI archive, or an OCI layout directory.
    #[arg(value_name = "ARCHIVE")]
    pub archive: PathBuf,
    /// The cache directory options.
    #[command(flatten)]
    pub cache: CacheDirArgs,
}

/// Options of `imgpull completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Parses a duration such as `30d`, `12h`, `90m`, `45s` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: expected e.g. 30d, 12h, 90m"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        other => {
            return Err(format!(
                "unknown duration unit `{other}`: use s, m, h, d or w"
            ));
        }
    };
    number
        .checked_mul(seconds)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("duration `{text}` is too large"))
}

/// Parses a size such as `500M`, `10GiB`, `2G`, `4096` (bytes); K/M/G/T are powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size: expected e.g. 500M, 10GiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => return Err(format!("unknown size unit `{other}`: use K, M, G or T")),
    };
    let bytes = number * (1_u64 << shift) as f64;
    if !bytes.is_finite() || !(0.0..=9.0e18).contains(&bytes) {
        return Err(format!("size `{text}` is out of range"));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("imgpull").chain(args.iter().copied()))
    }

    fn pull(args: &[&str]) -> PullArgs {
        match parse(args).expect("valid arguments").command {
            Command::Pull(pull) => pull,
            other => panic!("expected pull, got {other:?}"),
        }
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn pull_takes_every_documented_option() {
        let args = pull(&[
            "pull",
            "-o",
            "out.tar",
            "--format",
            "oci-archive",
            "--all-platforms",
            "--max-concurrent-downloads",
            "5",
            "--cache-dir",
            "/tmp/c",
            "--username",
            "u",
            "--password-stdin",
            "--registry-mirror",
            "https://m1",
            "--registry-mirror",
            "ghcr.io=https://m2",
            "--insecure-registry",
            "localhost:5000",
            "--ca-file",
            "a.pem",
            "--ca-file",
            "b.pem",
            "--tag",
            "app:1",
            "--uncompressed-layers",
            "--gzip",
            "-q",
            "--json",
            "nginx:1.25",
            "redis",
        ]);
        assert_eq!(args.images, ["nginx:1.25", "redis"]);
        assert_eq!(args.output, Some(PathBuf::from("out.tar")));
        assert_eq!(args.format, Format::OciArchive);
        assert!(
            args.all_platforms && args.uncompressed_layers && args.gzip && args.quiet && args.json
        );
        assert_eq!(args.max_concurrent_downloads, Some(5));
        assert_eq!(args.cache_dir, Some(PathBuf::from("/tmp/c")));
        assert_eq!(args.tag.as_deref(), Some("app:1"));
        let registry = args.registry;
        assert_eq!(registry.username.as_deref(), Some("u"));
        assert!(registry.password_stdin);
        assert_eq!(
            registry.registry_mirrors,
            ["https://m1", "ghcr.io=https://m2"]
        );
        assert_eq!(registry.insecure_registries, ["localhost:5000"]);
        assert_eq!(
            registry.ca_files,
            [PathBuf::from("a.pem"), PathBuf::from("b.pem")]
        );
    }

    #[test]
    fn pull_defaults() {
        let args = pull(&["pull", "alpine"]);
        assert_eq!(args.format, Format::Docker);
        assert_eq!(args.output, None);
        assert_eq!(args.max_concurrent_downloads, None);
        assert!(!args.no_cache && !args.quiet && !args.json && !args.force);
    }

    #[test]
    fn stdout_output_is_accepted() {
        assert_eq!(
            pull(&["pull", "-o", "-", "alpine"]).output,
            Some(PathBuf::from("-"))
        );
    }

    #[test]
    fn invalid_combinations_are_usage_errors() {
        for args in [
            &["pull"][..],
            &["pull", "--platform", "linux/arm64", "--all-platforms", "a"],
            &["pull", "--no-cache", "--cache-dir", "d", "a"],
            &["pull", "--password-stdin", "a"],
            &[
                "pull",
                "--username",
                "u",
                "--password",
                "p",
                "--password-stdin",
                "a",
            ],
            &["pull", "--max-concurrent-downloads", "0", "a"],
            &["pull", "--format", "zip", "a"],
            &["inspect", "--raw", "--json", "a"],
            &["frobnicate"],
        ] {
            let error = parse(args).expect_err(&format!("{args:?} must be refused"));
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn shared_registry_options_on_inspect_tags_and_login() {
        let registry_flags = [
            "--ca-file",
            "ca.pem",
            "--insecure-registry",
            "h:1",
            "--username",
            "u",
            "--password-stdin",
            "--registry-mirror",
            "https://m",
            "--config",
            "c.toml",
        ];
        for command in ["inspect", "tags", "login"] {
            let mut args = vec![command, "x"];
            args.extend(registry_flags);
            let registry = match parse(&args).expect("valid").command {
                Command::Inspect(a) => a.registry,
                Command::Tags(a) => a.registry,
                Command::Login(a) => a.registry,
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(registry.ca_files, [PathBuf::from("ca.pem")], "{command}");
            assert_eq!(registry.config, Some(PathBuf::from("c.toml")), "{command}");
            assert!(registry.password_stdin, "{command}");
        }
    }

    #[test]
    fn every_cache_subcommand_accepts_cache_dir() {
        for sub in [
            &["ls"][..],
            &["du"],
            &["prune", "--older-than", "7d"],
            &["verify"],
            &["import", "a.tar"],
            &["clear"],
        ] {
            let mut args = vec!["cache"];
            args.extend_from_slice(sub);
            args.extend(["--cache-dir", "/c"]);
            let Command::Cache(command) = parse(&args).expect("valid").command else {
                panic!("expected cache");
            };
            let dir = match command {
                CacheCommand::Ls(a)
                | CacheCommand::Du(a)
                | CacheCommand::Verify(a)
                | CacheCommand::Clear(a) => a.cache_dir,
                CacheCommand::Prune(a) => a.cache.cache_dir,
                CacheCommand::Import(a) => a.cache.cache_dir,
            };
            assert_eq!(dir, Some(PathBuf::from("/c")), "{sub:?}");
        }
    }

    #[test]
    fn prune_limits_are_parsed() {
        let Command::Cache(CacheCommand::Prune(args)) =
            parse(&["cache", "prune", "--older-than", "2d", "--max-size", "1.5G"])
                .expect("valid")
                .command
        else {
            panic!("expected prune");
        };
        assert_eq!(
            args.older_than,
            Some(std::time::Duration::from_secs(2 * 86_400))
        );
        assert_eq!(args.max_size, Some(1_610_612_736));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("45"), Ok(std::time::Duration::from_secs(45)));
        assert_eq!(
            parse_duration("90m"),
            Ok(std::time::Duration::from_secs(5400))
        );
        assert_eq!(
            parse_duration("1w"),
            Ok(std::time::Duration::from_secs(604_800))
        );
        assert!(parse_duration("3y").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn completions_take_a_shell() {
        let Command::Completions(args) = parse(&["completions", "bash"]).expect("valid").command
        else {
            panic!("expected completions");
        };
        assert_eq!(args.shell, Shell::Bash);
        assert!(parse(&["completions", "cmd.exe"]).is_err());
    }

    #[test]
    fn manpage_is_hidden_but_accepted() {
        assert!(matches!(
            parse(&["manpage"]).expect("valid").command,
            Command::Manpage
        ));
        let help = Cli::command().render_help().to_string();
        assert!(!help.contains("manpage"));
    }

    #[test]
    fn version_and_help_exit_zero() {
        for flag in ["--version", "--help"] {
            let error = parse(&[flag]).expect_err("prints and exits");
            assert_eq!(error.exit_code(), 0);
        }
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Examples:") && help.contains("Exit codes:"));
    }
}
