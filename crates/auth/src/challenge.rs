//! `WWW-Authenticate` challenges (RFC 7235) and the Docker token spec's `Bearer` challenge.

use std::fmt;

use url::Url;

use crate::{AuthError, Scope};

/// An authentication scheme. Names compare case-insensitively (RFC 7235 §2.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `Basic` (RFC 7617).
    Basic,
    /// `Bearer` (RFC 6750 and the Docker token spec).
    Bearer,
    /// Any other scheme, its name in lower case.
    Other(String),
}

impl Scheme {
    /// The scheme for a name, in any case.
    pub fn from_name(name: &str) -> Self {
        if name.eq_ignore_ascii_case("basic") {
            Self::Basic
        } else if name.eq_ignore_ascii_case("bearer") {
            Self::Bearer
        } else {
            Self::Other(name.to_ascii_lowercase())
        }
    }

    /// The scheme's name (`Basic`, `Bearer`, or the other name in lower case).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Basic => "Basic",
            Self::Bearer => "Bearer",
            Self::Other(name) => name,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One challenge of a `WWW-Authenticate` header: a scheme with either parameters or a token68.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Challenge {
    /// The authentication scheme.
    pub scheme: Scheme,
    /// The parameters in the order received; names in lower case, values unquoted and
    /// unescaped.
    pub params: Vec<(String, String)>,
    /// The token68 form (`Negotiate abc==`), when the challenge has one instead of parameters.
    pub token68: Option<String>,
}

impl Challenge {
    /// The value of a parameter, by case-insensitive name; the first one if it is repeated.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Parses the values of every `WWW-Authenticate` header of a response (RFC 7235 §4.1).
///
/// One value may hold several challenges (`Basic realm="a", Bearer realm="b"`), and a
/// response may carry several values; the challenges are returned in order. Quoted strings
/// may contain commas and backslash escapes, scheme and parameter names are case-insensitive,
/// and empty list elements and extra whitespace are skipped. An empty input gives an empty
/// list.
pub fn parse_challenges<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Challenge>, AuthError> {
    let mut challenges = Vec::new();
    for value in header_values {
        Parser {
            text: value,
            pos: 0,
        }
        .parse_into(&mut challenges)?;
    }
    Ok(challenges)
}

/// `tchar` of RFC 7230 §3.2.6.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// The characters of RFC 7235's `token68` before its trailing `=`s.
fn is_token68_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~+/".contains(&byte)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, reason: &'static str) -> AuthError {
        AuthError::InvalidChallenge {
            header: self.text.to_owned(),
            position: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    /// Skips spaces and tabs; returns whether there were any.
    fn skip_whitespace(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn skip_whitespace_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    fn scan(&mut self, accept: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&accept) {
            self.pos += 1;
        }
        // Only ASCII bytes were accepted, so both ends are character boundaries.
        &self.text[start..self.pos]
    }

    fn token(&mut self) -> Option<&'a str> {
        Some(self.scan(is_tchar)).filter(|token| !token.is_empty())
    }

    fn parse_into(&mut self, challenges: &mut Vec<Challenge>) -> Result<(), AuthError> {
        loop {
            self.skip_whitespace_and_commas();
            if self.at_end() {
                return Ok(());
            }
            let scheme = self
                .token()
                .ok_or_else(|| self.error("expected an auth scheme"))?;
            let mut challenge = Challenge {
                scheme: Scheme::from_name(scheme),
                params: Vec::new(),
                token68: None,
            };
            let spaced = self.skip_whitespace();
            if !(self.at_end() || self.peek() == Some(b',')) {
                if !spaced {
                    return Err(self.error("expected a space after the auth scheme"));
                }
                if let Some(token68) = self.token68() {
                    challenge.token68 = Some(token68.to_owned());
                } else {
                    self.parse_params(&mut challenge.params)?;
                }
            }
            challenges.push(challenge);
        }
    }

    /// A token68 ends the challenge: it must be followed by the end or a comma.
    fn token68(&mut self) -> Option<&'a str> {
        let start = self.pos;
        let body = self.scan(is_token68_char);
        if !body.is_empty() {
            self.scan(|byte| byte == b'=');
            let token68 = &self.text[start..self.pos];
            self.skip_whitespace();
            if self.at_end() || self.peek() == Some(b',') {
                return Some(token68);
            }
        }
        self.pos = start;
        None
    }

