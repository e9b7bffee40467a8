//! Keychain, auth file, credential helper and login tests, on temporary files.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tempfile::TempDir;

use super::*;
use crate::Secret;

const PASSWORD: &str = "pa55-w0rd-secret";

fn b64(text: &str) -> String {
    STANDARD.encode(text)
}

fn write_json(path: &Path, value: &Value) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn basic(username: &str, password: &str) -> Credential {
    Credential::basic(username, password)
}

/// A docker config with one `auth` entry per (key, user:password).
fn docker_config(dir: &TempDir, entries: &[(&str, &str)]) -> PathBuf {
    let auths: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(key, pair)| ((*key).to_owned(), json!({ "auth": b64(pair) })))
        .collect();
    let path = dir.path().join("docker/config.json");
    write_json(&path, &json!({ "auths": auths }));
    path
}

#[test]
fn empty_keychain_is_anonymous() {
    let keychain = Keychain::new();
    assert_eq!(keychain.resolve("ghcr.io").unwrap(), Credential::Anonymous);
    assert_eq!(keychain.resolve_with_source("ghcr.io").unwrap(), None);
}

#[test]
fn sources_are_tried_in_order() {
    let dir = TempDir::new().unwrap();
    let config = docker_config(&dir, &[("ghcr.io", "docker-user:docker-pass")]);
    let auth_file = dir.path().join("containers/auth.json");
    write_json(
        &auth_file,
        &json!({ "auths": { "ghcr.io": { "auth": b64("podman-user:podman-pass") },
                            "quay.io": { "auth": b64("quay-user:quay-pass") } } }),
    );
    let files_only = Keychain::new()
        .with_docker_config(&config)
        .with_auth_file(&auth_file);
    let with_env = files_only
        .clone()
        .with_env(env_of(&[
            (USERNAME_ENV, "env-user"),
            (PASSWORD_ENV, "env-pass"),
        ]))
        .with_environment_registry("ghcr.io");
    let with_explicit = with_env
        .clone()
        .with_explicit("ghcr.io", basic("cli-user", "cli-pass"));

    assert_eq!(
        with_explicit.resolve_with_source("ghcr.io").unwrap(),
        Some((basic("cli-user", "cli-pass"), CredentialSource::Explicit))
    );
    assert_eq!(
        with_env.resolve_with_source("ghcr.io").unwrap(),
        Some((basic("env-user", "env-pass"), CredentialSource::Environment))
    );
    // Explicit and environment credentials apply only to their registry.
    assert_eq!(
        with_explicit.resolve_with_source("quay.io").unwrap(),
        Some((
            basic("quay-user", "quay-pass"),
            CredentialSource::AuthFile {
                path: auth_file.clone()
            }
        ))
    );
    assert_eq!(
        files_only.resolve_with_source("ghcr.io").unwrap(),
        Some((
            basic("docker-user", "docker-pass"),
            CredentialSource::AuthFile {
                path: config.clone()
            }
        ))
    );
    assert_eq!(
        files_only.resolve_with_source("quay.io").unwrap(),
        Some((
            basic("quay-user", "quay-pass"),
            CredentialSource::AuthFile { path: auth_file }
        ))
    );
    assert_eq!(files_only.resolve("gcr.io").unwrap(), Credential::Anonymous);
}

#[test]
fn auth_files_are_read_in_the_order_given() {
    let dir = TempDir::new().unwrap();
    let first = dir.path().join("first.json");
    let second = dir.path().join("second.json");
    write_json(
        &first,
        &json!({ "auths": { "r.example": { "auth": b64("one:1") } } }),
    );
    write_json(
        &second,
        &json!({ "auths": { "r.example": { "auth": b64("two:2") } } }),
    );
    let keychain = Keychain::new()
        .with_docker_config(dir.path().join("missing.json"))
        .with_auth_file(dir.path().join("also-missing.json"))
        .with_auth_file(&first)
        .with_auth_file(&second);
    assert_eq!(keychain.resolve("r.example").unwrap(), basic("one", "1"));
}

