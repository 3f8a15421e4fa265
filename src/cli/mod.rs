//! The command line: what each subcommand does, in `--help` and here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::app::StartError;
use crate::clock::{SharedClock, SystemClock, rfc3339};
use crate::config::{Config, SecretSource, Span};
use crate::dev::setup;
use crate::tokens::keys::{self, SigningAlg};

mod audit;
mod break_glass;
mod explain;
mod revoke;

#[derive(Debug, Parser)]
#[command(
    name = "agent-sts",
    version,
    about = "A token exchange (RFC 8693) security token service for AI agents"
)]
pub struct Cli {
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve on 127.0.0.1 with SQLite, in-process caches, dev keys and a
    /// built-in dev IdP, and print a walkthrough. For trying agent-sts, never
    /// for production.
    StartDev {
        /// Port to listen on.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Loopback address to bind (127.0.0.1 or ::1); others are refused.
        #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
        bind: IpAddr,
        /// Where the SQLite database lives.
        #[arg(long, default_value = ".agent-sts-dev")]
        data_dir: PathBuf,
        /// Where dev signing keys are kept (generated when missing).
        #[arg(long, default_value = "keys/dev")]
        keys_dir: PathBuf,
        /// Serve this configuration in dev mode instead of the built-in
        /// policy (loopback only; `insecure_*` settings allowed). For
        /// benchmarks that compare such settings.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Serve with a configuration file.
    Serve {
        /// The TOML configuration (see examples/agent-sts.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Validate a configuration file and its key folder, then exit.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage client credentials.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Check or search the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// What /token would decide for an agent, a resource and a subject,
    /// and why (scopes, rules, pattern, act, TTL), without issuing
    /// anything. Exit 0 allow, 1 deny, 2 usage or configuration error.
    Explain(explain::ExplainArgs),
    /// Open, close or list break-glass windows: the roll-out's fallback
    /// path (workload tokens for an agent whose policy refuses them), at
    /// most 24 hours, audited, revoked on close.
    #[command(subcommand)]
    BreakGlass(break_glass::BreakGlassCommand),
    /// Revoke tokens now, on every replica: one token (--jti), every token
    /// of a user (--subject, optionally --idp), of an agent or of a client
    /// issued up to this moment. Same logic as POST /admin/revocations.
    Revoke {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, group = "target")]
        jti: Option<String>,
        #[arg(long, group = "target")]
        subject: Option<String>,
        /// With --subject: only tokens whose user came from this issuer.
        #[arg(long, requires = "subject")]
        idp: Option<String>,
        #[arg(long, group = "target")]
        agent: Option<String>,
        #[arg(long, group = "target")]
        client: Option<String>,
        /// Recorded with the revocation.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create the first signing key of a folder, active at once.
    Generate {
        #[arg(long, value_enum, default_value_t = SigningAlg::Es256)]
        alg: SigningAlg,
        #[arg(long, default_value = "keys")]
        dir: PathBuf,
    },
    /// List the keys of a folder with their state (next, active, retired,
    /// expired) and validity times. Never prints private material.
    List {
        #[arg(long, default_value = "keys")]
        dir: PathBuf,
    },
    /// Publish a new key now that starts signing after --lead; the current
    /// key stops signing then and stays in the JWKS until every token it
    /// signed has expired.
    Rotate {
        #[arg(long, default_value = "keys")]
        dir: PathBuf,
        /// Algorithm of the new key (default: the current key's).
        #[arg(long, value_enum)]
        alg: Option<SigningAlg>,
        /// How long the new key is published before it signs; keep it above
        /// the JWKS max-age. `0s` is an emergency rotation.
        #[arg(long, default_value = "1h", value_parser = Span::parse)]
        lead: Span,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk every hash chain and report the first broken link (a deleted,
    /// inserted or edited record). Exits 1 when one is found.
    Verify {
        #[arg(long)]
        config: PathBuf,
    },
    /// Print matching records as JSON lines, oldest first.
    Query {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        agent: Option<String>,
        #[arg(long, value_parser = ["allow", "deny", "would_deny"])]
        decision: Option<String>,
        /// Unix seconds, inclusive.
        #[arg(long)]
        since: Option<i64>,
        /// Unix seconds, exclusive.
        #[arg(long)]
        until: Option<i64>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// One pass of the audit upkeep the server runs hourly: create the
    /// partitions ahead (PostgreSQL) and, when [audit] retention is set,
    /// prune the records past it. Prints what it did.
    Prune {
        #[arg(long)]
        config: PathBuf,
        /// Print what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Per agent and pattern: token allows, denies and report-only
    /// would_deny by reason, the users, upstreams and tenants behind them,
    /// and the ten most refused users. Exits 2 on a usage or config error.
    Report {
        #[arg(long)]
        config: PathBuf,
        /// How far back from now: e.g. 7d, 24h.
        #[arg(long, default_value = crate::audit::report::DEFAULT_SINCE)]
        since: String,
        /// Only this agent.
        #[arg(long)]
        agent: Option<String>,
        /// One JSON document (what GET /admin/audit/report answers) instead
        /// of the table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Print a new 256-bit client secret and the secret_sha256 to configure.
    NewSecret,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Start(#[from] StartError),
    #[error("{0}")]
    Config(#[from] crate::config::LoadError),
    #[error("{0}")]
    Keys(#[from] keys::KeyError),
    #[error("{0}")]
    Usage(String),
    /// `explain`: the decision is a denial (exit 1; already printed when
    /// empty).
    #[error("{0}")]
    Denied(String),
    /// A usage or configuration error of a command that exits 2 for those
    /// (`explain`, `audit report`), so scripts can tell them from a failed run.
    #[error("{0}")]
    Invalid(String),
}

impl CliError {
    /// The process exit code: 2 for [`CliError::Invalid`], 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Invalid(_) => 2,
            _ => 1,
        }
    }
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let clock: SharedClock = Arc::new(SystemClock);
    match cli.command {
        Command::StartDev {
            port,
            bind,
            data_dir,
            keys_dir,
            config: None,
        } => start_dev(clock, SocketAddr::new(bind, port), data_dir, keys_dir).await,
        Command::StartDev {
            config: Some(path), ..
        } => start_dev_with(clock, &path).await,
        Command::Serve { config: path } => {
            let config = Config::load(&path)?;
            let reloads = reload_on_hangup(move || Config::load(&path).map_err(|e| e.to_string()));
            let listener = bind_listener(config.listen).await?;
            let addr = listener.local_addr().map_err(|cause| StartError::Listen {
                addr: config.listen.to_string(),
                cause,
            })?;
            let issuer = config.issuer.clone();
            let app = crate::app::App::build(config, clock).await?;
            tracing::info!(%addr, %issuer, "serving");
            Ok(crate::server::serve(app, listener, shutdown_signal(), reloads).await?)
        }
        Command::Check { config: path } => check(&path, clock.now()),
        Command::Keys(cmd) => keys_command(cmd, clock.now()),
        Command::Clients(ClientsCommand::NewSecret) => new_secret(),
        Command::Audit(cmd) => audit::audit_command(cmd).await,
        Command::Explain(args) => explain::run(args, clock).await,
        Command::BreakGlass(cmd) => break_glass::run(cmd, clock).await,
        Command::Revoke {
            config,
            jti,
            subject,
            idp,
            agent,
            client,
            reason,
        } => {
            let config = Config::load(&config)?;
            let request = crate::revocation::AdminRevocation {
                jti,
                subject,
                idp,
                agent,
                client,
                reason,
            };
            revoke::revoke(config, request, clock).await
        }
    }
}

/// start-dev with a configuration file: the same file as `serve` takes,
/// in dev mode, refused unless it listens on loopback.
async fn start_dev_with(clock: SharedClock, path: &std::path::Path) -> Result<(), CliError> {
    let config = load_dev_file(path)?;
    if !config.listen.ip().is_loopback() {
        return Err(CliError::Usage(format!(
            "start-dev serves only on a loopback address, not {}",
            config.listen
        )));
    }
    setup::ensure_dev_keys(&config.keys.dir, clock.now())?;
    let listener = bind_listener(config.listen).await?;
    let app = crate::app::App::build(config, clock).await?;
    tracing::warn!("start-dev with a configuration file: development and benchmarks only");
    let path = path.to_path_buf();
    let reloads = reload_on_hangup(move || load_dev_file(&path).map_err(|e| e.to_string()));
    Ok(crate::server::serve(app, listener, shutdown_signal(), reloads).await?)
}

/// A configuration file as start-dev reads it: in dev mode, env overlaid.
fn load_dev_file(path: &std::path::Path) -> Result<Config, CliError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|cause| crate::config::LoadError::Read {
        origin: origin.clone(),
        cause,
    })?;
    let mut config = Config::parse(&text, &origin)?;
    config.overlay_env();
    config.dev_mode = true;
    config
        .validate()
        .map_err(|errors| crate::config::LoadError::Invalid { origin, errors })?;
    Ok(config)
}

/// Each SIGHUP reads the configuration again with `load` and hands the
/// result to the server, which applies it or logs why not.
fn reload_on_hangup(
    load: impl Fn() -> Result<Config, String> + Send + 'static,
) -> tokio::sync::mpsc::Receiver<crate::server::ReloadRequest> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload by restarting");
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reading the configuration again");
            if tx.send(load()).await.is_err() {
                return;
            }
        }
    });
    #[cfg(not(unix))]
    drop((tx, load));
    rx
}

async fn start_dev(
    clock: SharedClock,
    addr: SocketAddr,
    data_dir: PathBuf,
    keys_dir: PathBuf,
) -> Result<(), CliError> {
    if !addr.ip().is_loopback() {
        return Err(CliError::Usage(format!(
            "start-dev serves only on a loopback address (127.0.0.1 or ::1), not {}; use `agent-sts serve --config FILE`",
            addr.ip()
        )));
    }
    let listener = bind_listener(addr).await?;
    let bound = listener.local_addr().map_err(|cause| StartError::Listen {
        addr: addr.to_string(),
        cause,
    })?;
    let (kid, made) = setup::ensure_dev_keys(&keys_dir, clock.now())?;
    if made {
        tracing::info!(kid, dir = %keys_dir.display(), "generated a dev signing key");
    }
    let config = setup::dev_config(bound, &data_dir, &keys_dir)?;
    let base = config.issuer.clone();
    let app = crate::app::App::build(config, clock).await?;
    say(&setup::walkthrough(&base, &data_dir, &keys_dir));
    let (data, keys) = (data_dir.clone(), keys_dir.clone());
    let reloads =
        reload_on_hangup(move || setup::dev_config(bound, &data, &keys).map_err(|e| e.to_string()));
    let server = tokio::spawn(crate::server::serve(
        app,
        listener,
        shutdown_signal(),
        reloads,
    ));
    match setup::demo(&base).await {
        Ok(shown) => say(&format!("Done for you just now:\n{shown}")),
        Err(e) => tracing::warn!(error = %e, "the walkthrough's exchanges failed"),
    }
    server
        .await
        .map_err(|e| CliError::Usage(format!("the server task failed: {e}")))?
        .map_err(CliError::from)
}

/// A line on stdout; a closed stdout (piped into `head`, a reader gone)
/// must not stop a running server, so a failed write is ignored.
fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

async fn bind_listener(addr: SocketAddr) -> Result<tokio::net::TcpListener, StartError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|cause| StartError::Listen {
            addr: addr.to_string(),
            cause,
        })
}