    fn parse_params(&mut self, params: &mut Vec<(String, String)>) -> Result<(), AuthError> {
        loop {
            let name = self
                .token()
                .ok_or_else(|| self.error("expected a parameter name"))?;
            self.skip_whitespace();
            if self.peek() != Some(b'=') {
                return Err(self.error("expected '=' after the parameter name"));
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = if self.peek() == Some(b'"') {
                self.quoted_string()?
            } else {
                self.token()
                    .ok_or_else(|| self.error("expected a token or a quoted string"))?
                    .to_owned()
            };
            params.push((name.to_ascii_lowercase(), value));
            self.skip_whitespace();
            if self.at_end() {
                return Ok(());
            }
            if self.peek() != Some(b',') {
                return Err(self.error("expected ',' after a parameter"));
            }
            self.skip_whitespace_and_commas();
            if self.at_end() || !self.param_follows() {
                return Ok(());
            }
        }
    }

    /// Whether the next list element is `name =` (a parameter) rather than a new challenge.
    fn param_follows(&mut self) -> bool {
        let start = self.pos;
        let is_param = self.token().is_some() && {
            self.skip_whitespace();
            self.peek() == Some(b'=')
        };
        self.pos = start;
        is_param
    }

    /// A quoted string starting at the opening quote, unescaped.
    fn quoted_string(&mut self) -> Result<String, AuthError> {
        let open = self.pos;
        let mut value = String::new();
        let mut chars = self.text[open + 1..].char_indices();
        while let Some((offset, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos = open + 1 + offset + 1;
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) => value.push(escaped),
                    None => break,
                },
                _ => value.push(c),
            }
        }
        self.pos = open;
        Err(self.error("unterminated quoted string"))
    }
}

/// A `Bearer` challenge as the Docker token spec uses it: where to get a token, for which
/// service and scopes, and why the request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BearerChallenge {
    /// The token endpoint; always an `http` or `https` URL.
    pub realm: Url,
    /// The `service` parameter, passed back to the realm.
    pub service: Option<String>,
    /// The scopes of the `scope` parameter (several scopes are separated by spaces).
    pub scopes: Vec<Scope>,
    /// The `error` parameter, e.g. `insufficient_scope` or `invalid_token`.
    pub error: Option<String>,
}

