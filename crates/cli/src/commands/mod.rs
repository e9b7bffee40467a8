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

use imgpull_auth::{Credential, Keychain, PASSWORD_ENV, Secret};
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

/// The platform choice: `--all-platforms`, else the flag, else the config file, else the host.
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

/// One registry client for the whole command: mirrors, insecure registries and CA files from
/// the config file and flags, and a keychain that prefers the command line's credential (see
/// [`explicit_credential`]) for `registries`, then `IMGPULL_USERNAME`/`IMGPULL_PASSWORD`, the
/// docker config and the containers auth files.
pub fn registry_client(
    args: &RegistryArgs,
    config: &ConfigFile,
    registries: &[&str],
) -> Result<Client, CliError> {
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
    if let Some(credential) = credential {
        for registry in registries {
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

#[cfg(test)]
mod tests {
    use super::*;

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
