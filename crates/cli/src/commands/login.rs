//! `imgpull login REGISTRY` and `imgpull logout REGISTRY`: credentials in the docker config,
//! stored as docker stores them (base64 `auth`, or the configured credential helper), so that
//! every imgpull command (and docker, podman, skopeo) reads them back.

use std::path::PathBuf;

use imgpull_auth::{Credential, Keychain, LoginStorage, remove_login, store_login};

use crate::cli::{LoginArgs, LogoutArgs};
use crate::config::ConfigFile;
use crate::error::CliError;
use crate::ui::Ui;

/// Checks the credential given with `--username` and a password against `args.server`, as
/// `docker login` does, then stores it.
pub async fn login(args: &LoginArgs, ui: Ui) -> Result<(), CliError> {
    let credential = super::explicit_credential(&args.registry)?;
    let Some(Credential::Basic { username, password }) = &credential else {
        return Err(CliError::Usage(
            "login needs --username and a password (--password-stdin, --password or IMGPULL_PASSWORD)".to_owned(),
        ));
    };
    let config = ConfigFile::load(args.registry.config.as_deref())?;
    let client = super::client_with_credential(
        &args.registry,
        &config,
        &[&args.server],
        credential.as_ref(),
    )?;
    client.check_credentials(&args.server).await?;
    let keychain = Keychain::from_environment();
    let docker_config = docker_config(&keychain)?;
    let storage = store_login(
        &docker_config,
        &args.server,
        username,
        password,
        keychain.helper_search_path(),
    )?;
    match storage {
        LoginStorage::Helper { helper } => {
            ui.note(&format!("Login Succeeded: stored in docker-credential-{helper}"));
        }
        LoginStorage::ConfigFile { path } => ui.note(&format!(
            "Login Succeeded: stored unencrypted in {} (configure a credential helper to avoid this)",
            path.display()
        )),
        _ => ui.note("Login Succeeded"),
    }
    Ok(())
}

/// Removes the stored credential of `args.server`.
pub fn logout(args: &LogoutArgs, ui: Ui) -> Result<(), CliError> {
    let keychain = Keychain::from_environment();
    let config = docker_config(&keychain)?;
    if remove_login(&config, &args.server, keychain.helper_search_path())? {
        ui.note(&format!("Removed login credentials for {}", args.server));
    } else {
        ui.note(&format!("Not logged in to {}", args.server));
    }
    Ok(())
}

/// The docker config file: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
fn docker_config(keychain: &Keychain) -> Result<PathBuf, CliError> {
    keychain.docker_config().map(PathBuf::from).ok_or_else(|| {
        CliError::Usage("no docker config location: set DOCKER_CONFIG or HOME".to_owned())
    })
}