#[test]
fn environment_needs_both_variables() {
    let only_user = Keychain::new().with_env(env_of(&[(USERNAME_ENV, "u")]));
    let error = only_user.resolve("ghcr.io").unwrap_err();
    assert!(matches!(
        error,
        AuthError::IncompleteEnvironment {
            present: USERNAME_ENV,
            missing: PASSWORD_ENV
        }
    ));
    let only_password = Keychain::new().with_env(env_of(&[(PASSWORD_ENV, PASSWORD)]));
    let error = only_password.resolve("ghcr.io").unwrap_err();
    assert!(error.to_string().contains("IMGPULL_PASSWORD is set"));
    assert!(!error.to_string().contains(PASSWORD));
    let empty = Keychain::new().with_env(env_of(&[(USERNAME_ENV, ""), (PASSWORD_ENV, "")]));
    assert_eq!(empty.resolve("ghcr.io").unwrap(), Credential::Anonymous);
}

#[test]
fn docker_hub_keys_all_match_every_hub_name() {
    for key in [
        "https://index.docker.io/v1/",
        "index.docker.io",
        "docker.io",
        "registry-1.docker.io",
        "https://registry-1.docker.io/v2/",
    ] {
        let dir = TempDir::new().unwrap();
        let config = docker_config(&dir, &[(key, "hub:pw")]);
        let keychain = Keychain::new().with_docker_config(config);
        for registry in ["docker.io", "registry-1.docker.io", "index.docker.io"] {
            assert_eq!(
                keychain.resolve(registry).unwrap(),
                basic("hub", "pw"),
                "key {key}, registry {registry}"
            );
        }
        assert_eq!(keychain.resolve("ghcr.io").unwrap(), Credential::Anonymous);
    }
}

#[test]
fn keys_match_with_or_without_scheme_and_path_and_ports_exactly() {
    let dir = TempDir::new().unwrap();
    let config = docker_config(
        &dir,
        &[
            ("https://ghcr.io", "gh:1"),
            ("quay.io/v1/", "quay:2"),
            ("localhost:5000", "five:3"),
            ("http://localhost:5001/", "five-one:4"),
        ],
    );
    let keychain = Keychain::new().with_docker_config(config);
    assert_eq!(keychain.resolve("ghcr.io").unwrap(), basic("gh", "1"));
    assert_eq!(keychain.resolve("GHCR.io").unwrap(), basic("gh", "1"));
    assert_eq!(keychain.resolve("quay.io").unwrap(), basic("quay", "2"));
    assert_eq!(
        keychain.resolve("localhost:5000").unwrap(),
        basic("five", "3")
    );
    assert_eq!(
        keychain.resolve("localhost:5001").unwrap(),
        basic("five-one", "4")
    );
    assert_eq!(
        keychain.resolve("localhost").unwrap(),
        Credential::Anonymous
    );
    assert_eq!(
        keychain.resolve("localhost:5002").unwrap(),
        Credential::Anonymous
    );
}

#[test]
fn exact_key_beats_docker_server_url_beats_other_aliases() {
    let dir = TempDir::new().unwrap();
    let config = docker_config(
        &dir,
        &[
            ("docker.io", "plain:1"),
            ("https://index.docker.io/v1/", "server:2"),
            ("index.docker.io", "index:3"),
        ],
    );
    let keychain = Keychain::new().with_docker_config(config);
    assert_eq!(keychain.resolve("docker.io").unwrap(), basic("plain", "1"));
    assert_eq!(
        keychain.resolve("registry-1.docker.io").unwrap(),
        basic("server", "2")
    );
}

