//! One module per command; [`run`] dispatches. The helpers here are what several commands share:
//! building the registry client from flags and config, reading credentials, parsing references.

mod arrivals;
mod cache;
mod completions;
mod fetch;
mod inspect;
mod login;
mod output;
mod pull;
mod tags;

use std::io::Read as _;

use imgpull_auth::{Credential, Keychain, PASSWORD_ENV, REGISTRY_ENV, Secret, USERNAME_ENV};
use imgpull_reference::{Platform, Reference};
use imgpull_registry::{Client, ClientBuilder, PlatformChoice};

use crate::cli::{Command, RegistryArgs};
use crate::config::{self, ConfigFile, RegistrySettings};
use crate::error::CliError;
use crate::signal::Cancel;
use crate::ui::Ui;

/// How `command` wants to print (its `--quiet` and `--json` flags).
pub fn ui_for(command: &Command) -> Ui {
    match command {
        Command::Pull(args) => Ui::new(args.quiet, args.json),
        Command::Inspect(args) => Ui::new(false, args.json),
        _ => Ui::new(false, false),
    }
}

/// Runs one command to completion.
pub async fn run(command: Command, ui: Ui, cancel: Cancel) -> Result<(), CliError> {
    match command {
        Command::Pull(args) => pull::run(args, ui, cancel).await,
        Command::Inspect(args) => inspect::run(&args, ui).await,
        Command::Tags(args) => tags::run(&args).await,
        Command::Login(args) => login::login(&args, ui).await,
        Command::Logout(args) => login::logout(&args, ui),
        Command::Cache(command) => cache::run(command, cancel).await,
        Command::Completions(args) => {
            completions::run(&args);
            Ok(())
        }
        Command::Manpage => completions::manpage(),
    }
}

/// Parses an image reference; a bad one is a usage error (exit 2).
pub fn parse_reference(text: &str) -> Result<Reference, CliError> {
    Ok(Reference::parse(text)?)
}

/// The platform choice: `--all-platforms`, else the flag, else the config file, else linux on
/// this machine's architecture.
pub fn platform_choice(
    flag: Option<&str>,
    all: bool,
    config: &ConfigFile,
) -> Result<PlatformChoice, CliError> {
    if all {
        return Ok(PlatformChoice::All);
    }
    Ok(match config::platform(flag, config) {
        Some(text) => PlatformChoice::Exact(Platform::parse(&text)?),
        None => PlatformChoice::Host,
    })
}

/// The credential given on the command line, if any: `--username` with `--password-stdin`,
/// `--password` (warned about) or `IMGPULL_PASSWORD`.
pub fn explicit_credential(args: &RegistryArgs) -> Result<Option<Credential>, CliError> {
    let Some(username) = &args.username else {
        return Ok(None);
    };
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| CliError::Io {
                action: "read the password from",
                path: "standard input".into(),
                source,
            })?;
        text.trim_end_matches(['\n', '\r']).to_owned()
    } else if let Some(password) = &args.password {
        Ui::warning(
            "--password on the command line is visible to other users; prefer --password-stdin",
        );
        password.clone()
    } else if let Some(password) = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()) {
        password
    } else {
        return Err(CliError::Usage(format!(
            "--username {username} needs a password: --password-stdin, --password or {PASSWORD_ENV}"
        )));
    };
    if password.is_empty() {
        return Err(CliError::Usage("the password read is empty".to_owned()));
    }
    Ok(Some(Credential::basic(
        username.clone(),
        Secret::new(password),
    )))
}

/// The one registry the command line's credentials belong to: that of the images named
/// (`registries`), as `docker login` and `skopeo --creds` scope them. They never go to another
/// registry or to a mirror on another host. With images on several registries, `--username`
/// (`explicit`) and `IMGPULL_USERNAME`/`IMGPULL_PASSWORD` without `IMGPULL_REGISTRY` (read
/// through `env`) are usage errors: which registry they are for would be a guess.
fn credential_registry<'a>(
    registries: &[&'a str],
    explicit: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<&'a str>, CliError> {
    let mut distinct: Vec<&str> = registries.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let [first, second, ..] = distinct[..] else {
        return Ok(distinct.first().copied());
    };
    let set = |name: &str| env(name).is_some_and(|value| !value.is_empty());
    let source = if explicit {
        "--username"
    } else if set(USERNAME_ENV) && !set(REGISTRY_ENV) {
        "IMGPULL_USERNAME and IMGPULL_PASSWORD"
    } else {
        return Ok(None);
    };
    Err(CliError::Usage(format!(
        "{source} belong to one registry, but the images are on {} ({first}, {second}{}): \
         pull them with one command per registry, or store each registry's credentials with \
         `imgpull login REGISTRY`{}",
        distinct.len(),
        if distinct.len() > 2 { ", …" } else { "" },
        if explicit {
            ""
        } else {
            " (or name their registry with IMGPULL_REGISTRY)"
        }
    )))
}

