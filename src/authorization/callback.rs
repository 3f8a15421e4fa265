//! `GET /authorize/callback`: the user is back from the upstream IdP.
//! Finish the sign-in (code + PKCE at the IdP, the ID token verified for
//! our client and this sign-in's nonce), decide as an OBO exchange would,
//! and send the client its one-time code.

use std::collections::HashMap;

use super::authorize::{back_to_client, page};
use super::pending::{
    CODE_TTL, CodeGrant, Pending, SignedInUser, key_of, param, put_json, with_params,
};
use super::{Answer, Authorizing};
use crate::audit::{AuditRecord, Event, Facts, RequestContext, Verdict};
use crate::error::{ErrorCode, shown};
use crate::metadata::TOKEN_TYPE_ID_TOKEN;
use crate::policy::{Denial, Exchange, Presented, Token, decide_exchange, pattern_name};
use crate::reason::Reason;
use crate::store::Taken;

pub async fn callback(
    ctx: &Authorizing<'_>,
    request: &RequestContext,
    params: &HashMap<String, String>,
) -> Answer {
    let now = ctx.clock.now();
    let lost = |why: &str| {
        Denial::new(
            ErrorCode::InvalidRequest,
            Reason::LoginStateInvalid,
            format!("{why}; start the sign-in again from your application"),
        )
    };
    let Some(state) = param(params, "state") else {
        let d = lost("the identity provider sent no state");
        return page(ctx, request, Facts::default(), &d, 400).await;
    };
    let pending: Pending = match ctx.store.take_once("login", &key_of(state), now).await {
        Ok(Taken::First(json)) => match serde_json::from_str(&json) {
            Ok(p) => p,
            Err(_) => {
                let d = lost("this sign-in could not be read");
                return page(ctx, request, Facts::default(), &d, 400).await;
            }
        },
        Ok(Taken::Again(_)) => {
            let d = lost("this sign-in was already finished");
            return page(ctx, request, Facts::default(), &d, 400).await;
        }
        Ok(Taken::Missing) => {
            let d = lost("this sign-in is unknown or expired");
            return page(ctx, request, Facts::default(), &d, 400).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "pending sign-ins are unavailable");
            let d = Denial::new(
                ErrorCode::TemporarilyUnavailable,
                Reason::AuditUnavailable,
                "the sign-in cannot be finished now; try again",
            );
            return page(ctx, request, Facts::default(), &d, 503).await;
        }
    };
    let mut facts = Facts {
        client_id: Some(pending.client_id.clone()),
        audience: Some(pending.resource.clone()),
        scopes_requested: pending.scopes.clone(),
        pattern: Some("interactive".into()),
        ..Facts::default()
    };
    let state = pending.state.as_deref();
    let back = |facts: Facts, d: Denial| {
        back_to_client(ctx, request, facts, d, &pending.redirect_uri, state)
    };
    let denied =
        |reason: Reason, detail: String| Denial::new(ErrorCode::AccessDenied, reason, detail);
    if let Some(error) = param(params, "error") {
        let d = denied(
            Reason::UpstreamLoginFailed,
            format!(
                "the identity provider refused the sign-in: {}",
                shown(error)
            ),
        );
        return back(facts, d).await;
    }
    let Some(agent) = ctx.policy.agent_by_client(&pending.client_id) else {
        let d = denied(
            Reason::UnknownClient,
            "the client is no longer registered".into(),
        );
        return back(facts, d).await;
    };
    facts.agent = Some(agent.id.clone());
    let Some(code) = param(params, "code") else {
        let d = denied(
            Reason::UpstreamLoginFailed,
            "the identity provider sent no code".into(),
        );
        return back(facts, d).await;
    };
    let finished = ctx
        .upstreams
        .finish_login(
            &pending.upstream,
            code,
            &pending.verifier,
            &ctx.callback_uri(),
            &pending.nonce,
        )
        .await;
    let user = match finished {
        Ok(v) => v,
        Err(r) => {
            let d = denied(
                r.reason,
                format!("the sign-in could not be verified: {}", r.detail),
            );
            return back(facts, d).await;
        }
    };
    facts.subject = Some(user.subject.clone());
    facts.idp = Some(user.issuer.clone());
    facts.tenant = user.tenant.clone();
    let outcome = decide_exchange(
        ctx.policy,
        ctx.revocations,
        &Exchange {
            agent,
            issuer: ctx.issuer,
            subject: Presented {
                token: Token::Upstream(&user),
                token_type: TOKEN_TYPE_ID_TOKEN,
            },
            actor: None,
            target: &pending.resource,
            requested: pending.scopes.as_deref(),
            now,
            arrival: crate::policy::Arrival::SignedIn,
        },
    );
    facts.pattern = outcome.pattern.map(|p| pattern_name(p).to_string());
    let decided = match outcome.decision {
        Ok(d) => d,
        Err(d) => {
            // RFC 6749 §4.1.2.1 and RFC 8707 name these for /authorize.
            let error = match d.error {
                ErrorCode::InvalidScope | ErrorCode::InvalidTarget => d.error,
                ErrorCode::UnauthorizedClient => ErrorCode::UnauthorizedClient,
                ErrorCode::TemporarilyUnavailable => ErrorCode::TemporarilyUnavailable,
                _ => ErrorCode::AccessDenied,
            };
            return back(facts, Denial { error, ..d }).await;
        }
    };
    let handles = (|| -> Result<_, crate::tokens::RandomUnavailable> {
        Ok((crate::tokens::random_secret()?, ctx.randomness.id()?))
    })();
    let Ok((code, jti)) = handles else {
        let d = Denial::new(
            ErrorCode::TemporarilyUnavailable,
            Reason::RandomUnavailable,
            "no code can be issued now; try again",
        );
        return back(facts, d).await;
    };
    if let Some(w) = &decided.waiver {
        facts.would_deny = Some((w.denial.reason, w.denial.description.clone()));
    }
    facts.scopes_granted = Some(decided.scopes.clone());
    facts.act = decided.act.clone();
    facts.jti = Some(jti.clone());
    let grant = CodeGrant {
        client_id: pending.client_id.clone(),
        agent: agent.id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        code_challenge: pending.code_challenge.clone(),
        resource: pending.resource.clone(),
        sub: decided.sub,
        scopes: decided.scopes,
        act: decided.act,
        may_act: decided.may_act,
        idp: decided.idp,
        tid: decided.tid,
        waived: decided.waiver.map(|w| w.waived),
        signed_in_at: user.issued_by,
        jti,
        user: SignedInUser {
            upstream: user.upstream.to_string(),
            groups: match &user.groups {
                crate::upstream::Groups::Known(g) => Some(g.clone()),
                crate::upstream::Groups::Unknown => None,
            },
            requested: pending.scopes.clone(),
        },
    };
    let stored = put_json(ctx.store, "code", &code, &grant, now + CODE_TTL).await;
    if let Err(e) = stored {
        tracing::error!(error = %e, "an authorization code could not be stored");
        let d = Denial::new(
            ErrorCode::TemporarilyUnavailable,
            Reason::AuditUnavailable,
            "no code can be issued now; try again",
        );
        return back(facts, d).await;
    }
    // The decision is durable before the client hears of it.
    let record = AuditRecord::of(
        request,
        Event::Authorize,
        facts,
        Verdict::Allow("code_issued"),
    );
    if ctx.audit.decided(record, now).await.is_err() {
        let d = Denial::unrecorded();
        return back(Facts::default(), d).await;
    }
    let mut answer = vec![("code", code.as_str())];
    if let Some(s) = state {
        answer.push(("state", s));
    }
    answer.push(("iss", ctx.issuer));
    Answer::Redirect(with_params(&pending.redirect_uri, &answer))
}
