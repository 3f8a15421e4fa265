//! The delegation rules, one row each way: every rule of the module table
//! has at least one allow and one deny row.

use std::sync::Arc;

use serde_json::{Map, json};

use super::*;
use crate::config::{Config, UpstreamKind, UpstreamUse};
use crate::metadata::{
    TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_JAG, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT,
};
use crate::upstream::Groups;
use crate::upstream::TokenShape;

const NOW: UnixTime = 1_000_000;
const US: &str = "https://sts.example.com";
const OKTA: &str = "https://example.okta.com/oauth2/default";
const K8S: &str = "https://k8s.example.com";
const Z: &str = "https://zendesk";
const T: &str = "https://tickets";
const S: &str = "https://slack";
const READ: &str = "zendesk:tickets:read";
const WRITE: &str = "zendesk:tickets:write";
const HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn policy() -> Policy {
    let client = |id: &str| {
        format!(
            "client = {{ id = \"{id}\", auth = \"client_secret_basic\", secret_sha256 = \"{HASH}\" }}"
        )
    };
    let text = format!(
        r#"
issuer = "{US}"
[storage]
database_url = "sqlite://x"
[[upstreams]]
name = "okta"
kind = "okta"
issuer = "{OKTA}"
audiences = ["api://agent-sts"]
login = {{ client_id = "rp", client_secret = "rp-secret" }}
issues_id_jag = true
[[upstreams]]
name = "k8s"
kind = "oidc"
use = "workload"
issuer = "{K8S}"
audiences = ["agent-sts"]
[[resources]]
uri = "{Z}"
scopes = ["{READ}", "{WRITE}"]
[[resources]]
uri = "{T}"
scopes = ["{READ}", "{WRITE}"]
[[resources]]
uri = "{S}"
scopes = ["slack:channels:read"]
[[agents]]
id = "bot"
patterns = ["obo", "hybrid", "workload"]
workload = {{ upstream = "k8s", subject = "sa:bot" }}
resources = ["{Z}", "{S}"]
required_scopes = ["{READ}"]
optional_scopes = ["{WRITE}", "slack:channels:read"]
{bot}
[[agents]]
id = "gw"
patterns = ["obo", "hybrid"]
workload = {{ upstream = "k8s", subject = "sa:gw" }}
serves = ["{Z}"]
resources = ["{Z}", "{T}"]
required_scopes = ["{READ}"]
optional_scopes = ["{WRITE}"]
{gw}
[[agents]]
id = "rogue"
patterns = ["obo"]
resources = ["{Z}", "{T}"]
required_scopes = ["{READ}"]
{rogue}
[[agents]]
id = "shadow"
patterns = ["obo"]
serves = ["{T}"]
resources = ["{T}"]
required_scopes = ["{READ}"]
enforcement = "report-only"
{shadow}
[[agents]]
id = "picky"
patterns = ["obo"]
serves = ["{S}"]
resources = ["{Z}"]
required_scopes = ["{READ}"]
user_groups = ["okta:Pilot"]
{picky}
[[agents]]
id = "jagger"
patterns = ["id_jag"]
resources = ["{Z}"]
required_scopes = ["{READ}"]
optional_scopes = ["{WRITE}"]
client = {{ id = "jagger", auth = "client_secret_basic", secret_sha256 = "{HASH}" }}
[[agents]]
id = "desk"
patterns = ["interactive"]
client = {{ id = "desk", auth = "none", redirect_uris = ["http://127.0.0.1/cb"] }}
resources = ["{Z}"]
required_scopes = ["{READ}"]
[scope_groups]
"{READ}" = ["okta:Support"]
"{WRITE}" = ["okta:Leads"]
"slack:channels:read" = ["okta:Everyone"]
"#,
        bot = client("bot"),
        gw = client("gw"),
        rogue = client("rogue"),
        shadow = client("shadow"),
        picky = client("picky"),
    );
    let c = Config::parse(&text, "t").unwrap();
    c.validate().unwrap();
    Policy::new(&c)
}

