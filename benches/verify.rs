//! Upstream token verification with warm key caches, against the floor: one
//! bare RS256 signature verification of the same token. `first_seen` is a
//! token whose signature was never verified before; `repeat` is the same
//! token again (the remembered signature: every other check still runs).
//!
//!     cargo bench --bench verify
//!
//! A JWKS is served on 127.0.0.1 by an in-process HTTP server, fetched once
//! by the registry (the warm-up), then every iteration verifies in memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_sts::clock::{Clock, SharedClock, SystemClock};
use agent_sts::config::Config;
use agent_sts::tokens::keys::{SigningAlg, SigningKey};
use agent_sts::tokens::sign_jwt;
use agent_sts::upstream::UpstreamRegistry;
use axum::Json;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use josekit::jwk::Jwk;
use josekit::jws::{JwsVerifier, RS256};
use serde_json::json;

#[path = "common/mod.rs"]
mod common;

use common::TENANT;

fn registry(base: &str) -> UpstreamRegistry {
    let text = format!(
        "issuer = \"https://sts.example.com\"\n[storage]\ndatabase_url = \"sqlite://unused\"\n{}",
        common::upstreams(
            &format!("{base}/okta/v1/keys"),
            &format!("{base}/entra/discovery/v2.0/keys"),
        )
    );
    let config = Config::parse(&text, "bench").expect("bench config parses");
    config.validate().expect("bench config is valid");
    let clock: SharedClock = Arc::new(SystemClock);
    UpstreamRegistry::new(&config.upstreams, &config.outbound, clock).expect("registry builds")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let now = SystemClock.now();
    let key = SigningKey::generate(SigningAlg::Rs256, now, now).expect("key");
    let jwks = json!({ "keys": [key.public_jwk] });
    let base = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let body = jwks.clone();
        let app = axum::Router::new()
            .route(
                "/okta/v1/keys",
                get({
                    let b = body.clone();
                    move || async move { Json(b) }
                }),
            )
            .route(
                "/entra/discovery/v2.0/keys",
                get(move || async move { Json(body) }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        format!("http://{addr}")
    });
    let okta_token = |jti: &str| {
        sign_jwt(&key, "JWT", &json!({
            "ver": 1, "jti": jti, "iss": "https://example.okta.com/oauth2/default",
            "aud": "api://agent-sts", "iat": now, "exp": now + 3600, "cid": "0oabench",
            "uid": "00ubench", "scp": ["openid"], "sub": "alice@example.com", "groups": ["Support-Agents"],
        }))
        .expect("okta token")
    };
    let entra_token = |uti: &str| {
        sign_jwt(&key, "JWT", &json!({
            "aud": "api://agent-sts", "iss": format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
            "iat": now, "nbf": now, "exp": now + 3600, "azp": "app", "oid": "obj", "tid": TENANT,
            "scp": "access_as_user", "sub": "pairwise", "ver": "2.0", "groups": ["g1"], "uti": uti,
        }))
        .expect("entra token")
    };
    let okta = okta_token("AT.bench");
    let entra = entra_token("bench");
    // A fresh registry whose keys are fetched (the warm-up, not timed).
    let warm_registry = || {
        let registry = registry(&base);
        rt.block_on(async {
            registry
                .verify(&okta)
                .await
                .expect("okta token verifies (warm-up)");
            registry
                .verify(&entra)
                .await
                .expect("entra token verifies (warm-up)");
        });
        registry
    };
    let registry = warm_registry();
    // Distinct tokens: a signature never verified before. The registry
    // remembers verified signatures, so it is replaced (untimed) whenever
    // the pool comes round again.
    const POOL: usize = 512;
    let okta_pool: Vec<String> = (0..POOL).map(|i| okta_token(&format!("AT.{i}"))).collect();
    let entra_pool: Vec<String> = (0..POOL).map(|i| entra_token(&format!("u{i}"))).collect();
    let first_seen = |pool: &[String], iters: u64| {
        let mut total = Duration::ZERO;
        let mut reg = warm_registry();
        for i in 0..iters as usize {
            if i > 0 && i % POOL == 0 {
                reg = warm_registry();
            }
            let token = &pool[i % POOL];
            let start = Instant::now();
            rt.block_on(reg.verify(token)).expect("verifies");
            total += start.elapsed();
        }
        total
    };

    let public =
        Jwk::from_map(key.public_jwk.as_object().cloned().unwrap_or_default()).expect("jwk");
    let bare = RS256.verifier_from_jwk(&public).expect("verifier");
    let (input, sig) = okta.rsplit_once('.').expect("three parts");
    let sig = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig)
        .expect("sig");

    let mut g = c.benchmark_group("upstream_verify");
    g.bench_function("bare_rs256_signature", |b| {
        b.iter(|| bare.verify(input.as_bytes(), &sig).expect("verifies"))
    });
    g.bench_function("okta_rs256_token/first_seen", |b| {
        b.iter_custom(|iters| first_seen(&okta_pool, iters))
    });
    g.bench_function("entra_rs256_token/first_seen", |b| {
        b.iter_custom(|iters| first_seen(&entra_pool, iters))
    });
    g.bench_function("okta_rs256_token/repeat", |b| {
        b.to_async(&rt)
            .iter(|| async { registry.verify(&okta).await.expect("verifies") })
    });
    g.bench_function("entra_rs256_token/repeat", |b| {
        b.to_async(&rt)
            .iter(|| async { registry.verify(&entra).await.expect("verifies") })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
