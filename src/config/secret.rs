//! Secrets in the configuration: a literal string or `{ env = "VAR" }`.
//! Neither form, nor the resolved value, ever appears in `Debug` output.

use std::fmt;

use serde::Deserialize;

#[derive(Clone, PartialEq, Deserialize)]
#[serde(untagged, expecting = "a string or a table { env = \"VARIABLE\" }")]
pub enum SecretSource {
    Env { env: String },
    Literal(String),
}

impl SecretSource {
    /// The secret's value; for `env`, read from the process environment.
    pub fn resolve(&self) -> Result<SecretString, String> {
        match self {
            Self::Literal(s) => Ok(SecretString(s.clone())),
            Self::Env { env } => std::env::var(env)
                .map(SecretString)
                .map_err(|_| format!("environment variable {env} is not set")),
        }
    }

    /// The environment variable it names, if any.
    pub fn env_name(&self) -> Option<&str> {
        match self {
            Self::Env { env } => Some(env),
            Self::Literal(_) => None,
        }
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env { env } => write!(f, "SecretSource::Env({env})"),
            Self::Literal(_) => f.write_str("SecretSource::Literal(<redacted>)"),
        }
    }
}

/// A resolved secret. `Debug` and `Display` are redacted; read it with
/// [`SecretString::expose`] at the one place that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let lit = SecretSource::Literal("postgres://u:hunter2@db/x".into());
        assert!(!format!("{lit:?}").contains("hunter2"));
        let resolved = lit.resolve().unwrap();
        assert_eq!(format!("{resolved:?}"), "<redacted>");
        assert_eq!(resolved.expose(), "postgres://u:hunter2@db/x");
    }

    #[test]
    fn missing_env_is_a_clear_error() {
        let src = SecretSource::Env {
            env: "AGENT_STS_TEST_SURELY_UNSET_VAR".into(),
        };
        assert_eq!(
            src.resolve().unwrap_err(),
            "environment variable AGENT_STS_TEST_SURELY_UNSET_VAR is not set"
        );
    }
}
