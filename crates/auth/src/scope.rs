//! Token scopes (`repository:library/nginx:pull`) as the Docker token spec defines them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::AuthError;

/// One access scope: a resource type, a resource name and the actions asked for.
///
/// Its text form is `type:name:action[,action…]`, e.g. `repository:library/nginx:pull` or
/// `repository:library/nginx:pull,push`. The name may itself contain `:` (the text is split
/// at the first and the last `:`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    /// The resource type, usually `repository` (also `registry`, or `repository(plugin)`).
    pub resource_type: String,
    /// The resource name, e.g. `library/nginx`.
    pub name: String,
    /// The actions, e.g. `pull`, `push`, `*`.
    pub actions: Vec<String>,
}

impl Scope {
    /// A scope from its parts.
    pub fn new(
        resource_type: impl Into<String>,
        name: impl Into<String>,
        actions: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            resource_type: resource_type.into(),
            name: name.into(),
            actions: actions.into_iter().map(Into::into).collect(),
        }
    }

    /// The scope needed to pull from a repository: `repository:<repository>:pull`.
    pub fn pull(repository: &str) -> Self {
        Self::new("repository", repository, ["pull"])
    }

    /// Parses `type:name:actions`.
    ///
    /// Type and name must be non-empty; the actions may be empty. Whitespace is rejected,
    /// since it separates scopes in a challenge's `scope` parameter.
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        let invalid = |reason| AuthError::InvalidScope {
            scope: text.to_owned(),
            reason,
        };
        if text.chars().any(char::is_whitespace) {
            return Err(invalid("a scope must not contain whitespace"));
        }
        let (resource_type, rest) = text
            .split_once(':')
            .ok_or_else(|| invalid("expected type:name:actions"))?;
        let (name, actions) = rest
            .rsplit_once(':')
            .ok_or_else(|| invalid("expected type:name:actions"))?;
        if resource_type.is_empty() {
            return Err(invalid("the resource type is empty"));
        }
        if name.is_empty() {
            return Err(invalid("the resource name is empty"));
        }
        Ok(Self::new(
            resource_type,
            name,
            actions.split(',').filter(|action| !action.is_empty()),
        ))
    }
}

impl FromStr for Scope {
    type Err = AuthError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.resource_type,
            self.name,
            self.actions.join(",")
        )
    }
}

/// The union of two scope sets, in canonical form: one scope per (type, name) with the union
/// of their actions, actions sorted and deduplicated, scopes sorted.
///
/// Use it to add the scope named by a 401 `insufficient_scope` challenge to the scopes a
/// token was requested for; [`crate::TokenCache`] keys use the same canonical form, so
/// `merge_scopes(&[], scopes)` is how a scope set is normalised.
pub fn merge_scopes(current: &[Scope], added: &[Scope]) -> Vec<Scope> {
    let mut merged: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for scope in current.iter().chain(added) {
        merged
            .entry((&scope.resource_type, &scope.name))
            .or_default()
            .extend(scope.actions.iter().map(String::as_str));
    }
    merged
        .into_iter()
        .map(|((resource_type, name), actions)| Scope::new(resource_type, name, actions))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pull_scope_displays_as_docker_does() {
        assert_eq!(
            Scope::pull("library/nginx").to_string(),
            "repository:library/nginx:pull"
        );
    }

    #[test]
    fn parse_round_trips() {
        for text in [
            "repository:library/nginx:pull",
            "repository:samalba/my-app:pull,push",
            "registry:catalog:*",
            "repository(plugin):vieux/sshfs:pull",
            "repository:localhost:5000/app:pull",
        ] {
            assert_eq!(Scope::parse(text).unwrap().to_string(), text);
        }
        let scope: Scope = "repository:localhost:5000/app:pull,push".parse().unwrap();
        assert_eq!(scope.name, "localhost:5000/app");
        assert_eq!(scope.actions, ["pull", "push"]);
    }

    #[test]
    fn parse_rejects_malformed_scopes() {
        for text in [
            "",
            "repository",
            "repository:nginx",
            ":nginx:pull",
            "repository::pull",
            "repository:a b:pull",
        ] {
            let error = Scope::parse(text).unwrap_err();
            assert!(matches!(error, AuthError::InvalidScope { .. }), "{text}");
        }
    }

    #[test]
    fn merge_unions_actions_per_resource_and_sorts() {
        let current = [Scope::pull("b"), Scope::pull("a")];
        let added = [
            Scope::new("repository", "a", ["push", "pull"]),
            Scope::new("registry", "catalog", ["*"]),
        ];
        let merged: Vec<String> = merge_scopes(&current, &added)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            merged,
            [
                "registry:catalog:*",
                "repository:a:pull,push",
                "repository:b:pull"
            ]
        );
    }
}