/// One registry client for the whole command: mirrors, insecure registries and CA files from
/// the config file and flags, and a keychain that prefers the command line's credential (see
/// [`explicit_credential`]), then `IMGPULL_USERNAME`/`IMGPULL_PASSWORD`, both for the
/// registry of the images named only (see [`credential_registry`]), then the docker config and
/// the containers auth files.
pub fn registry_client(
    args: &RegistryArgs,
    config: &ConfigFile,
    registries: &[&str],
) -> Result<Client, CliError> {
    // Refused before the password is read from standard input.
    credential_registry(registries, args.username.is_some(), env_var)?;
    let credential = explicit_credential(args)?;
    client_with_credential(args, config, registries, credential.as_ref())
}

/// [`registry_client`] with the command line's credential already read.
pub fn client_with_credential(
    args: &RegistryArgs,
    config: &ConfigFile,
    registries: &[&str],
    credential: Option<&Credential>,
) -> Result<Client, CliError> {
    let settings = RegistrySettings::merge(config, args)?;
    let mut keychain = Keychain::from_environment();
    if let Some(registry) = credential_registry(registries, credential.is_some(), env_var)? {
        keychain = keychain.with_environment_registry(registry);
        if let Some(credential) = credential {
            keychain = keychain.with_explicit(registry, credential.clone());
        }
    }
    let mut builder = ClientBuilder::new().keychain(keychain);
    for (registry, urls) in &settings.mirrors {
        for url in urls {
            builder = builder.mirror(registry, url);
        }
    }
    for registry in &settings.insecure_registries {
        builder = builder.insecure_registry(registry);
    }
    for file in &settings.ca_files {
        builder = builder.ca_file(file);
    }
    Ok(builder.build()?)
}

/// This process's environment variable `name`, if it is set and Unicode.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_belong_to_the_one_registry_of_the_images() {
        let no_env = |_: &str| None;
        let env_credential = |name: &str| {
            [(USERNAME_ENV, "ci"), (PASSWORD_ENV, "pw")]
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        let one = ["ghcr.io", "ghcr.io"];
        assert_eq!(
            credential_registry(&one, true, env_credential).expect("one registry"),
            Some("ghcr.io")
        );
        assert_eq!(credential_registry(&[], true, no_env).expect("none"), None);

        let several = ["ghcr.io", "docker.io", "ghcr.io", "quay.io"];
        let error = credential_registry(&several, true, no_env).expect_err("ambiguous");
        assert_eq!(error.kind().exit_code(), 2);
        let line = error.line();
        assert!(line.contains("--username"), "{line}");
        assert!(line.contains("on 3 (docker.io, ghcr.io, …)"), "{line}");
        assert!(line.contains("imgpull login REGISTRY"), "{line}");

        let error = credential_registry(&several, false, env_credential).expect_err("ambiguous");
        assert!(
            error.line().contains("IMGPULL_REGISTRY"),
            "{}",
            error.line()
        );
        // Without credentials, or with IMGPULL_REGISTRY naming theirs, several are fine.
        assert_eq!(
            credential_registry(&several, false, no_env).expect("ok"),
            None
        );
        let named = |name: &str| {
            if name == REGISTRY_ENV {
                Some("ghcr.io".to_owned())
            } else {
                env_credential(name)
            }
        };
        assert_eq!(
            credential_registry(&several, false, named).expect("ok"),
            None
        );
    }

    #[test]
    fn platform_precedence() {
        let config = ConfigFile::parse("platform = \"linux/arm64\"").expect("valid");
        assert_eq!(
            platform_choice(Some("linux/arm/v7"), false, &config).expect("valid"),
            PlatformChoice::Exact(Platform::parse("linux/arm/v7").expect("valid"))
        );
        assert_eq!(
            platform_choice(None, false, &config).expect("valid"),
            PlatformChoice::Exact(Platform::parse("linux/arm64").expect("valid"))
        );
        assert_eq!(
            platform_choice(None, true, &config).expect("valid"),
            PlatformChoice::All
        );
        assert_eq!(
            platform_choice(None, false, &ConfigFile::default()).expect("valid"),
            PlatformChoice::Host
        );
        let error = platform_choice(Some("plan10"), false, &config).expect_err("invalid");
        assert_eq!(error.kind(), crate::error::ErrorKind::Usage);
    }

    #[test]
    fn bad_references_are_usage_errors() {
        for text in ["", "Nginx", "nginx:bad tag", "a@sha256:123"] {
            let error = parse_reference(text).expect_err(text);
            assert_eq!(error.kind().exit_code(), 2, "{text}");
        }
    }

    #[test]
    fn username_without_password_is_a_usage_error() {
        let args = RegistryArgs {
            username: Some("ci".to_owned()),
            ..RegistryArgs::default()
        };
        if std::env::var(PASSWORD_ENV).is_err() {
            let error = explicit_credential(&args).expect_err("no password");
            assert_eq!(error.kind(), crate::error::ErrorKind::Usage);
        }
    }

    #[test]
    fn invalid_client_options_are_usage_errors() {
        let args = RegistryArgs {
            ca_files: vec!["/nonexistent/ca.pem".into()],
            ..RegistryArgs::default()
        };
        let error =
            registry_client(&args, &ConfigFile::default(), &[]).expect_err("missing CA file");
        assert_eq!(error.kind(), crate::error::ErrorKind::Usage);
        assert!(error.line().contains("/nonexistent/ca.pem"));
    }
}
