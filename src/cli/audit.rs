//! `agent-sts audit verify | query | report | prune`: the audit trail from the
//! command line, read straight from the database.

use super::{AuditCommand, CliError, open_database};
use crate::config::Config;

pub(super) async fn audit_command(cmd: AuditCommand) -> Result<(), CliError> {
    match cmd {
        AuditCommand::Verify { config } => {
            let config = Config::load(&config)?;
            let db = open_database(&config).await?;
            let retention = config
                .audit
                .retention
                .unwrap_or(crate::config::MIN_AUDIT_RETENTION);
            let now = crate::clock::Clock::now(&crate::clock::SystemClock);
            let report = crate::audit::verify::verify(&*db, retention, now)
                .await
                .map_err(|e| CliError::Start(e.into()))?;
            for pruned in &report.pruned {
                println!("{pruned}");
            }
            match report.broken {
                None => {
                    println!(
                        "ok: {} records in {} chains; every link holds",
                        report.records, report.chains
                    );
                    Ok(())
                }
                Some(b) => Err(CliError::Usage(format!(
                    "broken: {b} ({} records verified before it)",
                    report.records
                ))),
            }
        }
        AuditCommand::Query {
            config,
            subject,
            agent,
            decision,
            since,
            until,
            limit,
        } => {
            let db = open_database(&Config::load(&config)?).await?;
            let filter = crate::store::AuditFilter {
                subject,
                agent,
                decision,
                since,
                until,
                after: 0,
                limit,
            };
            let (records, _) = crate::audit::query(&*db, filter)
                .await
                .map_err(|e| CliError::Start(e.into()))?;
            for r in records {
                println!("{r}");
            }
            Ok(())
        }
        AuditCommand::Prune { config, dry_run } => {
            use crate::clock::Clock;
            let config = Config::load(&config)?;
            let db = open_database(&config).await?;
            let now = crate::clock::SystemClock.now();
            let plan = crate::audit::retention::plan(&config.audit, now, dry_run);
            let done = crate::audit::retention::pass(&*db, &plan)
                .await
                .map_err(|e| CliError::Start(e.into()))?;
            print!(
                "{}",
                crate::audit::retention::describe(&plan, done.as_ref())
            );
            Ok(())
        }
        AuditCommand::Report {
            config,
            since,
            agent,
            json,
        } => report(&config, &since, agent, json).await,
    }
}

/// `audit report`: config and window problems are usage errors (exit 2);
/// an unreachable database is a failed run (exit 1).
async fn report(
    config: &std::path::Path,
    since: &str,
    agent: Option<String>,
    json: bool,
) -> Result<(), CliError> {
    use crate::clock::Clock;
    let config = Config::load(config).map_err(|e| CliError::Invalid(e.to_string()))?;
    let now = crate::clock::SystemClock.now();
    let (since, until) = crate::audit::report::window(since, now)
        .map_err(|m| CliError::Invalid(format!("--since: {m}")))?;
    let db = match open_database(&config).await {
        Err(CliError::Usage(m)) => return Err(CliError::Invalid(m)),
        other => other?,
    };
    let report = crate::audit::report::report(&*db, since, until, agent)
        .await
        .map_err(|e| CliError::Start(e.into()))?;
    if json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Usage(format!("cannot write the report as JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{report}");
    }
    Ok(())
}
