//! `agent-sts revoke` and `agent-sts break-glass`: operator actions from the
//! command line, stored and published like the admin API's, and audited
//! like it on a chain of their own.

use std::sync::Arc;

use super::CliError;
use crate::audit::{Audit, AuditRecord, Event, Facts, RequestContext, Verdict};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::revocation_list::Revocations;
use crate::store::SharedDatabase;

/// What an operator action from the CLI works with.
pub(super) struct Operator {
    pub db: SharedDatabase,
    pub revocations: Revocations,
    audit: Audit,
    /// The audit chain's writer (`cli-<random>`), the records' request id.
    writer: String,
    /// The OS user, when known.
    pub user: Option<String>,
    clock: SharedClock,
}

impl Operator {
    pub(super) async fn start(config: &Config, clock: SharedClock) -> Result<Self, CliError> {
        let store = crate::app::connect_store(config).await?;
        let random = || crate::tokens::random_id().map_err(|e| CliError::Start(e.into()));
        let deployment = store
            .db
            .deployment_id(&random()?)
            .await
            .map_err(|e| CliError::Start(e.into()))?;
        let writer = format!("cli-{}", random()?);
        let audit = crate::audit::Audit::start(store.db.clone(), &writer, &config.audit);
        let db = store.db.clone();
        let revocations = Revocations::new(
            store.db,
            store.redis,
            Arc::clone(&clock),
            &config.revocation,
            deployment,
        );
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty());
        Ok(Self {
            db,
            revocations,
            audit,
            writer,
            user,
            clock,
        })
    }

    /// " by OS user x", or nothing.
    pub(super) fn by(&self) -> String {
        self.user
            .as_ref()
            .map(|u| format!(" by OS user {u}"))
            .unwrap_or_default()
    }

    /// Make the action's audit record durable; `what` names the action in
    /// the error when it cannot be.
    pub(super) async fn record(
        &self,
        facts: Facts,
        done: &'static str,
        what: &str,
    ) -> Result<(), CliError> {
        let request = RequestContext {
            request_id: self.writer.clone(),
            ..Default::default()
        };
        let trail = AuditRecord::of(&request, Event::Admin, facts, Verdict::Allow(done));
        self.audit
            .durable(trail, self.clock.now())
            .await
            .map_err(|_| {
                CliError::Usage(format!(
                    "{what} is stored and in force, but its audit record could not be written"
                ))
            })
    }
}

pub(super) async fn revoke(
    config: Config,
    request: crate::revocation::AdminRevocation,
    clock: SharedClock,
) -> Result<(), CliError> {
    let op = Operator::start(&config, Arc::clone(&clock)).await?;
    let cover = crate::revocation_list::cover_seconds(&config);
    let stored = crate::revocation::admin_revoke(
        &op.revocations,
        &*op.db,
        request,
        "cli",
        clock.now(),
        cover,
    )
    .await
    .map_err(|d| CliError::Usage(d.description))?;
    let mut facts = crate::revocation::describe(&stored);
    facts.detail = format!("{} with the agent-sts CLI{}", facts.detail, op.by());
    let recorded = op.record(facts, "revoked", "the revocation").await;
    println!("{}", crate::revocation::summary(&stored));
    recorded
}
