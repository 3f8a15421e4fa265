//! `agent-sts break-glass open|close|list`: the same operations as
//! `/admin/break-glass`, audited on a CLI chain.

use std::path::PathBuf;
use std::sync::Arc;

use super::CliError;
use super::revoke::Operator;
use crate::audit::Facts;
use crate::clock::SharedClock;
use crate::config::{Config, Span};

#[derive(Debug, clap::Subcommand)]
pub enum BreakGlassCommand {
    /// Let an agent obtain workload-pattern tokens (client_credentials, its
    /// declared scopes) even where its policy allows only user patterns,
    /// for at most 24 hours. Every token carries the window; closing it
    /// revokes them.
    Open {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        agent: String,
        /// Only these resources (repeat; default every resource of the agent).
        #[arg(long = "resource")]
        resources: Vec<String>,
        /// How long, e.g. 4h (at most [break_glass] max_window, 24h).
        #[arg(long = "for")]
        duration: String,
        /// Why: recorded, and carried in every token issued under it.
        #[arg(long)]
        reason: String,
    },
    /// End a window now and revoke every token issued under it.
    Close {
        #[arg(long)]
        config: PathBuf,
        /// The window's id (bg-…).
        id: String,
    },
    /// The windows open now.
    List {
        #[arg(long)]
        config: PathBuf,
    },
}

pub(super) async fn run(cmd: BreakGlassCommand, clock: SharedClock) -> Result<(), CliError> {
    let usage = |d: crate::policy::Denial| CliError::Usage(d.description);
    match cmd {
        BreakGlassCommand::Open {
            config,
            agent,
            resources,
            duration,
            reason,
        } => {
            let config = Config::load(&config)?;
            let duration =
                Span::parse(&duration).map_err(|m| CliError::Usage(format!("--for: {m}")))?;
            let op = Operator::start(&config, Arc::clone(&clock)).await?;
            let policy = crate::policy::Policy::new(&config);
            let request = crate::break_glass::OpenRequest {
                agent,
                resources,
                duration,
                reason,
            };
            let opened_by = format!("cli{}", op.by());
            let w = crate::break_glass::open(
                &config,
                &policy,
                &*op.db,
                request,
                &opened_by,
                clock.now(),
            )
            .await
            .map_err(usage)?;
            let facts = Facts {
                agent: Some(w.agent.clone()),
                expires_at: Some(w.expires_at),
                detail: format!(
                    "opened break-glass window {} until {} with the agent-sts CLI{}: {}",
                    w.id,
                    w.expires_at,
                    op.by(),
                    w.reason
                ),
                ..Facts::default()
            };
            let recorded = op.record(facts, "break_glass_opened", "the window").await;
            println!(
                "opened {} for agent {} until {} ({})",
                w.id,
                w.agent,
                crate::clock::rfc3339(w.expires_at),
                w.reason
            );
            recorded
        }
        BreakGlassCommand::Close { config, id } => {
            let config = Config::load(&config)?;
            let op = Operator::start(&config, Arc::clone(&clock)).await?;
            let (w, revoked) =
                crate::break_glass::close(&*op.db, &op.revocations, &id, "cli", clock.now())
                    .await
                    .map_err(usage)?;
            let facts = Facts {
                agent: Some(w.agent.clone()),
                detail: format!(
                    "closed break-glass window {} with the agent-sts CLI{}; {revoked} token(s) revoked",
                    w.id,
                    op.by()
                ),
                ..Facts::default()
            };
            let recorded = op.record(facts, "break_glass_closed", "the closing").await;
            println!(
                "closed {}; {revoked} token(s) issued under it revoked",
                w.id
            );
            recorded
        }
        BreakGlassCommand::List { config } => {
            let config = Config::load(&config)?;
            let db = super::open_database(&config).await?;
            let windows = crate::break_glass::list(&*db, clock.now())
                .await
                .map_err(usage)?;
            if windows.is_empty() {
                println!("no break-glass window is open");
            }
            for w in windows {
                println!(
                    "{}  agent {}  until {}  resources {}  opened by {}: {}",
                    w.id,
                    w.agent,
                    crate::clock::rfc3339(w.expires_at),
                    if w.resources.is_empty() {
                        "all".to_string()
                    } else {
                        w.resources.join(",")
                    },
                    w.opened_by,
                    w.reason
                );
            }
            Ok(())
        }
    }
}
