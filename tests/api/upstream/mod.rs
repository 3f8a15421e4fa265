//! Upstream trust against the fake Okta and fake Entra over real HTTP:
//! every refusal with its reason code, key rotation and outages,
//! back-channel introspection, workload issuers, and a mutation fuzz.

mod discovered;
mod fuzz;
mod introspection;
mod keys;
mod refusals;
mod verify;

use std::sync::Arc;

use agent_sts::clock::{Clock, FrozenClock, SharedClock, SystemClock};
use agent_sts::config::Config;
use agent_sts::reason::Reason;
use agent_sts::upstream::{Refusal, UpstreamRegistry, VerifiedToken};

use crate::fake_idp::{FakeEntra, FakeOkta};

pub const TENANT: &str = "7f3c1c52-0b7a-4b7e-9a55-3d0c7c8e1a01";
pub const OTHER_TENANT: &str = "0e9d7a44-5c1b-4f3a-8d2e-6b5a4c3d2e10";

/// `[[upstreams]]` blocks for the fakes: `okta` (custom AS), `entra`.
pub fn okta_block(okta: &FakeOkta, extra: &str) -> String {
    format!(
        "[[upstreams]]\nname = \"okta\"\nkind = \"okta\"\nissuer = \"{}\"\n\
         audiences = [\"api://default\", \"0oa8agentstsapp0x697\"]\ngroups_claim = \"groups\"\n{extra}\n",
        okta.issuer()
    )
}

pub fn entra_block(entra: &FakeEntra, extra: &str) -> String {
    let base = entra.base_url();
    format!(
        "[[upstreams]]\nname = \"entra\"\nkind = \"entra\"\nissuer = \"{base}/{{tenantid}}/v2.0\"\n\
         issuer_v1 = \"{base}/sts/{{tenantid}}/\"\ntenants = [\"{TENANT}\"]\n\
         audiences = [\"6e74172b-be56-4843-9ff4-e66a39bb12e3\", \"api://agent-sts\"]\n{extra}\n"
    )
}

/// A registry over the given `[[upstreams]]` blocks, with `clock`.
pub fn registry_with(blocks: &str, clock: SharedClock) -> UpstreamRegistry {
    let text = format!(
        "issuer = \"https://sts.example.com\"\n[storage]\ndatabase_url = \"sqlite://unused\"\n{blocks}"
    );
    let config = Config::parse(&text, "test").expect("test config parses");
    if let Err(errors) = config.validate() {
        panic!("test config is invalid: {errors:?}");
    }
    UpstreamRegistry::new(&config.upstreams, &config.outbound, clock).expect("registry builds")
}

pub fn registry(blocks: &str) -> UpstreamRegistry {
    registry_with(blocks, Arc::new(SystemClock))
}

/// A frozen clock at the real current time (the fakes mint with real time).
pub fn frozen_now() -> FrozenClock {
    FrozenClock::at(SystemClock.now())
}

pub async fn verified(reg: &UpstreamRegistry, token: &str) -> VerifiedToken {
    match reg.verify(token).await {
        Ok(v) => v,
        Err(r) => panic!("expected the token to verify, got {r}"),
    }
}

pub async fn refused(reg: &UpstreamRegistry, token: &str) -> Refusal {
    match reg.verify(token).await {
        Ok(v) => panic!("expected a refusal, got a verified token for {}", v.subject),
        Err(r) => r,
    }
}

pub async fn assert_refused(reg: &UpstreamRegistry, token: &str, reason: Reason) {
    let r = refused(reg, token).await;
    assert_eq!(r.reason, reason, "detail: {}", r.detail);
}