/// A verified upstream token: a user of `okta` or a workload of `k8s`.
fn upstream(sub: &str, workload: bool, groups: &[&str], shape: TokenShape) -> VerifiedToken {
    let (name, issuer, usage) = if workload {
        ("k8s", K8S, UpstreamUse::Workload)
    } else {
        ("okta", OKTA, UpstreamUse::User)
    };
    VerifiedToken {
        upstream: Arc::from(name),
        kind: if workload {
            UpstreamKind::Oidc
        } else {
            UpstreamKind::Okta
        },
        usage,
        issuer: issuer.into(),
        subject: sub.into(),
        tenant: None,
        client: None,
        scopes: Vec::new(),
        groups: Groups::Known(groups.iter().map(|g| g.to_string()).collect()),
        app_only: false,
        issued_at: Some(NOW - 100),
        issued_by: NOW - 100,
        expires_at: NOW + 3_000,
        shape,
        jti: None,
        claims: Map::new(),
    }
}

fn alice() -> VerifiedToken {
    upstream("alice", false, &["Support", "Everyone"], TokenShape::Access)
}

fn with_claim(mut v: VerifiedToken, name: &str, value: Value) -> VerifiedToken {
    v.claims.insert(name.into(), value);
    v
}

/// One of ours, issued to `agent` (its client id is its id) for `aud`.
fn own(agent: &str, aud: &str, pattern: &str, act: Option<Value>) -> OwnToken {
    let mut claims = Map::new();
    claims.insert("idp".into(), json!(OKTA));
    if let Some(a) = &act {
        claims.insert("act".into(), a.clone());
    }
    OwnToken {
        kid: "k".into(),
        claims,
        jti: format!("jti-{agent}"),
        sub: "alice".into(),
        aud: aud.into(),
        client_id: agent.into(),
        iat: NOW - 10,
        exp: NOW + 500,
        agent_id: agent.into(),
        pattern: pattern.into(),
        scopes: vec![READ.into()],
        waived: None,
        ancestors: Vec::new(),
    }
}

/// bot's OBO token for alice, for zendesk.
fn bots() -> OwnToken {
    own("bot", Z, "obo", Some(json!({"sub": "sa:bot"})))
}

/// A revocation view: revoked jtis, a user or agent revoked at a time, or
/// stale.
#[derive(Default)]
struct View {
    jtis: Vec<&'static str>,
    user_revoked_at: Option<UnixTime>,
    agent_revoked_at: Option<(&'static str, UnixTime)>,
    stale: bool,
}

impl RevocationView for View {
    fn check(&self, t: &TokenRef<'_>, _now: UnixTime) -> Result<bool, Stale> {
        if self.stale {
            return Err(Stale {
                age_seconds: Some(60),
            });
        }
        let jti = |j: Option<&str>| j.is_some_and(|j| self.jtis.contains(&j));
        let agent = |a: &str, iat| {
            self.agent_revoked_at
                .is_some_and(|(x, at)| x == a && iat <= at)
        };
        Ok(jti(t.jti)
            || agent(t.agent, t.iat)
            || self.user_revoked_at.is_some_and(|at| t.iat <= at)
            || t.ancestors
                .iter()
                .any(|a| jti(Some(&a.jti)) || agent(&a.agent, a.iat)))
    }
}

/// One request: who asks, what is presented, for what.
struct Case {
    agent: &'static str,
    subject: Subj,
    subject_type: &'static str,
    actor: Option<(Subj, &'static str)>,
    target: &'static str,
    scope: Option<&'static [&'static str]>,
    view: View,
    arrival: Arrival,
}

enum Subj {
    Up(VerifiedToken),
    Own(OwnToken),
}

const AT: &str = TOKEN_TYPE_ACCESS_TOKEN;
const ID: &str = TOKEN_TYPE_ID_TOKEN;
const JWT: &str = TOKEN_TYPE_JWT;
const JAG: &str = TOKEN_TYPE_ID_JAG;

/// Alice's ID-JAG, issued to `client`, asserting `scopes`.
fn jag(client: &str, scopes: &[&str]) -> VerifiedToken {
    VerifiedToken {
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        client: Some(client.into()),
        ..with_claim(
            upstream("alice", false, &["Support"], TokenShape::IdJag),
            "client_id",
            json!(client),
        )
    }
}

fn case(agent: &'static str, subject: Subj, target: &'static str) -> Case {
    Case {
        agent,
        subject,
        subject_type: AT,
        actor: None,
        target,
        scope: None,
        view: View::default(),
        arrival: Arrival::Presented,
    }
}

fn token(s: &Subj) -> Token<'_> {
    match s {
        Subj::Up(v) => Token::Upstream(v),
        Subj::Own(o) => Token::Own(o, Some("okta")),
    }
}

