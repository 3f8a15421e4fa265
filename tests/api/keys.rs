//! `GET /.well-known/jwks.json`: public members only, a max-age that suits
//! rotation, and the published set across a rotation on a running server.

use agent_sts::clock::FrozenClock;
use agent_sts::tokens::keys::{self, RETIRE_GRACE, SigningAlg};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{Options, header, json_body, kids, spawn_app, spawn_app_with};

const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
const T0: i64 = 1_900_000_000;

/// RFC 7638 §3: SHA-256 over the required members, in lexicographic order.
fn thumbprint(jwk: &Value) -> String {
    let required: &[&str] = match jwk["kty"].as_str().unwrap() {
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "RSA" => &["e", "kty", "n"],
        other => panic!("unexpected kty {other}"),
    };
    let members: Vec<String> = required
        .iter()
        .map(|m| format!("\"{m}\":\"{}\"", jwk[*m].as_str().unwrap()))
        .collect();
    let canonical = format!("{{{}}}", members.join(","));
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ))
}

async fn jwks(app: &crate::helpers::TestApp) -> Value {
    let res = app.get("/.well-known/jwks.json").await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), "public, max-age=300");
    json_body(res).await
}

#[tokio::test]
async fn jwks_publishes_only_public_members_for_each_algorithm() {
    let cases = [
        (
            SigningAlg::Es256,
            "ES256",
            vec!["alg", "crv", "kid", "kty", "use", "x", "y"],
        ),
        (
            SigningAlg::EdDsa,
            "EdDSA",
            vec!["alg", "crv", "kid", "kty", "use", "x"],
        ),
        (
            SigningAlg::Rs256,
            "RS256",
            vec!["alg", "e", "kid", "kty", "n", "use"],
        ),
    ];
    for (alg, name, members) in cases {
        let app = spawn_app_with(Options::default().alg(alg)).await;
        let body = jwks(&app).await;
        let keys = body["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{name}: {body}");
        let jwk = &keys[0];
        let mut found: Vec<&str> = jwk
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        found.sort_unstable();
        assert_eq!(found, members, "{name}: exactly the public members");
        for private in PRIVATE_MEMBERS {
            assert!(jwk.get(private).is_none(), "{name}: JWKS leaks `{private}`");
        }
        assert_eq!(jwk["alg"], name);
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], app.kid.as_str());
        assert_eq!(
            thumbprint(jwk),
            app.kid,
            "{name}: kid is the RFC 7638 thumbprint"
        );
    }
}

#[tokio::test]
async fn jwks_never_contains_the_private_key_file_values() {
    let app = spawn_app_with(Options::default().alg(SigningAlg::Rs256)).await;
    let file = app.keys_dir.join(format!("{}.json", app.kid));
    let stored: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let text = app
        .get("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap();
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        let secret = stored["private_jwk"][member].as_str().unwrap();
        assert!(!text.contains(secret), "JWKS contains private `{member}`");
    }
}

#[tokio::test]
async fn jwks_max_age_follows_the_configuration() {
    let policy = format!(
        "{}\n[keys]\njwks_max_age = \"2m\"\n",
        crate::helpers::DEFAULT_POLICY
    );
    let app = spawn_app_with(Options::default().policy(&policy)).await;
    let res = app.get("/.well-known/jwks.json").await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), "public, max-age=120");
}

#[tokio::test]
async fn jwks_follows_a_rotation_on_a_running_server() {
    let clock = FrozenClock::at(T0);
    let app = spawn_app_with(Options::default().clock(clock.clone())).await;
    let old = app.kid.clone();
    assert_eq!(kids(&jwks(&app).await), [old.as_str()]);

    // Publish the next key an hour ahead; the running server picks it up.
    let new = keys::rotate(&app.keys_dir, None, 3_600, T0).unwrap().kid;
    app.app.reload_keys().unwrap();
    assert_eq!(
        kids(&jwks(&app).await),
        [old.as_str(), new.as_str()],
        "signer first, next key published before it signs"
    );

    clock.set(T0 + 3_599);
    assert_eq!(kids(&jwks(&app).await), [old.as_str(), new.as_str()]);

    clock.set(T0 + 3_600);
    assert_eq!(
        kids(&jwks(&app).await),
        [new.as_str(), old.as_str()],
        "the new key signs; the retired one still verifies"
    );

    clock.set(T0 + 3_600 + RETIRE_GRACE - 1);
    assert_eq!(kids(&jwks(&app).await), [new.as_str(), old.as_str()]);

    clock.set(T0 + 3_600 + RETIRE_GRACE);
    assert_eq!(
        kids(&jwks(&app).await),
        [new.as_str()],
        "the retired key is gone once every token it signed has expired"
    );
}

#[tokio::test]
async fn signer_follows_the_clock_across_a_rotation() {
    let clock = FrozenClock::at(T0);
    let app = spawn_app_with(Options::default().clock(clock.clone())).await;
    let new = keys::rotate(&app.keys_dir, Some(SigningAlg::EdDsa), 600, T0)
        .unwrap()
        .kid;
    app.app.reload_keys().unwrap();
    let signer = |now| {
        app.app
            .keys
            .current()
            .signer(now)
            .map(|k| (k.kid.clone(), k.alg.as_str()))
    };
    assert_eq!(signer(T0), Some((app.kid.clone(), "ES256")));
    assert_eq!(signer(T0 + 600), Some((new.clone(), "EdDSA")));

    clock.set(T0 + 600);
    let body = jwks(&app).await;
    assert_eq!(body["keys"][0]["kid"], json!(new));
    assert_eq!(body["keys"][0]["alg"], "EdDSA");
    assert_eq!(body["keys"][1]["alg"], "ES256");
}

#[tokio::test]
async fn a_failed_reload_keeps_the_keys_already_loaded() {
    let app = spawn_app().await;
    let garbage = app.keys_dir.join("broken.json");
    std::fs::write(&garbage, "not a key").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let err = app.app.reload_keys().unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: not a key file: ", garbage.display())),
        "{err}"
    );
    assert_eq!(kids(&jwks(&app).await), [app.kid.as_str()]);
}
