//! `GET /authorize`: check the client, its redirect URI and the request,
//! remember it, and send the user to sign in at the agent's upstream IdP.

use std::collections::HashMap;

use super::pending::{
    LOGIN_TTL, Pending, code_challenge_of, param, put_json, redirect_matches, with_params,
};
use super::{Answer, Authorizing};
use crate::audit::{AuditRecord, Event, Facts, RequestContext, Verdict};
use crate::config::Pattern;
use crate::error::ErrorCode;
use crate::policy::{Denial, decide_scopes};
use crate::reason::Reason;
use crate::upstream::LoginRequest;

pub async fn authorize(
    ctx: &Authorizing<'_>,
    request: &RequestContext,
    params: &HashMap<String, String>,
) -> Answer {
    let now = ctx.clock.now();
    let mut facts = Facts {
        claimed_client_id: param(params, "client_id").map(str::to_string),
        audience: param(params, "resource").map(str::to_string),
        scopes_requested: param(params, "scope").map(|s| {
            s.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        }),
        ..Facts::default()
    };
    // Before the client and its redirect URI are known good, nothing is
    // redirected: an error page, so we are no open redirector.
    let agent = match param(params, "client_id").and_then(|c| ctx.policy.agent_by_client(c)) {
        Some(a) if a.patterns.contains(&Pattern::Interactive) => a,
        _ => {
            let d = Denial::new(
                ErrorCode::InvalidClient,
                Reason::UnknownClient,
                "client_id is not a registered interactive client",
            );
            return page(ctx, request, facts, &d, 400).await;
        }
    };
    facts.client_id = facts.claimed_client_id.take();
    facts.agent = Some(agent.id.clone());
    let fetched;
    let registered: &[String] = if agent.client.redirect_uris.is_empty()
        && crate::config::is_document_url(&agent.client.id)
    {
        match ctx.documents.redirect_uris(&agent.client.id, now).await {
            Ok(uris) => {
                fetched = uris;
                &fetched
            }
            Err(why) => {
                let d = Denial::new(
                    ErrorCode::InvalidClient,
                    Reason::ClientMetadataInvalid,
                    format!("the client's metadata document cannot be used: {why}"),
                );
                return page(ctx, request, facts, &d, 400).await;
            }
        }
    } else {
        &agent.client.redirect_uris
    };
    let redirect_uri = match param(params, "redirect_uri") {
        Some(r) if registered.iter().any(|g| redirect_matches(g, r)) => r,
        _ => {
            let d = Denial::new(
                ErrorCode::InvalidRequest,
                Reason::RedirectUriMismatch,
                "redirect_uri is not registered for this client",
            );
            return page(ctx, request, facts, &d, 400).await;
        }
    };
    let state = param(params, "state");
    let refuse = |d: Denial| back_to_client(ctx, request, facts.clone(), d, redirect_uri, state);
    let pending = match check(ctx, agent, params, now) {
        Ok(p) => p,
        Err(d) => return refuse(d).await,
    };
    let Some(upstream) = ctx.upstreams.login_upstream(&agent.user_upstreams) else {
        let d = Denial::new(
            ErrorCode::ServerError,
            Reason::UpstreamLoginFailed,
            "no upstream IdP to sign in at is configured for this client",
        );
        return refuse(d).await;
    };
    let handles = (|| -> Result<_, crate::tokens::RandomUnavailable> {
        let verifier = crate::tokens::random_secret()?;
        Ok((ctx.randomness.id()?, ctx.randomness.id()?, verifier))
    })();
    let Ok((our_state, nonce, verifier)) = handles else {
        let d = Denial::new(
            ErrorCode::TemporarilyUnavailable,
            Reason::RandomUnavailable,
            "the sign-in cannot start now; try again",
        );
        return refuse(d).await;
    };
    let pending = Pending {
        client_id: agent.client.id.clone(),
        redirect_uri: redirect_uri.to_string(),
        state: state.map(str::to_string),
        upstream: upstream.to_string(),
        nonce: nonce.clone(),
        verifier: verifier.clone(),
        started_at: now,
        ..pending
    };
    let stored = put_json(ctx.store, "login", &our_state, &pending, now + LOGIN_TTL).await;
    if let Err(e) = stored {
        tracing::error!(error = %e, "a pending sign-in could not be stored");
        let d = Denial::new(
            ErrorCode::TemporarilyUnavailable,
            Reason::AuditUnavailable,
            "the sign-in cannot start now; try again",
        );
        return refuse(d).await;
    }
    let callback = ctx.callback_uri();
    let login = LoginRequest {
        redirect_uri: &callback,
        state: &our_state,
        nonce: &nonce,
        code_challenge: &code_challenge_of(&verifier),
        login_hint: param(params, "login_hint"),
    };
    match ctx.upstreams.login_url(upstream, &login).await {
        Ok(url) => Answer::Redirect(url),
        Err(r) => {
            let d = Denial::new(ErrorCode::TemporarilyUnavailable, r.reason, r.detail);
            refuse(d).await
        }
    }
}