impl Case {
    fn typed(mut self, t: &'static str) -> Self {
        self.subject_type = t;
        self
    }
    fn actor(mut self, a: Subj, t: &'static str) -> Self {
        self.actor = Some((a, t));
        self
    }
    fn scope(mut self, s: &'static [&'static str]) -> Self {
        self.scope = Some(s);
        self
    }
    fn view(mut self, v: View) -> Self {
        self.view = v;
        self
    }
    /// The subject is the ID token of a sign-in through `/authorize`.
    fn signed_in(mut self) -> Self {
        self.arrival = Arrival::SignedIn;
        self.subject_type = ID;
        self
    }

    /// The subject is an ID-JAG, the assertion of a jwt-bearer grant.
    fn id_jag(mut self) -> Self {
        self.arrival = Arrival::IdJag;
        self.subject_type = JAG;
        self
    }

    fn run(&self, p: &Policy) -> Outcome {
        let requested: Option<Vec<String>> = self
            .scope
            .map(|s| s.iter().map(|x| x.to_string()).collect());
        decide_exchange(
            p,
            &self.view,
            &Exchange {
                agent: p.agent_by_client(self.agent).unwrap(),
                issuer: US,
                subject: Presented {
                    token: token(&self.subject),
                    token_type: self.subject_type,
                },
                actor: self.actor.as_ref().map(|(a, t)| Presented {
                    token: token(a),
                    token_type: t,
                }),
                target: self.target,
                requested: requested.as_deref(),
                now: NOW,
                arrival: self.arrival,
            },
        )
    }
}

type Check = Box<dyn Fn(&Decided)>;

fn allow(check: impl Fn(&Decided) + 'static) -> Result<Check, Reason> {
    Ok(Box::new(check))
}

fn any() -> Result<Check, Reason> {
    allow(|_| {})
}

fn waived(marker: &'static str, reason: Reason) -> Result<Check, Reason> {
    allow(move |d| {
        let w = d.waiver.as_ref().expect("a waiver");
        assert_eq!((w.waived.as_str(), w.denial.reason), (marker, reason));
    })
}

/// `{"sub": "upstream-actor-(n-1)", "act": {… "sub": "upstream-actor-0"}}`.
fn deep_act(n: usize) -> Value {
    (0..n).fold(Value::Null, |inner, i| {
        let mut a = json!({"sub": format!("upstream-actor-{i}")});
        if !inner.is_null() {
            a["act"] = inner;
        }
        a
    })
}

fn waived_token(agent: &str, aud: &str) -> OwnToken {
    OwnToken {
        waived: Some("missing_group".into()),
        ..own(agent, aud, "obo", Some(json!({"sub": agent})))
    }
}

fn ancestor(jti: &str, agent: &str) -> Ancestor {
    Ancestor {
        jti: jti.into(),
        agent: agent.into(),
        client: agent.into(),
        iat: NOW - 20,
    }
}