#[test]
fn containers_namespaced_keys_do_not_apply_to_the_whole_registry() {
    let dir = TempDir::new().unwrap();
    let auth_file = dir.path().join("auth.json");
    write_json(
        &auth_file,
        &json!({ "auths": {
            "quay.io/team": { "auth": b64("team:1") },
            "https://ghcr.io/": { "auth": b64("gh:2") },
        } }),
    );
    let keychain = Keychain::new().with_auth_file(&auth_file);
    assert_eq!(keychain.resolve("quay.io").unwrap(), Credential::Anonymous);
    assert_eq!(keychain.resolve("ghcr.io").unwrap(), basic("gh", "2"));
}

#[test]
fn auths_entry_kinds() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("config.json");
    write_json(
        &config,
        &json!({ "auths": {
            "basic.example": { "auth": b64("user:pa:ss"), "email": "x@example.com" },
            "unpadded.example": { "auth": STANDARD.encode("ab:c").trim_end_matches('=') },
            "fields.example": { "username": "u", "password": "p" },
            "identity.example": { "auth": b64("<token>:"), "identitytoken": "refresh-1" },
            "registry.example": { "registrytoken": "bearer-1" },
            "empty.example": {},
            "blank.example": { "auth": "" },
            "colon.example": { "auth": b64(":") },
        } }),
    );
    let keychain = Keychain::new().with_docker_config(&config);
    let resolve = |registry| keychain.resolve(registry).unwrap();
    assert_eq!(resolve("basic.example"), basic("user", "pa:ss"));
    assert_eq!(resolve("unpadded.example"), basic("ab", "c"));
    assert_eq!(resolve("fields.example"), basic("u", "p"));
    assert_eq!(
        resolve("identity.example"),
        Credential::IdentityToken(Secret::new("refresh-1"))
    );
    assert_eq!(
        resolve("registry.example"),
        Credential::RegistryToken(Secret::new("bearer-1"))
    );
    for registry in ["empty.example", "blank.example", "colon.example"] {
        assert_eq!(resolve(registry), Credential::Anonymous, "{registry}");
    }
}

