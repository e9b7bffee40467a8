//! Secrets and credentials whose `Debug` and `Display` never show the secret part.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A secret string: a password, a token, or an `Authorization` header value built from one.
///
/// `Debug` prints `Secret(<redacted>)` and there is no `Display`; the only way to read the
/// value is [`Secret::expose`], which makes every use visible in the code.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, to be put on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// The credential used to authenticate to one registry.
///
/// `Debug` and `Display` show the kind and the username, never a password or token.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Credential {
    /// No credential: anonymous token requests, no `Authorization` header.
    #[default]
    Anonymous,
    /// A username and password (or a personal access token used as a password).
    Basic {
        /// The username, sent as `account=` in token requests.
        username: String,
        /// The password.
        password: Secret,
    },
    /// An OAuth2 refresh token (docker's `identitytoken`), exchanged at the realm with the
    /// `refresh_token` grant.
    IdentityToken(Secret),
    /// A bearer token for the registry itself (docker's `registrytoken`), sent as
    /// `Authorization: Bearer …` without any token request (see [`bearer_authorization`]).
    RegistryToken(Secret),
}

impl Credential {
    /// A username/password credential.
    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// Whether this is [`Credential::Anonymous`].
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Self::Anonymous)
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &format_args!("<redacted>"))
                .finish(),
            Self::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
            Self::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("anonymous"),
            Self::Basic { username, .. } => write!(f, "username {username:?} with a password"),
            Self::IdentityToken(_) => f.write_str("identity token"),
            Self::RegistryToken(_) => f.write_str("registry token"),
        }
    }
}

/// The `Authorization` header value `Basic base64(username:password)` for a
/// [`Credential::Basic`]; `None` for every other kind.
///
/// Send it to a registry that answered with a `Basic` challenge, or to a token realm
/// (see [`crate::TokenRequest::basic_auth`]); never to a redirect target on another host.
pub fn basic_authorization(credential: &Credential) -> Option<Secret> {
    match credential {
        Credential::Basic { username, password } => {
            let pair = format!("{username}:{}", password.expose());
            Some(Secret(format!("Basic {}", STANDARD.encode(pair))))
        }
        _ => None,
    }
}

/// The `Authorization` header value `Bearer <token>` for a token (a [`crate::Token`]'s
/// value, or the secret of a [`Credential::RegistryToken`]).
pub fn bearer_authorization(token: &Secret) -> Secret {
    Secret(format!("Bearer {}", token.expose()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PASSWORD: &str = "hunter2-very-secret";

    fn all_kinds() -> Vec<Credential> {
        vec![
            Credential::Anonymous,
            Credential::basic("alice", PASSWORD),
            Credential::IdentityToken(Secret::new(PASSWORD)),
            Credential::RegistryToken(Secret::new(PASSWORD)),
        ]
    }

    #[test]
    fn secret_debug_is_redacted() {
        let secret = Secret::new(PASSWORD);
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(secret.expose(), PASSWORD);
    }

    #[test]
    fn credential_debug_and_display_never_show_secrets() {
        for credential in all_kinds() {
            let debug = format!("{credential:?}");
            let pretty = format!("{credential:#?}");
            let display = credential.to_string();
            for text in [&debug, &pretty, &display] {
                assert!(!text.contains(PASSWORD), "{text}");
                assert!(!text.contains("hunter2"), "{text}");
            }
        }
        let basic = Credential::basic("alice", PASSWORD);
        assert_eq!(
            format!("{basic:?}"),
            r#"Basic { username: "alice", password: <redacted> }"#
        );
        assert_eq!(basic.to_string(), r#"username "alice" with a password"#);
    }

    #[test]
    fn basic_authorization_encodes_user_and_password() {
        let header = basic_authorization(&Credential::basic("user", "pa:ss")).unwrap();
        // base64("user:pa:ss")
        assert_eq!(header.expose(), "Basic dXNlcjpwYTpzcw==");
        assert!(basic_authorization(&Credential::Anonymous).is_none());
        assert!(basic_authorization(&Credential::IdentityToken(Secret::new("t"))).is_none());
        assert!(basic_authorization(&Credential::RegistryToken(Secret::new("t"))).is_none());
    }

    #[test]
    fn bearer_authorization_prefixes_the_token() {
        assert_eq!(
            bearer_authorization(&Secret::new("abc.def")).expose(),
            "Bearer abc.def"
        );
    }
}