#[test]
fn every_rule_both_ways() {
    let p = policy();
    let workload = || upstream("sa:bot", true, &[], TokenShape::Jwt);
    let gw_workload = || upstream("sa:gw", true, &[], TokenShape::Jwt);
    let id_token = || upstream("alice", false, &["Support"], TokenShape::Id);
    let bob = || upstream("bob", false, &["Everyone"], TokenShape::Access);
    let at = |at: UnixTime| View {
        user_revoked_at: Some(at),
        ..View::default()
    };
    let agent_at = |agent: &'static str, at: UnixTime| View {
        agent_revoked_at: Some((agent, at)),
        ..View::default()
    };
    let jtis = |jtis: Vec<&'static str>| View {
        jtis,
        ..View::default()
    };
    let derived = |ancestors: Vec<Ancestor>| OwnToken {
        ancestors,
        ..own("bot", S, "obo", Some(json!({"sub": "sa:bot"})))
    };
    let rows: Vec<(&str, Case, Result<Check, Reason>)> = vec![
        // --- token types (RFC 8693 §3)
        ("an access token as access_token", case("bot", Subj::Up(alice()), Z), any()),
        ("an ID token as id_token", case("bot", Subj::Up(id_token()), Z).typed(ID), any()),
        ("an ID token as access_token", case("bot", Subj::Up(id_token()), Z), Err(Reason::TokenTypeMismatch)),
        ("a user's access token as jwt", case("bot", Subj::Up(alice()), Z).typed(JWT), Err(Reason::TokenTypeMismatch)),
        ("one of ours as id_token", case("gw", Subj::Own(bots()), T).typed(ID), Err(Reason::TokenTypeMismatch)),
        ("one of ours as jwt", case("gw", Subj::Own(bots()), T).typed(JWT), Err(Reason::TokenTypeMismatch)),
        ("a workload JWT as jwt", case("bot", Subj::Up(workload()), Z).typed(JWT), any()),
        ("a workload JWT as access_token", case("bot", Subj::Up(workload()), Z), Err(Reason::TokenTypeMismatch)),
        ("a workload JWT actor as access_token", case("bot", Subj::Up(alice()), Z).actor(Subj::Up(workload()), AT), Err(Reason::TokenTypeMismatch)),
        // --- expiry and revocation
        ("an expired upstream token", case("bot", Subj::Up(VerifiedToken { expires_at: NOW, ..alice() }), Z), Err(Reason::Expired)),
        ("Alice quits: her token from before", case("bot", Subj::Up(alice()), Z).view(at(NOW - 50)), Err(Reason::Revoked)),
        ("Alice quits: a token from her new sign-in", case("bot", Subj::Up(VerifiedToken { issued_by: NOW - 10, ..alice() }), Z).view(at(NOW - 50)), any()),
        ("the agent revoked: an upstream token from before", case("bot", Subj::Up(alice()), Z).view(agent_at("bot", NOW - 50)), Err(Reason::Revoked)),
        ("another agent revoked", case("bot", Subj::Up(alice()), Z).view(agent_at("gw", NOW - 50)), any()),
        ("a revoked actor's principal", case("bot", Subj::Up(VerifiedToken { issued_by: NOW, ..alice() }), Z).actor(Subj::Up(workload()), JWT).view(at(NOW - 50)), Err(Reason::Revoked)),
        ("a revoked token of ours", case("gw", Subj::Own(bots()), T).view(jtis(vec!["jti-bot"])), Err(Reason::Revoked)),
        ("a token of ours, another revoked", case("gw", Subj::Own(bots()), T).view(jtis(vec!["other"])), any()),
        ("a token whose ancestor is revoked", case("bot", Subj::Own(derived(vec![ancestor("root", "rogue")])), Z).view(jtis(vec!["root"])), Err(Reason::Revoked)),
        ("a token whose ancestor's agent is revoked", case("bot", Subj::Own(derived(vec![ancestor("root", "rogue")])), Z).view(agent_at("rogue", NOW - 5)), Err(Reason::Revoked)),
        ("a stale revocation view", case("bot", Subj::Up(alice()), Z).view(View { stale: true, ..View::default() }), Err(Reason::RevocationStateStale)),
        // --- the actor
        ("the agent's workload as actor", case("bot", Subj::Up(alice()), Z).actor(Subj::Up(workload()), JWT), allow(|d| assert_eq!(d.act, Some(json!({"sub": "sa:bot", "iss": K8S}))))),
        ("another workload as actor", case("bot", Subj::Up(alice()), Z).actor(Subj::Up(gw_workload()), JWT), Err(Reason::ActorMismatch)),
        ("a delegated actor", case("bot", Subj::Up(alice()), Z).actor(Subj::Up(with_claim(workload(), "act", json!({"sub": "x"}))), JWT), Err(Reason::InvalidAct)),
        // --- pattern
        ("a pattern the agent may use", case("gw", Subj::Up(alice()), Z), any()),
        ("workload for a user-only agent", case("gw", Subj::Up(gw_workload()), Z).typed(JWT), Err(Reason::PatternNotAllowed)),
        // --- interactive: a sign-in through /authorize
        ("a sign-in for an interactive agent", case("desk", Subj::Up(id_token()), Z).signed_in(), allow(|d| assert_eq!((d.pattern, d.act.clone(), d.sub.as_str()), (Pattern::Interactive, Some(json!({"sub": "desk"})), "alice")))),
        ("a sign-in for an agent without interactive", case("bot", Subj::Up(id_token()), Z).signed_in(), Err(Reason::PatternNotAllowed)),
        ("an interactive agent exchanging a presented token", case("desk", Subj::Up(id_token()), Z).typed(ID), Err(Reason::PatternNotAllowed)),
        ("a sign-in lacking the group", case("desk", Subj::Up(VerifiedToken { shape: TokenShape::Id, ..bob() }), Z).signed_in(), Err(Reason::MissingGroup)),
        ("a sign-in after Alice quit, from before", case("desk", Subj::Up(id_token()), Z).signed_in().view(at(NOW - 50)), Err(Reason::Revoked)),
        // --- id_jag: an ID-JAG as the jwt-bearer assertion (SEP-990 leg 2)
        ("an ID-JAG for its client", case("jagger", Subj::Up(jag("jagger", &[READ, WRITE])), Z).id_jag(), allow(|d| assert_eq!((d.pattern, d.act.clone(), d.sub.as_str(), d.scopes.clone()), (Pattern::IdJag, Some(json!({"sub": "jagger"})), "alice", vec![READ.to_string()])))),
        ("an ID-JAG issued to another client", case("jagger", Subj::Up(jag("bot", &[READ])), Z).id_jag(), Err(Reason::IdJagClientMismatch)),
        ("an ID-JAG for an agent without id_jag", case("bot", Subj::Up(jag("bot", &[READ])), Z).id_jag(), Err(Reason::PatternNotAllowed)),
        ("an ID-JAG naming a resource the agent lacks", case("jagger", Subj::Up(jag("jagger", &[READ])), T).id_jag(), Err(Reason::TargetNotAllowed)),
        ("an ID-JAG, a scope it does not assert requested", case("jagger", Subj::Up(jag("jagger", &[READ])), Z).id_jag().scope(&[READ, WRITE]), Err(Reason::ScopeExceedsSubject)),
        ("an ID-JAG asserting only undeclared scopes", case("jagger", Subj::Up(jag("jagger", &["slack:channels:read"])), Z).id_jag(), Err(Reason::NoScopeGranted)),
        ("an ID-JAG after Alice quit, from before", case("jagger", Subj::Up(jag("jagger", &[READ])), Z).id_jag().view(at(NOW - 50)), Err(Reason::Revoked)),
        ("an ID-JAG as a subject_token", case("jagger", Subj::Up(jag("jagger", &[READ])), Z).typed(JAG), Err(Reason::NotAnIdJag)),
        ("an ID-JAG sent as an access token", case("bot", Subj::Up(jag("bot", &[READ])), Z), Err(Reason::NotAnIdJag)),
        ("an access token as the jwt-bearer assertion", case("jagger", Subj::Up(alice()), Z).id_jag(), Err(Reason::NotAnIdJag)),
        // --- workload subject
        ("the agent's own workload token", case("bot", Subj::Up(workload()), Z).typed(JWT), allow(|d| assert_eq!((d.pattern, d.act.clone()), (Pattern::Workload, None)))),
        ("another agent's workload token", case("bot", Subj::Up(gw_workload()), Z).typed(JWT), Err(Reason::WorkloadMismatch)),
        ("a workload subject with act", case("bot", Subj::Up(with_claim(workload(), "act", json!({"sub": "x"}))), Z).typed(JWT), Err(Reason::InvalidAct)),
        // --- may_act (RFC 8693 §4.4)
        ("may_act naming the actor", case("bot", Subj::Up(with_claim(alice(), "may_act", json!({"sub": "sa:bot"}))), Z), any()),
        ("may_act naming someone else", case("bot", Subj::Up(with_claim(alice(), "may_act", json!({"sub": "sa:gw"}))), Z), Err(Reason::MayActMismatch)),
        ("our may_act with another client", case("gw", Subj::Own(OwnToken { claims: json!({"idp": OKTA, "act": {"sub": "sa:bot"}, "may_act": {"sub": "sa:gw", "client_id": "bot"}}).as_object().unwrap().clone(), ..bots() }), T), Err(Reason::MayActMismatch)),
        ("our may_act naming the server", case("gw", Subj::Own(OwnToken { claims: json!({"idp": OKTA, "act": {"sub": "sa:bot"}, "may_act": {"sub": "sa:gw", "client_id": "gw"}}).as_object().unwrap().clone(), ..bots() }), T), any()),
        ("tokens for a served resource name its server", case("bot", Subj::Up(alice()), Z), allow(|d| assert_eq!(d.may_act, Some(json!({"sub": "sa:gw", "client_id": "gw"}))))),
        ("workload tokens carry no may_act", case("bot", Subj::Up(workload()), Z).typed(JWT), allow(|d| assert_eq!(d.may_act, None))),
        // --- upstream act
        ("an upstream act nests below the new actor", case("bot", Subj::Up(with_claim(alice(), "act", json!({"sub": "assistant"}))), Z), allow(|d| assert_eq!(d.act, Some(json!({"sub": "sa:bot", "act": {"sub": "assistant"}}))))),
        ("an upstream act as a string", case("bot", Subj::Up(with_claim(alice(), "act", json!("assistant"))), Z), Err(Reason::InvalidAct)),
        ("an upstream act without sub", case("bot", Subj::Up(with_claim(alice(), "act", json!({"iss": "x"}))), Z), Err(Reason::InvalidAct)),
        ("an upstream act 50 deep", case("bot", Subj::Up(with_claim(alice(), "act", deep_act(50))), Z), Err(Reason::InvalidAct)),
        ("an upstream act at the cap leaves no room", case("bot", Subj::Up(with_claim(alice(), "act", deep_act(3))), Z), Err(Reason::ChainTooDeep)),
        ("an upstream act two deep fits", case("bot", Subj::Up(with_claim(alice(), "act", deep_act(2))), Z), any()),
        // --- who may present our tokens
        ("its own client narrows it", case("bot", Subj::Own(bots()), Z), allow(|d| {
            assert_eq!(d.act, Some(json!({"sub": "sa:bot"})), "act unchanged");
            assert_eq!(d.ancestors, vec![bots().as_ancestor()]);
        })),
        ("its own client narrows it to another of its resources", case("bot", Subj::Own(OwnToken { scopes: vec!["slack:channels:read".into()], ..bots() }), S), any()),
        ("narrowing takes no actor token", case("bot", Subj::Own(bots()), Z).actor(Subj::Up(workload()), JWT), Err(Reason::BadRequest)),
        ("the agent serving its audience chains it", case("gw", Subj::Own(bots()), T), allow(|d| assert_eq!(d.act, Some(json!({"sub": "sa:gw", "act": {"sub": "sa:bot"}}))))),
        ("the server chains it with its workload actor", case("gw", Subj::Own(bots()), T).actor(Subj::Up(gw_workload()), JWT), allow(|d| assert_eq!((d.pattern, d.act.clone()), (Pattern::Hybrid, Some(json!({"sub": "sa:gw", "iss": K8S, "act": {"sub": "sa:bot"}})))))),
        ("any other agent", case("rogue", Subj::Own(bots()), Z), Err(Reason::PresenterNotAllowed)),
        ("any other agent, retargeted", case("rogue", Subj::Own(bots()), T), Err(Reason::PresenterNotAllowed)),
        ("a server of another resource", case("shadow", Subj::Own(bots()), T), Err(Reason::PresenterNotAllowed)),
        ("another agent's workload token of ours", case("gw", Subj::Own(own("bot", Z, "workload", None)), Z), Err(Reason::PatternNotAllowed)),
        ("one's own workload token of ours", case("bot", Subj::Own(own("bot", Z, "workload", None)), Z), any()),
        ("a workload token of ours, another agent's", case("bot", Subj::Own(own("rogue", Z, "workload", None)), Z), Err(Reason::WorkloadMismatch)),
        // --- report-only stays report-only
        ("report-only waives a missing group", case("shadow", Subj::Up(bob()), T), waived("missing_group", Reason::MissingGroup)),
        ("an enforcing agent does not", case("gw", Subj::Up(bob()), T), Err(Reason::MissingGroup)),
        ("an enforcing agent refuses a waived token", case("gw", Subj::Own(waived_token("bot", Z)), T), Err(Reason::ReportOnlySubject)),
        ("an enforcing agent narrowing its own waived token", case("bot", Subj::Own(waived_token("bot", Z)), Z), Err(Reason::ReportOnlySubject)),
        ("a report-only agent keeps reporting", case("shadow", Subj::Own(waived_token("shadow", T)), T), waived("missing_group", Reason::ReportOnlySubject)),
        ("an unwaived token is no waiver", case("gw", Subj::Own(bots()), T), allow(|d| assert_eq!(d.waiver, None))),
        // --- depth and lineage
        ("a chain within the cap", case("gw", Subj::Own(own("bot", Z, "obo", Some(deep_act(2)))), T), any()),
        ("a chain over the cap", case("gw", Subj::Own(own("bot", Z, "obo", Some(deep_act(3)))), T), Err(Reason::ChainTooDeep)),
        ("narrowing within the lineage cap", case("bot", Subj::Own(OwnToken { ancestors: vec![ancestor("a", "bot"), ancestor("b", "bot")], ..bots() }), Z), allow(|d| assert_eq!(d.ancestors.len(), 3))),
        ("narrowing past the lineage cap", case("bot", Subj::Own(OwnToken { ancestors: vec![ancestor("a", "bot"), ancestor("b", "bot"), ancestor("c", "bot")], ..bots() }), Z), Err(Reason::ChainTooDeep)),
        // --- the next agent's population
        ("a chain into an agent without population rules", case("gw", Subj::Own(bots()), Z), any()),
        ("a chain into an agent restricted by group", case("picky", Subj::Own(own("bot", S, "obo", Some(json!({"sub": "sa:bot"})))), Z), Err(Reason::UserNotAllowed)),
        // --- scopes within the subject's
        ("a chain asking for the subject's scope", case("gw", Subj::Own(bots()), T).scope(&[READ]), allow(|d| assert_eq!(d.scopes, vec![READ.to_string()]))),
        ("a chain asking for more", case("gw", Subj::Own(bots()), T).scope(&[WRITE]), Err(Reason::ScopeExceedsSubject)),
        ("a chain to a resource the server may not call", case("gw", Subj::Own(bots()), S), Err(Reason::TargetNotAllowed)),
        // --- targets, declared scopes, groups
        ("a user holding the required scope", case("bot", Subj::Up(alice()), Z).scope(&[READ]), any()),
        ("a user lacking it", case("bot", Subj::Up(bob()), Z), Err(Reason::MissingGroup)),
    ];
    for (label, c, want) in rows {
        match (c.run(&p).decision, want) {
            (Ok(d), Ok(check)) => check(&d),
            (Err(d), Err(reason)) => assert_eq!(d.reason, reason, "{label}: {}", d.description),
            (Ok(d), Err(reason)) => panic!("{label}: granted {:?}, wanted {reason}", d.scopes),
            (Err(d), Ok(_)) => panic!("{label}: refused {} ({})", d.reason, d.description),
        }
    }
}