impl BearerChallenge {
    /// Interprets a parsed challenge; fails when it is not `Bearer`, has no realm, or its
    /// realm is not an `http`/`https` URL (a registry must not make the client fetch
    /// `file:` or other URLs).
    pub fn from_challenge(challenge: &Challenge) -> Result<Self, AuthError> {
        if challenge.scheme != Scheme::Bearer {
            return Err(AuthError::NotBearer {
                scheme: challenge.scheme.to_string(),
            });
        }
        let realm_text = challenge
            .param("realm")
            .filter(|realm| !realm.is_empty())
            .ok_or(AuthError::MissingRealm)?;
        let realm = Url::parse(realm_text).map_err(|source| AuthError::InvalidRealm {
            realm: realm_text.to_owned(),
            source,
        })?;
        if !matches!(realm.scheme(), "http" | "https") {
            return Err(AuthError::UnsupportedRealmScheme {
                realm: realm_text.to_owned(),
                scheme: realm.scheme().to_owned(),
            });
        }
        let scopes = challenge
            .param("scope")
            .map(|scopes| {
                scopes
                    .split_ascii_whitespace()
                    .map(Scope::parse)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let non_empty = |name| {
            challenge
                .param(name)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        Ok(Self {
            realm,
            service: non_empty("service"),
            scopes,
            error: non_empty("error"),
        })
    }

    /// The first `Bearer` challenge among `challenges`, interpreted; `None` when there is none.
    pub fn find(challenges: &[Challenge]) -> Option<Result<Self, AuthError>> {
        challenges
            .iter()
            .find(|challenge| challenge.scheme == Scheme::Bearer)
            .map(Self::from_challenge)
    }

    /// Whether the registry refused the token for lacking a scope (`error="insufficient_scope"`);
    /// the scopes it names should then be added with [`crate::merge_scopes`] and the request
    /// retried once with a new token.
    pub fn is_insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// (description, header values, expected challenges as (scheme, params, token68)).
    type Expected = Vec<(
        &'static str,
        Vec<(&'static str, &'static str)>,
        Option<&'static str>,
    )>;

    fn table() -> Vec<(&'static str, Vec<&'static str>, Expected)> {
        vec![
            (
                "Docker Hub",
                vec![
                    r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
                ],
                vec![(
                    "Bearer",
                    vec![
                        ("realm", "https://auth.docker.io/token"),
                        ("service", "registry.docker.io"),
                        ("scope", "repository:library/nginx:pull"),
                    ],
                    None,
                )],
            ),
            (
                "Docker Hub insufficient_scope",
                vec![
                    r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push",error="insufficient_scope""#,
                ],
                vec![(
                    "Bearer",
                    vec![
                        ("realm", "https://auth.docker.io/token"),
                        ("service", "registry.docker.io"),
                        ("scope", "repository:samalba/my-app:pull,push"),
                        ("error", "insufficient_scope"),
                    ],
                    None,
                )],
            ),
            (
                "GHCR",
                vec![
                    r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull""#,
                ],
                vec![(
                    "Bearer",
                    vec![
                        ("realm", "https://ghcr.io/token"),
                        ("service", "ghcr.io"),
                        ("scope", "repository:user/image:pull"),
                    ],
                    None,
                )],
            ),
            (
                "Quay",
                vec![
                    r#"Bearer realm="https://quay.io/v2/auth",service="quay.io",scope="repository:coreos/etcd:pull""#,
                ],
                vec![(
                    "Bearer",
                    vec![
                        ("realm", "https://quay.io/v2/auth"),
                        ("service", "quay.io"),
                        ("scope", "repository:coreos/etcd:pull"),
                    ],
                    None,
                )],
            ),
            (
                "Harbor",
                vec![
                    r#"Bearer realm="https://harbor.example.com/service/token",service="harbor-registry",scope="repository:library/nginx:pull""#,
                ],
                vec![(
                    "Bearer",
                    vec![
                        ("realm", "https://harbor.example.com/service/token"),
                        ("service", "harbor-registry"),
                        ("scope", "repository:library/nginx:pull"),
                    ],
                    None,
                )],
            ),
            (
                "ECR",
                vec![
                    r#"Basic realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com""#,
                ],
                vec![(
                    "Basic",
                    vec![
                        (
                            "realm",
                            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",
                        ),
                        ("service", "ecr.amazonaws.com"),
                    ],
                    None,
                )],
            ),
            (
                "ACR",
                vec![
                    r#"Bearer realm="https://myregistry.azurecr.io/oauth2/token",service="myregistry.azurecr.io",scope="repository:hello-world:pull""#,
                ],
                vec![(
                    "Bearer",
                    vec![
                        ("realm", "https://myregistry.azurecr.io/oauth2/token"),
                        ("service", "myregistry.azurecr.io"),
                        ("scope", "repository:hello-world:pull"),
                    ],
                    None,
                )],
            ),
            (
                "GCR",
                vec![
                    r#"Bearer realm="https://gcr.io/v2/token",service="gcr.io",scope="repository:google-containers/pause:pull""#,
                ],
                vec![(
                    "Bearer",
                    vec![
                        ("realm", "https://gcr.io/v2/token"),
                        ("service", "gcr.io"),
                        ("scope", "repository:google-containers/pause:pull"),
                    ],
                    None,
                )],
            ),
            (
                "distribution htpasswd",
                vec![r#"Basic realm="basic-realm""#],
                vec![("Basic", vec![("realm", "basic-realm")], None)],
            ),
            (
                "RFC 7235 example: two challenges in one value",
                vec![
                    r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#,
                ],
                vec![
                    (
                        "newauth",
                        vec![
                            ("realm", "apps"),
                            ("type", "1"),
                            ("title", r#"Login to "apps""#),
                        ],
                        None,
                    ),
                    ("Basic", vec![("realm", "simple")], None),
                ],
            ),
            (
                "two header values",
                vec![
                    r#"Basic realm="a""#,
                    r#"Bearer realm="https://b.example/token""#,
                ],
                vec![
                    ("Basic", vec![("realm", "a")], None),
                    ("Bearer", vec![("realm", "https://b.example/token")], None),
                ],
            ),
            (
                "case-insensitive scheme and parameter names",
                vec![r#"bEaReR REALM="https://r.example/t",Service=svc"#],
                vec![(
                    "Bearer",
                    vec![("realm", "https://r.example/t"), ("service", "svc")],
                    None,
                )],
            ),
            (
                "unquoted token values",
                vec![
                    r#"Bearer realm="https://r.example/t",service=registry.example,error=invalid_token"#,
                ],
                vec![(
                    "Bearer",
                    vec![
                        ("realm", "https://r.example/t"),
                        ("service", "registry.example"),
                        ("error", "invalid_token"),
                    ],
                    None,
                )],
            ),
            (
                "whitespace around = and commas",
                vec!["  Bearer   realm = \"x\" ,\tservice\t=\t\"y\"  ,  "],
                vec![("Bearer", vec![("realm", "x"), ("service", "y")], None)],
            ),
            (
                "empty list elements",
                vec![r#", ,Basic realm="a",, ,Bearer realm="b",,"#],
                vec![
                    ("Basic", vec![("realm", "a")], None),
                    ("Bearer", vec![("realm", "b")], None),
                ],
            ),
            (
                "comma inside a quoted string",
                vec![r#"Bearer scope="repository:a:pull,push",realm="r""#],
                vec![(
                    "Bearer",
                    vec![("scope", "repository:a:pull,push"), ("realm", "r")],
                    None,
                )],
            ),
            (
                "backslash escapes",
                vec![r#"Basic realm="back\\slash \q""#],
                vec![("Basic", vec![("realm", r"back\slash q")], None)],
            ),
            (
                "empty quoted value",
                vec![r#"Bearer realm="",error="""#],
                vec![("Bearer", vec![("realm", ""), ("error", "")], None)],
            ),
            (
                "scheme without parameters",
                vec!["Bearer"],
                vec![("Bearer", vec![], None)],
            ),
            (
                "schemes without parameters in a list",
                vec!["Negotiate, Basic realm=\"x\", NTLM"],
                vec![
                    ("negotiate", vec![], None),
                    ("Basic", vec![("realm", "x")], None),
                    ("ntlm", vec![], None),
                ],
            ),
            (
                "token68",
                vec!["Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg+/w=="],
                vec![(
                    "negotiate",
                    vec![],
                    Some("YIIBhwYGKwYBBQUCoIIBezCCAXeg+/w=="),
                )],
            ),
            (
                "token68 followed by another challenge",
                vec![r#"Negotiate abc=, Basic realm="x""#],
                vec![
                    ("negotiate", vec![], Some("abc=")),
                    ("Basic", vec![("realm", "x")], None),
                ],
            ),
            (
                "non-ASCII inside a quoted string",
                vec![r#"Basic realm="Zürich""#],
                vec![("Basic", vec![("realm", "Zürich")], None)],
            ),
            ("empty header value", vec![""], vec![]),
            ("no header values", vec![], vec![]),
            (
                "repeated parameter keeps both, param() returns the first",
                vec![r#"Bearer realm="a",realm="b""#],
                vec![("Bearer", vec![("realm", "a"), ("realm", "b")], None)],
            ),
        ]
    }

    #[test]
    fn challenge_table() {
        let cases = table();
        assert!(cases.len() >= 25);
        for (name, headers, expected) in cases {
            let parsed = parse_challenges(headers.iter().copied())
                .unwrap_or_else(|error| panic!("{name}: {error}"));
            let got: Vec<_> = parsed
                .iter()
                .map(|challenge| {
                    (
                        challenge.scheme.to_string(),
                        challenge
                            .params
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect::<Vec<_>>(),
                        challenge.token68.clone(),
                    )
                })
                .collect();
            let want: Vec<_> = expected
                .iter()
                .map(|(scheme, params, token68)| {
                    (
                        (*scheme).to_owned(),
                        params
                            .iter()
                            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                            .collect::<Vec<_>>(),
                        token68.map(str::to_owned),
                    )
                })
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn malformed_headers_are_errors_with_a_position() {
        for (header, position) in [
            (r#"Basic realm="unterminated"#, 12),
            (r#"Basic realm="a",=b"#, 16),
            ("Basic realm=a b", 14),
            ("Bearer realm=@", 13),
            // A URL is not a token: it must be quoted.
            ("Bearer realm=https://r.example/t", 18),
            (r#"Basic realm="a" service="b""#, 16),
            (r#"="x""#, 0),
            (r#"Bearer"x""#, 6),
            (r#"Basic realm="a", "b""#, 17),
        ] {
            match parse_challenges([header]) {
                Err(AuthError::InvalidChallenge {
                    header: got,
                    position: at,
                    ..
                }) => {
                    assert_eq!(got, header);
                    assert_eq!(at, position, "{header}");
                }
                other => panic!("{header}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_short_input_parses_or_fails_without_panicking() {
        // Every string of up to five characters over the characters that steer the parser,
        // including a multi-byte one next to quotes and escapes.
        let alphabet = [' ', ',', '=', '"', '\\', 'a', 'é', '/'];
        let mut level = vec![String::new()];
        let mut inputs = level.clone();
        for _ in 0..5 {
            level = level
                .iter()
                .flat_map(|input| alphabet.iter().map(move |c| format!("{input}{c}")))
                .collect();
            inputs.extend(level.iter().cloned());
        }
        assert_eq!(inputs.len(), (0..=5).map(|n| 8_usize.pow(n)).sum::<usize>());
        for input in &inputs {
            if let Err(AuthError::InvalidChallenge { position, .. }) =
                parse_challenges([input.as_str()])
            {
                assert!(input.is_char_boundary(position), "{input:?} {position}");
            }
        }
    }

    #[test]
    fn param_lookup_is_case_insensitive() {
        let challenges = parse_challenges([r#"Bearer Realm="r", realm="s""#]).unwrap();
        assert_eq!(challenges[0].param("REALM"), Some("r"));
        assert_eq!(challenges[0].param("service"), None);
    }

    #[test]
    fn bearer_challenge_of_docker_hub() {
        let challenges = parse_challenges([
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull repository:library/redis:pull,push",error="insufficient_scope""#,
        ])
        .unwrap();
        let bearer = BearerChallenge::find(&challenges).unwrap().unwrap();
        assert_eq!(bearer.realm.as_str(), "https://auth.docker.io/token");
        assert_eq!(bearer.service.as_deref(), Some("registry.docker.io"));
        assert_eq!(
            bearer.scopes,
            [
                Scope::pull("library/nginx"),
                Scope::new("repository", "library/redis", ["pull", "push"])
            ]
        );
        assert!(bearer.is_insufficient_scope());
    }

    #[test]
    fn bearer_challenge_without_scope_or_service() {
        let challenges =
            parse_challenges([r#"Bearer realm="http://127.0.0.1:5001/auth""#]).unwrap();
        let bearer = BearerChallenge::from_challenge(&challenges[0]).unwrap();
        assert_eq!(bearer.service, None);
        assert!(bearer.scopes.is_empty());
        assert!(!bearer.is_insufficient_scope());
    }

    #[test]
    fn bearer_challenge_rejects_bad_realms() {
        let check = |header: &str| {
            let challenges = parse_challenges([header]).unwrap();
            BearerChallenge::from_challenge(&challenges[0]).unwrap_err()
        };
        assert!(matches!(
            check(r#"Bearer realm="file:///etc/passwd""#),
            AuthError::UnsupportedRealmScheme { scheme, .. } if scheme == "file"
        ));
        assert!(matches!(
            check(r#"Bearer realm="ftp://x.example/token""#),
            AuthError::UnsupportedRealmScheme { .. }
        ));
        assert!(matches!(
            check(r#"Bearer realm="/token""#),
            AuthError::InvalidRealm { .. }
        ));
        assert!(matches!(
            check(r#"Bearer service="x""#),
            AuthError::MissingRealm
        ));
        assert!(matches!(
            check(r#"Bearer realm="https://x.example/t",scope="repository:nginx""#),
            AuthError::InvalidScope { .. }
        ));
        assert!(matches!(
            check(r#"Basic realm="https://x.example/""#),
            AuthError::NotBearer { scheme } if scheme == "Basic"
        ));
    }

    #[test]
    fn find_skips_other_schemes() {
        let challenges = parse_challenges([
            r#"Basic realm="x""#,
            r#"Bearer realm="https://a.example/t""#,
        ])
        .unwrap();
        let bearer = BearerChallenge::find(&challenges).unwrap().unwrap();
        assert_eq!(bearer.realm.host_str(), Some("a.example"));
        let basic_only = parse_challenges([r#"Basic realm="x""#]).unwrap();
        assert!(BearerChallenge::find(&basic_only).is_none());
    }
}