#[test]
fn broken_files_and_entries_are_errors_naming_the_file_never_the_secret() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("config.json");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            format!(r#"{{"auths":{{"r.example":{{"auth":"!!{PASSWORD}"}}}}}}"#).into_bytes(),
            "not base64",
        ),
        (
            format!(
                r#"{{"auths":{{"r.example":{{"auth":"{}"}}}}}}"#,
                b64(PASSWORD)
            )
            .into_bytes(),
            "not username:password",
        ),
        (
            format!(r#"{{"auths":{{"r.example":{{"password":7,"username":"{PASSWORD}"}}}}}}"#)
                .into_bytes(),
            "not a string",
        ),
        (
            format!(r#"{{"auths":{{"r.example":"{PASSWORD}"}}}}"#).into_bytes(),
            "not a JSON object",
        ),
        (
            format!(r#"{{"auths":["{PASSWORD}"]}}"#).into_bytes(),
            "auths is not a JSON object",
        ),
        (
            format!(r#"{{"auths": {PASSWORD}"#).into_bytes(),
            "not valid JSON",
        ),
        (format!(r#"["{PASSWORD}"]"#).into_bytes(), "top level"),
        (
            format!(r#"{{"credsStore":["{PASSWORD}"]}}"#).into_bytes(),
            "credsStore is not a string",
        ),
    ];
    for (content, reason) in cases {
        fs::write(&path, &content).unwrap();
        let error = Keychain::new()
            .with_docker_config(&path)
            .resolve("r.example")
            .unwrap_err();
        let message = format!("{error} / {error:?}");
        assert!(message.contains(reason), "{message}");
        assert!(message.contains("config.json"), "{message}");
        assert!(!message.contains(PASSWORD), "{message}");
        assert!(!message.contains(&b64(PASSWORD)), "{message}");
    }
}

#[test]
fn empty_config_file_is_an_empty_config() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("config.json");
    fs::write(&path, "\n").unwrap();
    let keychain = Keychain::new().with_docker_config(&path);
    assert_eq!(keychain.resolve("ghcr.io").unwrap(), Credential::Anonymous);
}

#[cfg(unix)]
#[test]
fn unreadable_config_is_an_error_naming_it() {
    let dir = TempDir::new().unwrap();
    // A directory where the file should be: reading it fails on every platform and user.
    let path = dir.path().join("config.json");
    fs::create_dir(&path).unwrap();
    let error = Keychain::new()
        .with_docker_config(&path)
        .resolve("ghcr.io")
        .unwrap_err();
    assert!(matches!(&error, AuthError::ReadFile { path: p, .. } if *p == path));
}

#[test]
fn from_env_derives_every_path() {
    let env = env_of(&[
        ("DOCKER_CONFIG", "/cfg/docker"),
        ("REGISTRY_AUTH_FILE", "/cfg/auth.json"),
        ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ("PATH", "/opt/helpers"),
    ]);
    let keychain = Keychain::from_env(env, Some(Path::new("/home/u")));
    assert_eq!(
        keychain.docker_config(),
        Some(Path::new("/cfg/docker/config.json"))
    );
    assert_eq!(
        keychain.auth_files,
        [
            PathBuf::from("/cfg/auth.json"),
            PathBuf::from("/run/user/1000/containers/auth.json"),
            PathBuf::from("/home/u/.config/containers/auth.json"),
        ]
    );
    assert_eq!(
        keychain.helper_search_path(),
        Some(OsString::from("/opt/helpers").as_os_str())
    );

    let bare = Keychain::from_env(
        env_of(&[("XDG_CONFIG_HOME", "/xdg")]),
        Some(Path::new("/h")),
    );
    assert_eq!(
        bare.docker_config(),
        Some(Path::new("/h/.docker/config.json"))
    );
    assert_eq!(
        bare.auth_files,
        [PathBuf::from("/xdg/containers/auth.json")]
    );
    assert_eq!(bare.helper_search_path(), None);

    let homeless = Keychain::from_env(env_of(&[]), None);
    assert_eq!(homeless.docker_config(), None);
    assert!(homeless.auth_files.is_empty());
}

#[test]
fn from_env_reads_the_environment_credentials() {
    let keychain = Keychain::from_env(
        env_of(&[
            (USERNAME_ENV, "ci"),
            (PASSWORD_ENV, PASSWORD),
            (REGISTRY_ENV, "ghcr.io"),
        ]),
        None,
    );
    assert_eq!(
        keychain.resolve_with_source("ghcr.io").unwrap(),
        Some((basic("ci", PASSWORD), CredentialSource::Environment))
    );
}

#[test]
fn environment_credentials_belong_to_one_registry_only() {
    let env = [(USERNAME_ENV, "ci"), (PASSWORD_ENV, PASSWORD)];
    let environment = Some((basic("ci", PASSWORD), CredentialSource::Environment));
    // Unscoped, they go nowhere: not to Docker Hub, not to a mirror, not to the registry.
    let unscoped = Keychain::new().with_env(env_of(&env));
    for host in ["corp.example", "registry-1.docker.io", "mirror.example"] {
        assert_eq!(unscoped.resolve_with_source(host).unwrap(), None, "{host}");
    }
    // Scoped by the caller (the command line's registry): that registry's hosts only.
    let hub = unscoped.clone().with_environment_registry("docker.io");
    assert_eq!(
        hub.resolve_with_source("registry-1.docker.io").unwrap(),
        environment
    );
    for host in ["corp.example", "mirror.example", "auth.docker.io"] {
        assert_eq!(hub.resolve_with_source(host).unwrap(), None, "{host}");
    }
    // IMGPULL_REGISTRY names the owner and wins over the caller's registry.
    let named = Keychain::new()
        .with_env(env_of(&[
            (USERNAME_ENV, "ci"),
            (PASSWORD_ENV, PASSWORD),
            (REGISTRY_ENV, "https://Corp.Example:5000/v2/"),
        ]))
        .with_environment_registry("docker.io");
    assert_eq!(
        named.resolve_with_source("corp.example:5000").unwrap(),
        environment
    );
    assert_eq!(named.resolve_with_source("docker.io").unwrap(), None);
    assert_eq!(named.resolve_with_source("corp.example").unwrap(), None);
}

#[test]
fn keychain_debug_hides_explicit_secrets() {
    let keychain = Keychain::new()
        .with_explicit("ghcr.io", basic("alice", PASSWORD))
        .with_explicit("quay.io", Credential::IdentityToken(Secret::new(PASSWORD)));
    let debug = format!("{keychain:?}");
    assert!(debug.contains("alice"), "{debug}");
    assert!(!debug.contains(PASSWORD), "{debug}");
}

#[test]
fn credential_source_display() {
    assert_eq!(CredentialSource::Explicit.to_string(), "the command line");
    assert_eq!(
        CredentialSource::Environment.to_string(),
        "IMGPULL_USERNAME and IMGPULL_PASSWORD"
    );
    assert_eq!(
        CredentialSource::Helper {
            helper: "pass".to_owned(),
            path: PathBuf::from("/c/config.json")
        }
        .to_string(),
        "credential helper docker-credential-pass (configured in /c/config.json)"
    );
}

#[test]
fn login_writes_base64_auth_and_keeps_other_keys() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("docker/config.json");
    write_json(
        &config,
        &json!({
            "auths": {
                "docker.io": { "auth": b64("old:old") },
                "ghcr.io": { "auth": b64("gh:1") },
            },
            "HttpHeaders": { "User-Agent": "Docker-Client" },
            "psFormat": "table {{.ID}}",
        }),
    );
    let stored = store_login(
        &config,
        "registry-1.docker.io",
        "alice",
        &Secret::new(PASSWORD),
        None,
    )
    .unwrap();
    assert_eq!(
        stored,
        LoginStorage::ConfigFile {
            path: config.clone()
        }
    );
    assert_eq!(
        read_json(&config),
        json!({
            "auths": {
                "https://index.docker.io/v1/": { "auth": b64(&format!("alice:{PASSWORD}")) },
                "ghcr.io": { "auth": b64("gh:1") },
            },
            "HttpHeaders": { "User-Agent": "Docker-Client" },
            "psFormat": "table {{.ID}}",
        })
    );
    let text = fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("\n\t\"auths\""),
        "tab-indented like docker: {text}"
    );
    let keychain = Keychain::new().with_docker_config(&config);
    assert_eq!(
        keychain.resolve("docker.io").unwrap(),
        basic("alice", PASSWORD)
    );

    // No temporary file is left behind.
    let names: Vec<_> = fs::read_dir(config.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, [OsString::from("config.json")]);
}

#[test]
fn login_creates_a_missing_config_and_logout_removes_every_matching_key() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("new/.docker/config.json");
    store_login(&config, "localhost:5000", "bob", &Secret::new("pw"), None).unwrap();
    assert_eq!(
        read_json(&config),
        json!({ "auths": { "localhost:5000": { "auth": b64("bob:pw") } } })
    );

    let mut value = read_json(&config);
    value["auths"]["http://localhost:5000/v1/"] = json!({ "auth": b64("bob:old") });
    value["auths"]["localhost:5001"] = json!({ "auth": b64("keep:me") });
    write_json(&config, &value);
    assert!(remove_login(&config, "localhost:5000", None).unwrap());
    assert_eq!(
        read_json(&config),
        json!({ "auths": { "localhost:5001": { "auth": b64("keep:me") } } })
    );
    assert!(!remove_login(&config, "localhost:5000", None).unwrap());
    assert!(!remove_login(&dir.path().join("absent.json"), "localhost:5000", None).unwrap());
}

#[cfg(unix)]
#[test]
fn login_writes_mode_0600_and_private_directories() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("fresh/config.json");
    store_login(&config, "ghcr.io", "u", &Secret::new("p"), None).unwrap();
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(config.parent().unwrap()), 0o700);

    // An existing world-readable file is replaced by a 0600 one.
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
    store_login(&config, "ghcr.io", "u", &Secret::new("p2"), None).unwrap();
    assert_eq!(mode(&config), 0o600);
}

