//! A token request that can be sent over HTTP and, with the same inputs,
//! handed to `grants::token` as the form layer would.

use agent_sts::client_auth::{ASSERTION_TYPE, Presented};
use agent_sts::config::{ClientAuthMethod, SecretString};
use agent_sts::grants::TokenRequest;

use super::fixture::{AT, EXCHANGE, ZENDESK};

/// How a request authenticates the client.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Basic(String, String),
    Post(String, String),
    Assertion(String),
}

/// A token request: form parameters (in order, repeats kept) and client auth.
#[derive(Clone, Debug)]
pub struct Req {
    pub auth: Auth,
    pub form: Vec<(String, String)>,
}

impl Req {
    pub fn new(auth: Auth) -> Self {
        Self {
            auth,
            form: Vec::new(),
        }
    }

    /// A token exchange of `subject` (an access token) for [`ZENDESK`].
    pub fn exchange(auth: Auth, subject: &str) -> Self {
        Self::new(auth)
            .with("grant_type", EXCHANGE)
            .with("subject_token", subject)
            .with("subject_token_type", AT)
            .with("resource", ZENDESK)
    }

    /// `client_credentials` for [`ZENDESK`].
    pub fn client_credentials(auth: Auth) -> Self {
        Self::new(auth)
            .with("grant_type", "client_credentials")
            .with("resource", ZENDESK)
    }

    /// Adds a parameter (a repeat if it is already there).
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.form.push((name.into(), value.into()));
        self
    }

    /// Replaces every value of `name` with one `value`.
    pub fn set(self, name: &str, value: &str) -> Self {
        self.without(name).with(name, value)
    }

    pub fn without(mut self, name: &str) -> Self {
        self.form.retain(|(k, _)| k != name);
        self
    }

    /// The body's parameters, client credentials included.
    pub fn body(&self) -> Vec<(String, String)> {
        let mut body = self.form.clone();
        match &self.auth {
            Auth::Post(id, secret) => {
                body.push(("client_id".into(), id.clone()));
                body.push(("client_secret".into(), secret.clone()));
            }
            Auth::Assertion(a) => {
                body.push(("client_assertion_type".into(), ASSERTION_TYPE.into()));
                body.push(("client_assertion".into(), a.clone()));
            }
            Auth::None | Auth::Basic(..) => {}
        }
        body
    }

    /// What the form layer hands `grants::token` for this request.
    pub fn domain(&self) -> (Presented, TokenRequest) {
        let mut request = TokenRequest::default();
        for (k, v) in self.body() {
            if k == "resource" || k == "audience" {
                request.targets.push(v);
            } else {
                request.params.insert(k, v);
            }
        }
        let secret = |id: &String, s: &String, method| Presented::Secret {
            client_id: id.clone(),
            secret: SecretString::new(s.clone()),
            method,
        };
        let presented = match &self.auth {
            Auth::None => Presented::None,
            Auth::Basic(id, s) => secret(id, s, ClientAuthMethod::ClientSecretBasic),
            Auth::Post(id, s) => secret(id, s, ClientAuthMethod::ClientSecretPost),
            Auth::Assertion(a) => Presented::Assertion {
                client_id: request.params.get("client_id").cloned(),
                assertion: a.clone(),
            },
        };
        (presented, request)
    }
}