fn check(path: &std::path::Path, now: i64) -> Result<(), CliError> {
    let config = Config::load(path)?;
    println!(
        "ok: {}: {} upstream(s), {} resource(s), {} agent(s)",
        path.display(),
        config.upstreams.len(),
        config.resources.len(),
        config.agents.len()
    );
    let mut secrets: Vec<(String, &SecretSource)> =
        vec![("storage.database_url".into(), &config.storage.database_url)];
    if let Some(r) = &config.storage.redis_url {
        secrets.push(("storage.redis_url".into(), r));
    }
    for (i, u) in config.upstreams.iter().enumerate() {
        if let Some(intro) = &u.introspection {
            secrets.push((
                format!("upstreams[{i}].introspection.client_secret"),
                &intro.client_secret,
            ));
        }
    }
    for (field, s) in secrets {
        if let (Some(var), Err(_)) = (s.env_name(), s.resolve()) {
            println!(
                "warning: {field}: environment variable {var} is not set here; `serve` refuses to start without it"
            );
        }
    }
    let dir = &config.keys.dir;
    if dir.exists() {
        let ring = crate::tokens::keyring::KeyRing::new(keys::load_dir(dir)?);
        match ring.signer(now) {
            Some(k) => println!(
                "ok: {}: signing key {} ({})",
                dir.display(),
                k.kid,
                k.alg.as_str()
            ),
            None => println!(
                "warning: {}: no active signing key; `serve` refuses to start",
                dir.display()
            ),
        }
    } else {
        println!(
            "note: {} does not exist yet; `agent-sts keys generate --dir {}` creates the first key",
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}

fn keys_command(cmd: KeysCommand, now: i64) -> Result<(), CliError> {
    match cmd {
        KeysCommand::Generate { alg, dir } => {
            let k = keys::generate_first(&dir, alg, now)?;
            println!(
                "generated {} key {} in {} (active now)",
                alg.as_str(),
                k.kid,
                dir.display()
            );
        }
        KeysCommand::List { dir } => {
            let list = keys::load_dir(&dir)?;
            println!(
                "{:<44} {:<6} {:<8} {:<21} {:<21} published until",
                "kid", "alg", "state", "activates", "deactivates"
            );
            let opt = |t: Option<i64>| t.map(rfc3339).unwrap_or_else(|| "-".into());
            for k in list {
                println!(
                    "{:<44} {:<6} {:<8} {:<21} {:<21} {}",
                    k.kid,
                    k.alg.as_str(),
                    k.state(now).as_str(),
                    rfc3339(k.activates_at),
                    opt(k.deactivates_at),
                    opt(k.published_until())
                );
            }
        }
        KeysCommand::Rotate { dir, alg, lead } => {
            let lead_secs = i64::try_from(lead.as_secs()).unwrap_or(i64::MAX);
            let k = keys::rotate(&dir, alg, lead_secs, now)?;
            println!(
                "published {} key {} (it signs from {}; the current key retires then)",
                k.alg.as_str(),
                k.kid,
                rfc3339(k.activates_at)
            );
            if lead.as_secs() < 300 {
                println!(
                    "warning: a lead under the JWKS max-age means some verifiers will not know the new key at first"
                );
            }
        }
    }
    Ok(())
}

async fn open_database(config: &Config) -> Result<crate::store::SharedDatabase, CliError> {
    let db_url = config
        .storage
        .database_url
        .resolve()
        .map_err(|m| CliError::Usage(format!("storage.database_url: {m}")))?;
    crate::store::connect_database(&db_url)
        .await
        .map_err(|e| CliError::Start(e.into()))
}

fn new_secret() -> Result<(), CliError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CliError::Usage("the system random number generator failed".into()))?;
    use base64::Engine;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hex = crate::digest::sha256_hex(secret.as_bytes());
    println!("client secret (give it to the client; it is not stored): {secret}");
    println!("configure:  secret_sha256 = \"{hex}\"");
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