#[cfg(unix)]
#[test]
fn login_writes_through_a_symlinked_config() {
    let dir = TempDir::new().unwrap();
    let real = dir.path().join("dotfiles/docker-config.json");
    write_json(&real, &json!({ "credsStore": "" }));
    let link = dir.path().join("config.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    store_login(&link, "ghcr.io", "u", &Secret::new("p"), None).unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        read_json(&real)["auths"]["ghcr.io"],
        json!({ "auth": b64("u:p") })
    );
}

#[test]
fn login_refuses_usernames_basic_auth_cannot_carry() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("config.json");
    for username in ["", "a:b"] {
        let error =
            store_login(&config, "ghcr.io", username, &Secret::new(PASSWORD), None).unwrap_err();
        assert!(
            matches!(error, AuthError::InvalidUsername { .. }),
            "{error}"
        );
        assert!(!error.to_string().contains(PASSWORD));
    }
    assert!(!config.exists());
}

#[test]
fn login_refuses_a_config_that_is_not_an_object() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("config.json");
    fs::write(&config, r#"{"auths": "nope"}"#).unwrap();
    let error = store_login(&config, "ghcr.io", "u", &Secret::new(PASSWORD), None).unwrap_err();
    assert!(
        error.to_string().contains("auths is not a JSON object"),
        "{error}"
    );
    assert_eq!(fs::read_to_string(&config).unwrap(), r#"{"auths": "nope"}"#);
}

#[cfg(unix)]
mod helpers {
    //! A fake `docker-credential-*` helper: a shell script keeping its state in files next to
    //! itself, one per server URL. Every test uses its own server names.
    //!
    //! The scripts are written once, before any test can spawn a process: writing an
    //! executable while another thread forks can make `exec` fail with "text file busy".

    use std::os::unix::fs::PermissionsExt as _;
    use std::sync::OnceLock;

    use super::*;

    const FAKE_HELPER: &str = r#"#!/bin/sh
dir=$(dirname "$0")
IFS= read -r input || true
case "$1" in
get)
    case "$input" in
    https://index.docker.io/v1/)
        printf '{"ServerURL":"%s","Username":"hub-user","Secret":"hub-secret"}' "$input" ;;
    identity.example)
        printf '{"ServerURL":"identity.example","Username":"<token>","Secret":"refresh-secret"}' ;;
    fail.example)
        echo "the keyring is locked" >&2; exit 1 ;;
    garbage.example)
        echo "helper-output-pa55-w0rd-secret" ;;
    *)
        if [ -f "$dir/stored-$input" ]; then cat "$dir/stored-$input"
        else echo "credentials not found in native keychain"; exit 1; fi ;;
    esac ;;
