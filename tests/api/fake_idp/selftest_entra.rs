//! Self-tests: the fake Entra ID serves Microsoft's layout and claim sets.

use super::entra;
use super::jwt::verify_with_jwks;
use super::selftest::{OTHER_TENANT, TENANT_A, TENANT_B, get_json, keys_of, kids, set};
use super::{FakeEntra, header_of};
use serde_json::json;

#[tokio::test]
async fn entra_serves_microsofts_layout() {
    let entra = FakeEntra::start(&[TENANT_A, TENANT_B]).await;
    assert_eq!(entra.tenants().len(), 2);
    let v2 = get_json(&entra.discovery_url_v2(TENANT_A)).await;
    assert_eq!(v2["issuer"], entra.issuer_v2(TENANT_A));
    assert_eq!(v2["jwks_uri"], entra.jwks_uri_v2(TENANT_A));
    let v1 = get_json(&entra.discovery_url_v1(TENANT_B)).await;
    assert_eq!(v1["issuer"], entra.issuer_v1(TENANT_B));
    assert!(
        entra
            .issuer_v1(TENANT_B)
            .ends_with(&format!("/sts/{TENANT_B}/"))
    );
    assert_eq!(v1["jwks_uri"], entra.jwks_uri_v1(TENANT_B));
    let common = get_json(&format!(
        "{}/common/v2.0/.well-known/openid-configuration",
        entra.base_url()
    ))
    .await;
    assert!(
        common["issuer"]
            .as_str()
            .unwrap()
            .ends_with("/{tenantid}/v2.0")
    );
    let unknown = reqwest::get(entra.discovery_url_v2(OTHER_TENANT))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);

    let keys = get_json(&entra.jwks_uri_v2(TENANT_A)).await;
    assert_eq!(kids(&keys), vec![entra.kid()]);
    assert_eq!(keys["keys"][0]["x5t"], entra.kid());
    assert_eq!(keys["keys"][0]["issuer"], entra.issuer_v2(TENANT_A));
    assert!(keys["keys"][0].get("alg").is_none());
    let common_keys = get_json(&entra.common_jwks_uri()).await;
    assert_eq!(kids(&common_keys), vec![entra.kid()]);
    let v1_keys = get_json(&entra.jwks_uri_v1(TENANT_A)).await;
    assert!(v1_keys["keys"][0].get("issuer").is_none());
    assert_eq!(entra.jwks_fetches(), 3);
    assert_eq!(entra.discovery_fetches(), 3);
}

#[tokio::test]
async fn entra_tokens_carry_microsofts_claim_sets_and_verify() {
    let entra = FakeEntra::start(&[TENANT_A]).await;
    let jwks = get_json(&entra.common_jwks_uri()).await;
    let upn = "alice@contoso.com";

    let t = entra
        .access_token_v2(TENANT_A, upn)
        .groups(&[&FakeEntra::group_id("support")]);
    let t = t.scopes(&["access_as_user", "tickets.read"]).mint();
    let c = verify_with_jwks(&t, &jwks).expect("v2 verifies");
    let want = [
        "aud",
        "iss",
        "iat",
        "nbf",
        "exp",
        "aio",
        "azp",
        "azpacr",
        "name",
        "oid",
        "preferred_username",
        "rh",
        "scp",
        "sub",
        "tid",
        "uti",
        "ver",
        "groups",
    ];
    assert_eq!(keys_of(&c), set(&want));
    assert_eq!(keys_of(&header_of(&t)), set(&["typ", "alg", "kid"]));
    assert_eq!(
        (c["ver"].as_str(), c["tid"].as_str()),
        (Some("2.0"), Some(TENANT_A))
    );
    assert_eq!(c["iss"], entra.issuer_v2(TENANT_A));
    assert_eq!(c["scp"], "access_as_user tickets.read");
    assert_eq!(c["oid"], FakeEntra::oid_for(upn));
    assert_ne!(c["sub"], c["oid"], "sub is pairwise");
    assert_eq!(c["azp"], entra::CLIENT_APP_ID);
    assert_eq!(c["aud"], entra::API_APP_ID);
    assert_eq!(c["groups"], json!([FakeEntra::group_id("support")]));

    let t = entra.access_token_v1(TENANT_A, upn).mint();
    let c = verify_with_jwks(&t, &jwks).expect("v1 verifies");
    let want = [
        "aud",
        "iss",
        "iat",
        "nbf",
        "exp",
        "acr",
        "aio",
        "amr",
        "appid",
        "appidacr",
        "family_name",
        "given_name",
        "ipaddr",
        "name",
        "oid",
        "rh",
        "scp",
        "sub",
        "tid",
        "unique_name",
        "upn",
        "uti",
        "ver",
        "groups",
    ];
    assert_eq!(keys_of(&c), set(&want));
    assert_eq!(header_of(&t)["x5t"], entra.kid());
    assert_eq!(
        (c["iss"].clone(), c["ver"].clone()),
        (json!(entra.issuer_v1(TENANT_A)), json!("1.0"))
    );
    assert_eq!(c["appid"], entra::CLIENT_APP_ID);
    assert_eq!(c["aud"], entra::API_APP_ID_URI);

    let app_id = "11111111-2222-3333-4444-555555555555";
    let t = entra
        .app_token(TENANT_A, app_id)
        .roles(&["Agents.Invoke"])
        .mint();
    let c = verify_with_jwks(&t, &jwks).expect("app verifies");
    assert_eq!(c["idtyp"], "app");
    assert!(c.get("scp").is_none());
    assert_eq!(c["oid"], c["sub"]);
    assert_eq!(c["oid"], FakeEntra::sp_oid_for(app_id));
    assert_eq!(
        (c["azp"].as_str(), c["roles"].clone()),
        (Some(app_id), json!(["Agents.Invoke"]))
    );
    let t = entra.app_token_v1(TENANT_A, app_id).mint();
    let c = verify_with_jwks(&t, &jwks).expect("app v1 verifies");
    assert_eq!(
        (c["appid"].as_str(), c["idtyp"].as_str()),
        (Some(app_id), Some("app"))
    );
    assert!(c.get("scp").is_none() && c.get("azp").is_none());

    let t = entra.overage_token(TENANT_A, upn).mint();
    let c = verify_with_jwks(&t, &jwks).expect("overage verifies");
    assert!(c.get("groups").is_none());
    assert_eq!(c["_claim_names"], json!({"groups": "src1"}));
    let endpoint = c["_claim_sources"]["src1"]["endpoint"].as_str().unwrap();
    assert!(endpoint.ends_with(&format!(
        "/users/{}/getMemberObjects",
        FakeEntra::oid_for(upn)
    )));

    let t = entra.access_token_v2(OTHER_TENANT, upn).mint();
    let c = verify_with_jwks(&t, &jwks).expect("other tenant still signed by Entra");
    assert_eq!(c["tid"], OTHER_TENANT);
    assert_eq!(c["iss"], entra.issuer_v2(OTHER_TENANT));
}
