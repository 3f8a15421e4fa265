//! Good tokens, exactly as the vendors issue them, verify and map.

use agent_sts::upstream::{Groups, UpstreamKind, UpstreamUse};

use super::*;
use crate::fake_idp::FakeOkta;

#[tokio::test]
async fn okta_access_token_maps_uid_cid_scopes_groups() {
    let okta = FakeOkta::start().await;
    let reg = registry(&okta_block(&okta, ""));
    let token = okta
        .access_token("alice@example.com")
        .groups(&["Support-Agents"])
        .mint();
    let v = verified(&reg, &token).await;
    assert_eq!(&*v.upstream, "okta");
    assert_eq!(v.kind, UpstreamKind::Okta);
    assert_eq!(v.usage, UpstreamUse::User);
    assert_eq!(v.issuer, okta.issuer());
    assert_eq!(v.subject, FakeOkta::uid_for("alice@example.com"));
    assert_eq!(v.client.as_deref(), Some("0oa8agentstsapp0x697"));
    assert_eq!(v.scopes, ["openid", "profile", "email"]);
    assert_eq!(v.groups, Groups::Known(vec!["Support-Agents".into()]));
    assert!(v.jti.as_deref().is_some_and(|j| j.starts_with("AT.")));
    assert!(!v.is_workload());
}

#[tokio::test]
async fn okta_id_token_verifies_with_the_client_as_audience() {
    let okta = FakeOkta::start().await;
    let reg = registry(&okta_block(&okta, ""));
    let v = verified(&reg, &okta.id_token("bob@example.com").mint()).await;
    assert_eq!(v.subject, FakeOkta::uid_for("bob@example.com"));
}

#[tokio::test]
async fn entra_v2_and_v1_tokens_map_oid_tid_and_client() {
    let entra = FakeEntra::start(&[TENANT, OTHER_TENANT]).await;
    let reg = registry(&entra_block(&entra, ""));
    let v2 = verified(
        &reg,
        &entra.access_token_v2(TENANT, "alice@contoso.com").mint(),
    )
    .await;
    assert_eq!(v2.subject, FakeEntra::oid_for("alice@contoso.com"));
    assert_ne!(
        v2.subject,
        FakeEntra::pairwise_sub("alice@contoso.com", "6e74172b-be56-4843-9ff4-e66a39bb12e3")
    );
    assert_eq!(v2.tenant.as_deref(), Some(TENANT));
    assert_eq!(
        v2.client.as_deref(),
        Some("c44b4083-3bb0-49c1-b47d-974e53cbdf3c")
    );
    assert_eq!(v2.scopes, ["access_as_user"]);
    assert_eq!(
        v2.groups,
        Groups::Known(vec![FakeEntra::group_id("all-staff")])
    );

    let v1 = verified(
        &reg,
        &entra.access_token_v1(TENANT, "alice@contoso.com").mint(),
    )
    .await;
    assert_eq!(v1.subject, v2.subject);
    assert_eq!(v1.issuer, entra.issuer_v1(TENANT));
    assert!(v1.client.is_some());
}

#[tokio::test]
async fn entra_app_only_token_is_a_workload() {
    let entra = FakeEntra::start(&[TENANT]).await;
    let reg = registry(&entra_block(&entra, ""));
    let app = "2b9f5c1e-8d3a-4e6f-9a1b-0c2d4e6f8a0b";
    let v = verified(
        &reg,
        &entra.app_token(TENANT, app).roles(&["Tickets.Read"]).mint(),
    )
    .await;
    assert!(v.app_only);
    assert!(v.is_workload());
    assert_eq!(v.subject, FakeEntra::sp_oid_for(app));
    assert_eq!(v.scopes, ["Tickets.Read"]);
}

#[tokio::test]
async fn entra_groups_overage_leaves_groups_unknown() {
    let entra = FakeEntra::start(&[TENANT]).await;
    let reg = registry(&entra_block(&entra, ""));
    let v = verified(
        &reg,
        &entra.overage_token(TENANT, "carol@contoso.com").mint(),
    )
    .await;
    assert_eq!(v.groups, Groups::Unknown);
}

#[tokio::test]
async fn kubernetes_github_and_spiffe_workload_tokens_map_to_principals() {
    let okta = FakeOkta::start().await;
    let block = format!(
        "[[upstreams]]\nname = \"wl\"\nkind = \"oidc\"\nuse = \"workload\"\nissuer = \"{}\"\naudiences = [\"agent-sts\"]\n",
        okta.issuer()
    );
    let reg = registry(&block);
    for principal in [
        "system:serviceaccount:agents:support-bot",
        "spiffe://corp.example/ns/agents/sa/support-bot",
    ] {
        let token = okta
            .service_token("x")
            .aud("agent-sts")
            .claim("sub", principal.into())
            .remove("cid")
            .mint();
        let v = verified(&reg, &token).await;
        assert_eq!(
            (v.subject.as_str(), v.usage),
            (principal, UpstreamUse::Workload)
        );
        assert!(v.is_workload());
    }

    // GitHub Actions: the principal is the workflow, the owner is pinned.
    let gh = format!(
        "{block}subject_claim = \"job_workflow_ref\"\nrequired_claims = {{ repository_owner = \"acme\" }}\n"
    );
    let reg = registry(&gh);
    let workflow = "acme/support/.github/workflows/agent.yml@refs/heads/main";
    let token = |owner: &str| {
        okta.service_token("x")
            .aud("agent-sts")
            .claim("sub", "repo:acme/support:ref:refs/heads/main".into())
            .claim("repository_owner", owner.into())
            .claim("job_workflow_ref", workflow.into())
            .mint()
    };
    assert_eq!(verified(&reg, &token("acme")).await.subject, workflow);
    let r = refused(&reg, &token("evil-corp")).await;
    assert_eq!(
        (r.reason, r.detail.as_str()),
        (
            Reason::ClaimMismatch,
            "claim repository_owner must be \"acme\""
        )
    );
}
