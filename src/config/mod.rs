//! Configuration: one TOML file, typed and validated at load, then an
//! environment overlay for the storage URLs. A bad file fails at start with
//! the file, the line where known, the field path and what is wrong.

mod break_glass;
mod catalogue;
mod id_jag;
mod interactive;
mod limits;
mod retention;
mod secret;
mod span;
mod spelling;
mod trust;
mod types;
mod validate;

use std::fmt;
use std::path::Path;

pub use break_glass::{BREAK_GLASS_CEILING, BreakGlassConfig};
pub use id_jag::{
    DEFAULT_ID_JAG_MAX_LIFETIME, ID_JAG_LIFETIME_CEILING, IdJagAudience, IdJagConfig,
};
pub use interactive::{
    AuthorizationConfig, UpstreamLogin, check_redirect_uri, is_document_url, is_loopback,
};
pub use limits::*;
pub use retention::{MAX_AUDIT_PARTITION, MIN_AUDIT_PARTITION, MIN_AUDIT_RETENTION};
pub use secret::{SecretSource, SecretString};
pub use span::Span;
pub use types::*;
pub use validate::{MAX_TOKEN_TTL, MIN_TOKEN_TTL, check_public_url, check_scope};

/// One thing wrong with a configuration, at a field path such as
/// `agents[2].required_scopes[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a configuration could not be loaded. Each variant prints as lines of
/// `FILE[:LINE]: PATH: MESSAGE`.
#[derive(Debug)]
pub enum LoadError {
    Read {
        origin: String,
        cause: std::io::Error,
    },
    Parse {
        origin: String,
        line: Option<usize>,
        error: ConfigError,
    },
    Invalid {
        origin: String,
        errors: Vec<ConfigError>,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { origin, cause } => write!(f, "{origin}: cannot read: {cause}"),
            Self::Parse {
                origin,
                line: Some(line),
                error,
            } => write!(f, "{origin}:{line}: {error}"),
            Self::Parse {
                origin,
                line: None,
                error,
            } => write!(f, "{origin}: {error}"),
            Self::Invalid { origin, errors } => {
                let mut first = true;
                for e in errors {
                    if !first {
                        writeln!(f)?;
                    }
                    first = false;
                    write!(f, "{origin}: {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LoadError {}

impl Config {
    /// Read, parse, overlay the environment, validate.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|cause| LoadError::Read {
            origin: origin.clone(),
            cause,
        })?;
        let mut config = Self::parse(&text, &origin)?;
        config.overlay_env();
        config
            .validate()
            .map_err(|errors| LoadError::Invalid { origin, errors })?;
        Ok(config)
    }

    /// Parse without the environment overlay or validation.
    pub fn parse(text: &str, origin: &str) -> Result<Self, LoadError> {
        let parse_error = |line, path: String, message: String| LoadError::Parse {
            origin: origin.to_string(),
            line,
            error: ConfigError { path, message },
        };
        let de = toml::Deserializer::parse(text).map_err(|e| {
            parse_error(line_of(text, &e), "(file)".into(), e.message().to_string())
        })?;
        let mut config: Self = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            parse_error(line_of(text, &inner), path, inner.message().to_string())
        })?;
        config.use_declared_spellings();
        Ok(config)
    }

    /// Name every declared resource as it is declared wherever it is
    /// referenced (`spelling.rs`); `parse` does it, and so does the server
    /// for a configuration built in code.
    pub fn use_declared_spellings(&mut self) {
        spelling::declared_spellings(self);
    }

    /// Drop the agent, resource, scope-group and introspector lists once
    /// the running service has built its policy, client keys, rate limits
    /// and metadata from them: the policy keeps what requests need, and a
    /// second copy would double the memory per agent (issue 21: 100,000
    /// agents). The configuration a server keeps after this is for the
    /// other sections only.
    pub fn shed_policy(&mut self) {
        self.agents = Vec::new();
        self.resources = Vec::new();
        self.scope_groups = Default::default();
        self.introspectors = Vec::new();
    }

    /// `AGENT_STS_DATABASE_URL` and `AGENT_STS_REDIS_URL` override the file,
    /// so one file can serve every environment.
    pub fn overlay_env(&mut self) {
        if let Ok(url) = std::env::var("AGENT_STS_DATABASE_URL") {
            self.storage.database_url = SecretSource::Literal(url);
        }
        if let Ok(url) = std::env::var("AGENT_STS_REDIS_URL") {
            self.storage.redis_url = Some(SecretSource::Literal(url));
        }
    }

    /// Every rule of the configuration; all violations, in file order.
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        let errors = validate::validate(self);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn line_of(text: &str, e: &toml::de::Error) -> Option<usize> {
    let start = e.span()?.start;
    Some(text.get(..start)?.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests;