#[test]
fn the_pattern_is_known_to_the_audit_record_once_decided() {
    let p = policy();
    let refused = case("rogue", Subj::Own(bots()), Z).run(&p);
    assert_eq!(refused.pattern, Some(Pattern::Obo));
    let early = case("bot", Subj::Up(alice()), Z).typed(JWT).run(&p);
    assert_eq!(early.pattern, None, "refused before the pattern was known");
}

#[test]
fn refusals_say_what_is_wrong() {
    let p = policy();
    let description = |c: Case| c.run(&p).decision.unwrap_err().description;
    assert_eq!(
        description(case("gw", Subj::Own(bots()), T).typed(ID)),
        "subject_token_type is urn:ietf:params:oauth:token-type:id_token, but subject_token is one \
         of our access tokens: send urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(
        description(case("rogue", Subj::Own(bots()), T)),
        "subject_token was issued to client bot for https://zendesk; only that client, or the \
         agent that serves https://zendesk, may exchange it"
    );
    assert_eq!(
        description(case("gw", Subj::Own(waived_token("bot", Z)), T)),
        "subject_token was granted under a report-only waiver (missing_group); agent gw enforces \
         its policy, so it cannot derive a token from it"
    );
    assert_eq!(
        description(case(
            "bot",
            Subj::Up(with_claim(alice(), "act", deep_act(50))),
            Z
        )),
        "subject_token: act is nested deeper than the delegation cap of 3"
    );
}
