//! `agent-sts revoke`: a revocation made from the command line, stored and
//! published like the admin API's, and audited like it on a chain of its own.

use std::sync::Arc;

use super::CliError;
use crate::clock::SharedClock;
use crate::config::Config;

pub(super) async fn revoke(
    config: Config,
    request: crate::revocation::AdminRevocation,
    clock: SharedClock,
) -> Result<(), CliError> {
    let store = crate::app::connect_store(&config).await?;
    let deployment = store
        .db
        .deployment_id(&crate::tokens::random_id().map_err(|e| CliError::Start(e.into()))?)
        .await
        .map_err(|e| CliError::Start(e.into()))?;
    let cover = crate::revocation_list::cover_seconds(&config);
    // Audited like the admin API: its own chain (`cli-<random>.1`).
    let writer = format!(
        "cli-{}",
        crate::tokens::random_id().map_err(|e| CliError::Start(e.into()))?
    );
    let audit = crate::audit::Audit::start(store.db.clone(), &writer, &config.audit);
    let db = store.db.clone();
    let revocations = crate::revocation_list::Revocations::new(
        store.db,
        store.redis,
        Arc::clone(&clock),
        &config.revocation,
        deployment,
    );
    let operator = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty());
    let stored =
        crate::revocation::admin_revoke(&revocations, &*db, request, "cli", clock.now(), cover)
            .await
            .map_err(|d| CliError::Usage(d.description))?;
    let mut facts = crate::revocation::describe(&stored);
    facts.detail = format!(
        "{} with the agent-sts CLI{}",
        facts.detail,
        operator
            .map(|u| format!(" by OS user {u}"))
            .unwrap_or_default()
    );
    let request = crate::audit::RequestContext {
        request_id: writer.clone(),
        ..Default::default()
    };
    let trail = crate::audit::AuditRecord::of(
        &request,
        crate::audit::Event::Admin,
        facts,
        crate::audit::Verdict::Allow("revoked"),
    );
    let recorded = audit.durable(trail, clock.now()).await;
    println!("{}", crate::revocation::summary(&stored));
    recorded.map_err(|_| {
        CliError::Usage(
            "the revocation is stored and in force, but its audit record could not be written"
                .into(),
        )
    })?;
    Ok(())
}
