//! No token carries more authority than was granted: who may present our
//! tokens, report-only, "Alice quits", the revocation cascade, token types
//! and upstream `act`. Each refusal is checked over HTTP (status, exact
//! body, `no-store`), in the domain (its reason), and in the audit trail
//! (exactly one record, every field).

use agent_sts::reason::Reason;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::support::*;
use super::token::{allow, expect_one, granted};
use super::{Trail, blank, with};
use crate::fake_idp::FakeOkta;
use crate::helpers::json_body;

/// What the record of support-bot's refusal for zendesk says, plus `more`.
fn support_bot(more: Value) -> Value {
    known("support-bot", PRINCIPAL, ZENDESK, more)
}

/// support-bot's OBO token for alice, for zendesk.
async fn alices(sts: &Sts) -> Minted {
    let subject = sts.user(ALICE, ALICE_GROUPS);
    sts.granted(&Req::exchange(sts.basic("support-bot"), &subject))
        .await
}

/// What the record of a refusal says once `agent` has authenticated.
fn known(agent: &str, principal: &str, audience: &str, more: Value) -> Value {
    let mut v = json!({
        "agent": agent, "agent_principal": principal, "client_id": agent,
        "audience": audience, "scopes_required": [READ],
    });
    for (k, x) in more.as_object().expect("object") {
        v[k] = x.clone();
    }
    v
}

impl Sts {
    /// Refused `400 invalid_request` over HTTP and in the domain; the one
    /// audit record is exactly a denial with `reason`, the description as
    /// detail, and `known`.
    async fn refused_recorded(
        &self,
        trail: &mut Trail,
        req: &Req,
        description: &str,
        reason: agent_sts::reason::Reason,
        known: Value,
    ) {
        let error = agent_sts::error::ErrorCode::InvalidRequest;
        let headers: HeaderMap = self.refused(req, 400, error, description, reason).await;
        let request_id = headers["x-request-id"].to_str().expect("request id");
        let expected = with(
            with(
                blank("token", request_id),
                json!({"decision": "deny", "reason": reason.as_str(), "detail": description}),
            ),
            known,
        );
        expect_one(trail, self, expected).await;
    }

