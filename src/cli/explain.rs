//! `agent-sts explain`: the decision `/token` would make, printed (see
//! `grants::explain`). Exit 0 allow (or would_deny), 1 deny, 2 a request
//! or configuration that cannot be explained.

use std::path::PathBuf;

use super::CliError;
use crate::clock::SharedClock;
use crate::config::{Config, Pattern};
use crate::grants::explain::{ExplainRequest, Explanation, explain};
use crate::reason::Reason;

/// The command line's request.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub agent: String,
    #[arg(long)]
    pub resource: String,
    /// Space-separated scopes, as `/token` takes them.
    #[arg(long)]
    pub scope: Option<String>,
    /// The user's (or workload's) token: verified as the server would.
    #[arg(long, conflicts_with = "claims")]
    pub subject_token: Option<String>,
    /// A JSON file of the subject's claims: checked without a signature.
    #[arg(long, requires = "upstream")]
    pub claims: Option<PathBuf>,
    /// With --claims: the upstream they are from.
    #[arg(long, requires = "claims")]
    pub upstream: Option<String>,
    #[arg(long)]
    pub actor_token: Option<String>,
    /// obo, hybrid, workload, interactive or id_jag.
    #[arg(long)]
    pub pattern: Option<String>,
    /// JSON instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

fn invalid(e: impl std::fmt::Display) -> CliError {
    CliError::Invalid(e.to_string())
}

pub(super) async fn run(args: ExplainArgs, clock: SharedClock) -> Result<(), CliError> {
    let pattern = match &args.pattern {
        Some(p) => Some(
            serde_json::from_value::<Pattern>(serde_json::Value::String(p.clone())).map_err(
                |_| {
                    invalid(format!(
                        "--pattern {p}: use obo, hybrid, workload, interactive or id_jag"
                    ))
                },
            )?,
        ),
        None => None,
    };
    let claims = match &args.claims {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
            Some(
                serde_json::from_str(&text)
                    .map_err(|e| invalid(format!("{}: not a JSON object: {e}", path.display())))?,
            )
        }
        None => None,
    };
    let config = Config::load(&args.config).map_err(invalid)?;
    let app = crate::app::App::build(config, clock)
        .await
        .map_err(invalid)?;
    let req = ExplainRequest {
        agent: args.agent,
        resource: args.resource,
        scope: args.scope,
        subject_token: args.subject_token,
        claims,
        upstream: args.upstream,
        actor_token: args.actor_token,
        pattern,
    };
    let explained = explain(&app.grants(), &req, app.clock.now()).await;
    let e = match explained {
        Ok(e) => e,
        Err(d) if d.reason == Reason::BadRequest => return Err(invalid(d.description)),
        Err(d) => {
            // The subject itself is refused, as /token would refuse it.
            return Err(CliError::Denied(format!(
                "deny ({}): {}",
                d.reason, d.description
            )));
        }
    };
    let out = if args.json {
        serde_json::to_string_pretty(&e).map_err(invalid)?
    } else {
        human(&e)
    };
    println!("{out}");
    if e.allowed() {
        Ok(())
    } else {
        Err(CliError::Denied(String::new()))
    }
}

fn human(e: &Explanation) -> String {
    let mut out = format!("decision: {}", e.decision);
    if let Some(r) = e.reason {
        out += &format!(" ({r})");
    }
    if let Some(d) = &e.description {
        out += &format!("\n  {d}");
    }
    out += &format!("\nverification: {}", e.verification);
    if let Some(p) = e.pattern {
        out += &format!("\npattern: {p}");
    }
    if let Some(s) = &e.sub {
        out += &format!("\nsub: {s}");
    }
    if let Some(a) = &e.act {
        out += &format!("\nact: {a}");
    }
    out += &format!("\naud: {}", e.aud);
    if !e.scopes.is_empty() {
        out += "\nscopes:";
        for s in &e.scopes {
            out += &format!(
                "\n  {:<32} {:<8} {:<7} {}",
                s.scope, s.declared, s.outcome, s.rule
            );
        }
    }
    if !e.granted.is_empty() {
        out += &format!("\ntoken scope: {}", e.granted.join(" "));
    }
    if let (Some(ttl), Some(cap)) = (e.ttl, e.ttl_capped_by) {
        out += &format!("\nttl: {ttl} s (set by {cap})");
    }
    out
}
