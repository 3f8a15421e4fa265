//! `agent-sts revoke`: a revocation made from the command line, stored and
//! published like the admin API's, and audited like it on a chain of its own.

use std::sync::Arc;

use super::CliError;
use crate::clock::SharedClock;
use crate::config::Config;

pub(super) async fn revoke(
    config: Config,
    request: crate::revoke::AdminRevocation,
    clock: SharedClock,
) -> Result<(), CliError> {
    let store = crate::app::connect_store(&config).await?;
    let deployment = store
        .db
        .deployment_id(&crate::tokens::random_id().map_err(|e| CliError::Start(e.into()))?)
        .await
        .map_err(|e| CliError::Start(e.into()))?;
    let cover = crate::revocation::cover_seconds(&config);
    // Audited like the admin API: its own chain (`cli-<random>.1`).
    let writer = format!(
        "cli-{}",
        crate::tokens::random_id().map_err(|e| CliError::Start(e.into()))?
    );
    let audit = crate::audit::Audit::start(store.db.clone(), &writer, &config.audit);
    let revocations = crate::revocation::Revocations::new(
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
    let stored = crate::revoke::admin_revoke(&revocations, request, "cli", clock.now(), cover)
        .await
        .map_err(|d| CliError::Usage(d.description))?;
    let mut trail = crate::audit::AuditRecord {
        event: Some(crate::audit::Event::Admin),
        decision: Some(crate::audit::Decision::Allow),
        reason: "revoked".into(),
        request_id: writer.clone(),
        ..Default::default()
    };
    crate::revoke::describe(&mut trail, &stored);
    trail.detail = format!(
        "{} with the agent-sts CLI{}",
        trail.detail,
        operator
            .map(|u| format!(" by OS user {u}"))
            .unwrap_or_default()
    );
    let recorded = audit.durable(trail, clock.now()).await;
    println!("{}", crate::revoke::summary(&stored));
    recorded.map_err(|_| {
        CliError::Usage(
            "the revocation is stored and in force, but its audit record could not be written"
                .into(),
        )
    })?;
    Ok(())
}