/// The request's own rules, once the client and redirect URI are trusted:
/// `response_type=code`, PKCE `S256`, one resource the agent may call,
/// scopes it declares for it.
fn check(
    ctx: &Authorizing<'_>,
    agent: &crate::policy::Agent,
    params: &HashMap<String, String>,
    now: crate::clock::UnixTime,
) -> Result<Pending, Denial> {
    if param(params, "response_type") != Some("code") {
        return Err(Denial::new(
            ErrorCode::UnsupportedResponseType,
            Reason::BadRequest,
            "response_type must be code",
        ));
    }
    let pkce = |m: &str| Denial::new(ErrorCode::InvalidRequest, Reason::PkceRequired, m);
    let challenge = param(params, "code_challenge")
        .ok_or_else(|| pkce("code_challenge is required (PKCE with S256)"))?;
    match param(params, "code_challenge_method") {
        Some("S256") => {}
        Some("plain") | None => {
            return Err(pkce(
                "code_challenge_method must be S256: plain is not accepted",
            ));
        }
        Some(_) => return Err(pkce("code_challenge_method must be S256")),
    }
    let valid = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(pkce(
            "code_challenge must be base64url(SHA-256(verifier)): 43 characters",
        ));
    }
    let requested = param(params, "resource").ok_or_else(|| {
        Denial::new(
            ErrorCode::InvalidTarget,
            Reason::TargetNotAllowed,
            "resource is required: name the MCP server the token is for",
        )
    })?;
    let resource = ctx
        .policy
        .resource(requested)
        .unwrap_or(requested)
        .to_string();
    let scopes: Option<Vec<String>> = param(params, "scope").map(|s| {
        s.split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    });
    // The user's groups are checked after the sign-in; what the agent may
    // ask for at all, now.
    decide_scopes(ctx.policy, agent, None, &resource, scopes.as_deref())?;
    Ok(Pending {
        client_id: String::new(),
        redirect_uri: String::new(),
        state: None,
        code_challenge: challenge.to_string(),
        resource,
        scopes,
        upstream: String::new(),
        nonce: String::new(),
        verifier: String::new(),
        started_at: now,
    })
}

/// An error page, recorded.
pub(super) async fn page(
    ctx: &Authorizing<'_>,
    request: &RequestContext,
    facts: Facts,
    d: &Denial,
    status: u16,
) -> Answer {
    record(ctx, request, facts, d).await;
    Answer::Page {
        status,
        text: format!("{}: {}", d.error.as_str(), d.description),
    }
}

/// The error sent back to the client (RFC 6749 §4.1.2.1, RFC 9207), recorded.
pub(super) async fn back_to_client(
    ctx: &Authorizing<'_>,
    request: &RequestContext,
    facts: Facts,
    d: Denial,
    redirect_uri: &str,
    state: Option<&str>,
) -> Answer {
    record(ctx, request, facts, &d).await;
    let mut params = vec![
        ("error", d.error.as_str()),
        ("error_description", d.description.as_str()),
    ];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", ctx.issuer));
    Answer::Redirect(with_params(redirect_uri, &params))
}

async fn record(ctx: &Authorizing<'_>, request: &RequestContext, facts: Facts, d: &Denial) {
    let verdict = Verdict::Deny(d.reason, &d.description);
    let record = AuditRecord::of(request, Event::Authorize, facts, verdict);
    // A refusal stands whether or not its record could be committed.
    let _ = ctx.audit.decided(record, ctx.clock.now()).await;
}