    /// `POST /introspect` as the tickets gateway.
    async fn introspect_tickets(&self, token: &str) -> Value {
        let res = self
            .t
            .client
            .post(self.t.url("/introspect"))
            .basic_auth("gw-tickets", Some(&self.secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspect");
        assert_eq!(res.status(), 200);
        json_body(res).await
    }

    /// `POST /admin/revocations` (the admin credential is the shared secret).
    async fn admin_revoke(&self, body: Value) {
        let res = self
            .t
            .client
            .post(self.t.url("/admin/revocations"))
            .bearer_auth(&self.secret)
            .json(&body)
            .send()
            .await
            .expect("admin");
        assert_eq!(res.status(), 201, "{}", json_body(res).await);
    }
}

#[tokio::test]
async fn only_its_client_or_the_server_of_its_audience_may_present_our_token() {
    let sts = start().await;
    let mut trail = Trail::start(&sts.t.app.store.db).await;
    let okta = sts.okta.issuer();
    let first = sts
        .granted(&Req::exchange(
            sts.basic("support-bot"),
            &sts.user(LEAD, LEAD_GROUPS),
        ))
        .await;
    trail.one().await;

    // rogue-bot neither holds it nor serves zendesk: not for it, not
    // retargeted to another resource that shares the scope.
    let description = format!(
        "subject_token was issued to client support-bot for {ZENDESK}; only that client, or the \
         agent that serves {ZENDESK}, may exchange it"
    );
    for target in [ZENDESK, TICKETS] {
        let req = Req::exchange(sts.basic("rogue-bot"), &first.token).set("resource", target);
        let lead = FakeOkta::uid_for(LEAD);
        sts.refused_recorded(
            &mut trail,
            &req,
            &description,
            Reason::PresenterNotAllowed,
            known(
                "rogue-bot",
                "rogue-bot",
                target,
                json!({"subject": lead, "idp": okta, "pattern": "obo"}),
            ),
        )
        .await;
    }

    // Its own client narrows it: fewer scopes, the same actor, and the
    // token it came from recorded as its ancestor.
    let req = Req::exchange(sts.basic("support-bot"), &first.token).with("scope", READ);
    let (s, c) = granted(&sts, &req).await;
    assert_eq!(c["act"], json!({"sub": PRINCIPAL}));
    assert_eq!(c["scope"], READ);
    assert_eq!(
        c["urn:agent"]["derived_from"][0]["jti"],
        first.claims["jti"]
    );
    let changes = json!({"agent_principal": PRINCIPAL, "act": {"sub": PRINCIPAL},
        "idp": okta, "scopes_requested": [READ], "scopes_required": [READ]});
    expect_one(&mut trail, &sts, allow(&s, &c, changes)).await;

    // Narrowing keeps the actor: an actor token is refused, not dropped.
    let req = Req::exchange(sts.basic("support-bot"), &first.token)
        .with("actor_token", &sts.workload(PRINCIPAL))
        .with("actor_token_type", JWT);
    let description =
        "actor_token is not taken when narrowing a token issued to you: its act stays as it is";
    sts.refused_recorded(
        &mut trail,
        &req,
        description,
        Reason::BadRequest,
        support_bot(json!({"subject": FakeOkta::uid_for(LEAD), "idp": okta})),
    )
    .await;
}

#[tokio::test]
async fn report_only_never_leaves_report_only() {
    let sts = start().await;
    let mut trail = Trail::start(&sts.t.app.store.db).await;
    let bob = FakeOkta::uid_for(BOB);
    let okta = sts.okta.issuer();
    // shadow-bot is report-only: bob lacks the group, and is let through.
    let req = Req::exchange(sts.basic("shadow-bot"), &sts.user(BOB, &["Everyone"]))
        .set("resource", TICKETS);
    let (s, waived) = granted(&sts, &req).await;
    assert_eq!(
        waived["urn:agent"],
        json!({"id": "shadow-bot", "pattern": "obo", "report_only": {"waived": "missing_group"}})
    );
    let detail =
        "report-only: the user is in no group that may hold required scope zendesk:tickets:read";
    let changes = json!({"decision": "would_deny", "reason": "missing_group", "detail": detail,
        "agent_principal": "shadow-bot", "act": {"sub": "shadow-bot"}, "idp": okta,
        "scopes_required": [READ]});
    expect_one(&mut trail, &sts, allow(&s, &waived, changes)).await;
    // Introspection shows the marker to the resource server.
    let token = s.body["access_token"].as_str().unwrap().to_string();
    let answer = sts.introspect_tickets(&token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(
        answer["urn:agent"]["report_only"],
        json!({"waived": "missing_group"})
    );
    trail.wait(1).await;

    // support-bot serves tickets but enforces: it cannot derive from it.
    let description = "subject_token was granted under a report-only waiver (missing_group); \
                       agent support-bot enforces its policy, so it cannot derive a token from it";
    sts.refused_recorded(
        &mut trail,
        &Req::exchange(sts.basic("support-bot"), &token),
        description,
        Reason::ReportOnlySubject,
        support_bot(json!({"subject": bob, "idp": okta, "pattern": "obo"})),
    )
    .await;

    // shadow-bot itself goes on reporting: would_deny, marker kept.
    let (s, again) = granted(
        &sts,
        &Req::exchange(sts.basic("shadow-bot"), &token).set("resource", TICKETS),
    )
    .await;
    assert_eq!(
        again["urn:agent"]["report_only"],
        json!({"waived": "missing_group"})
    );
    let detail = "report-only: subject_token was granted under a report-only waiver \
                  (missing_group); agent shadow-bot enforces its policy, so it cannot derive a \
                  token from it";
    let changes = json!({"decision": "would_deny", "reason": "report_only_subject",
        "detail": detail, "agent_principal": "shadow-bot", "act": {"sub": "shadow-bot"},
        "idp": okta, "scopes_required": [READ]});
    expect_one(&mut trail, &sts, allow(&s, &again, changes)).await;
}

#[tokio::test]
async fn alice_quits_stops_new_tokens_from_her_still_valid_upstream_token() {
    let sts = start().await;
    let mut trail = Trail::start(&sts.t.app.store.db).await;
    let alice = FakeOkta::uid_for(ALICE);
    let okta = sts.okta.issuer();
    let signed_in = |at: i64| {
        sts.okta
            .access_token(ALICE)
            .groups(ALICE_GROUPS)
            .issued_at(at)
            .mint()
    };
    let before = signed_in(sts.now() - 60);
    // Without iat a token counts as issued at exp − max_token_age: long ago.
    let no_iat = sts
        .okta
        .access_token(ALICE)
        .groups(ALICE_GROUPS)
        .remove("iat")
        .mint();
    let req = |t: &str| Req::exchange(sts.basic("support-bot"), t);
    sts.granted(&req(&before)).await;
    sts.granted(&req(&no_iat)).await;
    assert_eq!(trail.skip().await, 2);

    sts.admin_revoke(json!({"subject": alice})).await;
    trail.one().await;
    sts.t.clock.advance(1);
    let description = "subject_token: its user, agent or client was revoked after it was \
                       issued; a token issued since is needed";
    for token in [&before, &no_iat] {
        sts.refused_recorded(
            &mut trail,
            &req(token),
            description,
            Reason::Revoked,
            support_bot(json!({"subject": alice, "idp": okta})),
        )
        .await;
    }
    // Her next sign-in, after the revocation, is hers again.
    sts.granted(&req(&signed_in(sts.now()))).await;
    trail.one().await;

    // The same for an agent revocation: its upstream tokens from before
    // buy nothing new; other agents are untouched.
    let bob_token = sts
        .okta
        .access_token(LEAD)
        .groups(LEAD_GROUPS)
        .issued_at(sts.now() - 5)
        .mint();
    sts.admin_revoke(json!({"agent": "support-bot"})).await;
    trail.one().await;
    sts.t.clock.advance(1);
    sts.refused_recorded(
        &mut trail,
        &req(&bob_token),
        description,
        Reason::Revoked,
        support_bot(json!({"subject": FakeOkta::uid_for(LEAD), "idp": okta})),
    )
    .await;
    sts.granted(&Req::exchange(sts.basic("triage-bot"), &bob_token))
        .await;
}

#[tokio::test]
async fn revoking_a_token_ends_every_token_derived_from_it() {
    let sts = start().await;
    let mut trail = Trail::start(&sts.t.app.store.db).await;
    let okta = sts.okta.issuer();
    let alice = FakeOkta::uid_for(ALICE);
    let first = alices(&sts).await;
    // triage-bot (zendesk's gateway) calls the ticket back end with it.
    let second = sts
        .granted(&Req::exchange(sts.basic("triage-bot"), &first.token).set("resource", TICKETS))
        .await;
    assert_eq!(sts.introspect_tickets(&second.token).await["active"], true);
    trail.wait(3).await;

    // support-bot revokes its own token (RFC 7009).
    let res = sts
        .t
        .client
        .post(sts.t.url("/revoke"))
        .basic_auth("support-bot", Some(&sts.secret))
        .form(&[("token", first.token.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(res.status(), 200);
    trail.one().await;

    assert_eq!(
        sts.introspect_tickets(&second.token).await,
        json!({"active": false})
    );
    let stored = trail.wait(1).await;
    assert_eq!(
        (
            stored[0].json["reason"].as_str(),
            stored[0].json["jti"].as_str()
        ),
        (Some("revoked"), None)
    );
    // support-bot serves tickets, but the derived token buys nothing.
    sts.refused_recorded(
        &mut trail,
        &Req::exchange(sts.basic("support-bot"), &second.token),
        "subject_token: the token has been revoked",
        Reason::Revoked,
        support_bot(json!({"subject": alice, "idp": okta})),
    )
    .await;
}

#[tokio::test]
async fn token_types_must_say_what_the_token_is() {
    let sts = start().await;
    let mut trail = Trail::start(&sts.t.app.store.db).await;
    let okta = sts.okta.issuer();
    let alice = FakeOkta::uid_for(ALICE);
    let first = alices(&sts).await;
    trail.one().await;
    let cases = [
        (
            Req::exchange(sts.basic("triage-bot"), &first.token)
                .set("subject_token_type", ID_TOKEN),
            "triage-bot",
            "triage-bot",
            format!(
                "subject_token_type is {ID_TOKEN}, but subject_token is one of our access tokens: send {AT}"
            ),
        ),
        (
            Req::exchange(
                sts.basic("support-bot"),
                &sts.okta.id_token(ALICE).groups(ALICE_GROUPS).mint(),
            ),
            "support-bot",
            PRINCIPAL,
            format!(
                "subject_token_type is {AT}, but subject_token is an ID token: send {ID_TOKEN}"
            ),
        ),
        (
            Req::exchange(sts.basic("support-bot"), &sts.user(ALICE, ALICE_GROUPS))
                .set("subject_token_type", JWT),
            "support-bot",
            PRINCIPAL,
            format!("subject_token_type is {JWT}, but subject_token is an access token: send {AT}"),
        ),
    ];
    for (req, agent, principal, description) in cases {
        sts.refused_recorded(
            &mut trail,
            &req,
            &description,
            Reason::TokenTypeMismatch,
            known(
                agent,
                principal,
                ZENDESK,
                json!({"subject": alice, "idp": okta}),
            ),
        )
        .await;
    }
}

#[tokio::test]
async fn an_upstream_act_is_validated_and_nested_never_dropped() {
    let sts = start().await;
    let mut trail = Trail::start(&sts.t.app.store.db).await;
    let okta = sts.okta.issuer();
    let alice = FakeOkta::uid_for(ALICE);
    let with_act = |act: Value| {
        sts.okta
            .access_token(ALICE)
            .groups(ALICE_GROUPS)
            .claim("act", act)
            .mint()
    };
    // A valid act nests below our actor and counts toward the depth.
    let m = sts
        .granted(&Req::exchange(
            sts.basic("support-bot"),
            &with_act(json!({"sub": "assistant-7"})),
        ))
        .await;
    assert_eq!(
        m.claims["act"],
        json!({"sub": PRINCIPAL, "act": {"sub": "assistant-7"}})
    );
    trail.one().await;

    let mut deep = json!({"sub": "a0"});
    for i in 1..50 {
        deep = json!({"sub": format!("a{i}"), "act": deep});
    }
    let cases = [
        (
            deep,
            "subject_token: act is nested deeper than the delegation cap of 3",
        ),
        (
            json!("assistant-7"),
            "subject_token: act must be an object with a sub",
        ),
        (
            json!({"iss": "https://x"}),
            "subject_token: act must name its actor in a non-empty string sub",
        ),
    ];
    for (act, description) in cases {
        sts.refused_recorded(
            &mut trail,
            &Req::exchange(sts.basic("support-bot"), &with_act(act)),
            description,
            Reason::InvalidAct,
            support_bot(json!({"subject": alice, "idp": okta, "pattern": "obo"})),
        )
        .await;
    }
}