store)
    server=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
    if [ "$server" = store-fail.example ]; then printf 'cannot store %s\n' "$input"; exit 1; fi
    printf '%s' "$input" > "$dir/stored-$server" ;;
erase)
    if [ -f "$dir/stored-$input" ]; then rm "$dir/stored-$input"
    else echo "credentials not found in native keychain"; exit 1; fi ;;
*)
    exit 2 ;;
esac
"#;

    const EMPTY_HELPER: &str =
        "#!/bin/sh\necho 'credentials not found in native keychain'\nexit 1\n";

    /// The directory holding `docker-credential-fake` and `docker-credential-empty`.
    fn helper_dir() -> &'static Path {
        static DIR: OnceLock<TempDir> = OnceLock::new();
        DIR.get_or_init(|| {
            let dir = TempDir::new().unwrap();
            for (name, script) in [("fake", FAKE_HELPER), ("empty", EMPTY_HELPER)] {
                let path = dir.path().join(format!("docker-credential-{name}"));
                fs::write(&path, script).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            }
            dir
        })
        .path()
    }

    fn stored(server: &str) -> PathBuf {
        helper_dir().join(format!("stored-{server}"))
    }

    fn keychain_for(config: &Path) -> Keychain {
        Keychain::new()
            .with_docker_config(config)
            .with_helper_search_path(helper_dir())
    }

    #[test]
    fn cred_helpers_entry_wins_over_creds_store_and_auths() {
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("config.json");
        write_json(
            &config,
            &json!({
                "auths": {
                    "https://index.docker.io/v1/": { "auth": b64("file-user:file-pass") },
                    "plain.example": { "auth": b64("plain:pw") },
                },
                "credHelpers": { "docker.io": "fake", "identity.example": "fake" },
                "credsStore": "empty",
            }),
        );
        let keychain = keychain_for(&config);
        assert_eq!(
            keychain
                .resolve_with_source("registry-1.docker.io")
                .unwrap(),
            Some((
                basic("hub-user", "hub-secret"),
                CredentialSource::Helper {
                    helper: "fake".to_owned(),
                    path: config.clone()
                }
            ))
        );
        assert_eq!(
            keychain.resolve("identity.example").unwrap(),
            Credential::IdentityToken(Secret::new("refresh-secret"))
        );
        // credsStore has nothing for it: the auths entry is used.
        assert_eq!(
            keychain.resolve_with_source("plain.example").unwrap(),
            Some((
                basic("plain", "pw"),
                CredentialSource::AuthFile {
                    path: config.clone()
                }
            ))
        );
        assert_eq!(
            keychain.resolve("nothing.example").unwrap(),
            Credential::Anonymous
        );
    }

    #[test]
    fn creds_store_is_asked_with_the_server_url() {
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("config.json");
        write_json(
            &config,
            &json!({ "auths": { "https://index.docker.io/v1/": {} }, "credsStore": "fake" }),
        );
        let keychain = keychain_for(&config);
        assert_eq!(
            keychain.resolve("docker.io").unwrap(),
            basic("hub-user", "hub-secret")
        );
    }

    #[test]
    fn helper_failures_are_errors_naming_the_helper() {
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("config.json");
        write_json(&config, &json!({ "credsStore": "fake" }));
        let keychain = keychain_for(&config);

        let error = keychain.resolve("fail.example").unwrap_err();
        let message = error.to_string();
        assert!(matches!(
            error,
            AuthError::HelperFailed { action: "get", .. }
        ));
        assert!(message.contains("docker-credential-fake"), "{message}");
        assert!(message.contains("the keyring is locked"), "{message}");
        assert!(message.contains("fail.example"), "{message}");

        let error = keychain.resolve("garbage.example").unwrap_err();
        let message = format!("{error} {error:?}");
        assert!(matches!(error, AuthError::HelperOutput { .. }), "{message}");
        assert!(!message.contains(PASSWORD), "{message}");
    }

    #[test]
    fn missing_or_unsafe_helpers_are_errors() {
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("config.json");
        write_json(&config, &json!({ "credsStore": "desktop" }));
        let error = keychain_for(&config).resolve("ghcr.io").unwrap_err();
        assert!(
            matches!(&error, AuthError::HelperNotFound { helper, path } if helper == "desktop" && *path == config),
            "{error}"
        );
        assert!(error.to_string().contains("docker-credential-desktop"));

        write_json(
            &config,
            &json!({ "credHelpers": { "ghcr.io": "../../bin/sh" } }),
        );
        let error = keychain_for(&config).resolve("ghcr.io").unwrap_err();
        assert!(
            matches!(error, AuthError::InvalidHelperName { .. }),
            "{error}"
        );
    }

    #[test]
    fn non_executable_files_are_not_helpers() {
        let dir = TempDir::new().unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).unwrap();
        fs::write(bin.join("docker-credential-plain"), "#!/bin/sh\n").unwrap();
        let config = dir.path().join("config.json");
        write_json(&config, &json!({ "credsStore": "plain" }));
        let error = Keychain::new()
            .with_docker_config(&config)
            .with_helper_search_path(&bin)
            .resolve("ghcr.io")
            .unwrap_err();
        assert!(matches!(error, AuthError::HelperNotFound { .. }), "{error}");
    }

    #[test]
    fn helpers_are_searched_in_every_path_entry() {
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("config.json");
        write_json(&config, &json!({ "credsStore": "fake" }));
        let search = std::env::join_paths([dir.path(), helper_dir()]).unwrap();
        let keychain = Keychain::new()
            .with_docker_config(&config)
            .with_helper_search_path(search);
        assert_eq!(
            keychain.resolve("docker.io").unwrap(),
            basic("hub-user", "hub-secret")
        );
    }

    #[test]
    fn failed_helper_store_does_not_leak_the_password() {
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("config.json");
        write_json(&config, &json!({ "credsStore": "fake" }));
        // The second password is JSON-escaped in the helper's input, and echoed that way.
        for password in [PASSWORD, r#"quo"te\slash-pa55"#] {
            let error = store_login(
                &config,
                "store-fail.example",
                "dave",
                &Secret::new(password),
                Some(helper_dir().as_os_str()),
            )
            .unwrap_err();
            let message = format!("{error} {error:?}");
            let is_store_failure = matches!(
                error,
                AuthError::HelperFailed {
                    action: "store",
                    ..
                }
            );
            assert!(is_store_failure, "{message}");
            assert!(message.contains("cannot store"), "{message}");
            assert!(message.contains("<redacted>"), "{message}");
            assert!(!message.contains("pa55"), "{message}");
        }
        // Nothing was written.
        assert_eq!(read_json(&config), json!({ "credsStore": "fake" }));
    }

    #[test]
    fn login_and_logout_through_a_helper() {
        let server = "login-helper.example:5443";
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("config.json");
        write_json(
            &config,
            &json!({ "credHelpers": { server: "fake" }, "auths": { server: { "auth": b64("old:old") } } }),
        );
        let search = helper_dir().as_os_str();
        let stored_at = store_login(
            &config,
            server,
            "carol",
            &Secret::new(PASSWORD),
            Some(search),
        )
        .unwrap();
        assert_eq!(
            stored_at,
            LoginStorage::Helper {
                helper: "fake".to_owned()
            }
        );

        // The helper got the credentials; the file holds an empty entry, no secret.
        let helper_state: Value = read_json(&stored(server));
        assert_eq!(
            helper_state,
            json!({ "ServerURL": server, "Username": "carol", "Secret": PASSWORD })
        );
        let file = fs::read_to_string(&config).unwrap();
        assert!(!file.contains(&b64(&format!("carol:{PASSWORD}"))), "{file}");
        assert_eq!(read_json(&config)["auths"], json!({ server: {} }));

        let keychain = keychain_for(&config);
        assert_eq!(keychain.resolve(server).unwrap(), basic("carol", PASSWORD));

        assert!(remove_login(&config, server, Some(search)).unwrap());
        assert!(!stored(server).exists());
        assert_eq!(read_json(&config)["auths"], json!({}));
        assert_eq!(keychain.resolve(server).unwrap(), Credential::Anonymous);
        // Nothing left: the helper says "not found", which is not an error.
        assert!(!remove_login(&config, server, Some(search)).unwrap());
    }
}

#[test]
fn keychain_is_shareable() {
    fn assert_shareable<T: Send + Sync + Clone + 'static>() {}
    assert_shareable::<Keychain>();
}
