//! Table tests of the decision, over a small policy.

use super::*;
use crate::config::Config;

const POLICY: &str = r#"
issuer = "https://sts.example.com"
[storage]
database_url = "sqlite://x"
[[upstreams]]
name = "okta"
kind = "okta"
issuer = "https://example.okta.com/oauth2/default"
audiences = ["api://agent-sts"]
[[upstreams]]
name = "okta2"
kind = "okta"
issuer = "https://other.okta.com/oauth2/default"
audiences = ["api://agent-sts"]
[[resources]]
uri = "https://zendesk"
scopes = ["zendesk:tickets:read", "zendesk:tickets:write"]
[[resources]]
uri = "https://slack"
scopes = ["slack:channels:read"]
[[resources]]
uri = "https://jira"
scopes = ["jira:issues:read"]
[[agents]]
id = "bot"
patterns = ["obo", "workload"]
resources = ["https://zendesk", "https://slack"]
required_scopes = ["zendesk:tickets:read"]
optional_scopes = ["zendesk:tickets:write", "slack:channels:read"]
client = { id = "bot", auth = "client_secret_basic", secret_sha256 = "0000000000000000000000000000000000000000000000000000000000000000" }
[[agents]]
id = "picky"
patterns = ["obo"]
resources = ["https://zendesk"]
required_scopes = ["zendesk:tickets:read"]
user_upstreams = ["okta"]
user_groups = ["okta:Pilot"]
client = { id = "picky", auth = "client_secret_basic", secret_sha256 = "0000000000000000000000000000000000000000000000000000000000000000" }
[[agents]]
id = "jira"
patterns = ["obo"]
resources = ["https://jira"]
optional_scopes = ["jira:issues:read"]
client = { id = "jira", auth = "client_secret_basic", secret_sha256 = "0000000000000000000000000000000000000000000000000000000000000000" }
[[agents]]
id = "pilot"
patterns = ["obo"]
resources = ["https://zendesk"]
required_scopes = ["zendesk:tickets:read"]
enforcement = "report-only"
client = { id = "pilot", auth = "client_secret_basic", secret_sha256 = "0000000000000000000000000000000000000000000000000000000000000000" }
[scope_groups]
"zendesk:tickets:read" = ["okta:Support"]
"zendesk:tickets:write" = ["okta:Leads"]
"slack:channels:read" = ["okta:Everyone"]
"jira:issues:read" = ["okta:*"]
"#;

fn policy() -> Policy {
    let c = Config::parse(POLICY, "t").unwrap();
    c.validate().unwrap();
    Policy::new(&c)
}

fn groups(gs: &[&str]) -> Groups {
    Groups::Known(gs.iter().map(|g| g.to_string()).collect())
}

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

type Outcome = Result<Vec<String>, (ErrorCode, Reason)>;

fn run(agent: &str, user: Option<(&str, Groups)>, target: &str, req: Option<&[&str]>) -> Outcome {
    let p = policy();
    let a = p.agent_by_client(agent).unwrap();
    let req = req.map(scopes);
    let user = user.as_ref().map(|(u, g)| User {
        upstream: u,
        groups: g,
    });
    decide_scopes(&p, a, user, target, req.as_deref()).map_err(|d| (d.error, d.reason))
}

fn run_jira(user: Option<(&str, Groups)>) -> Outcome {
    run("jira", user, "https://jira", None)
}

#[test]
fn decisions() {
    let support = || Some(("okta", groups(&["Support"])));
    let lead = || Some(("okta", groups(&["Support", "Leads", "Everyone"])));
    let table: Vec<(&str, Outcome, Outcome)> = vec![
        (
            "no scope parameter: required plus the optional ones held, for this resource",
            run("bot", lead(), "https://zendesk", None),
            Ok(scopes(&["zendesk:tickets:read", "zendesk:tickets:write"])),
        ),
        (
            "optional scope the user lacks is dropped",
            run("bot", support(), "https://zendesk", None),
            Ok(scopes(&["zendesk:tickets:read"])),
        ),
        (
            "explicit request of a held subset",
            run(
                "bot",
                lead(),
                "https://zendesk",
                Some(&["zendesk:tickets:write"]),
            ),
            Ok(scopes(&["zendesk:tickets:write"])),
        ),
        (
            "explicitly requested optional scope the user lacks: dropped, nothing left",
            run(
                "bot",
                support(),
                "https://zendesk",
                Some(&["zendesk:tickets:write"]),
            ),
            Err((ErrorCode::InvalidScope, Reason::NoScopeGranted)),
        ),
        (
            "user lacks the group of a required scope",
            run(
                "bot",
                Some(("okta", groups(&["Everyone"]))),
                "https://zendesk",
                None,
            ),
            Err((ErrorCode::InvalidScope, Reason::MissingGroup)),
        ),
        (
            "groups overage refuses a scope that needs a group",
            run(
                "bot",
                Some(("okta", Groups::Unknown)),
                "https://zendesk",
                None,
            ),
            Err((ErrorCode::InvalidScope, Reason::GroupsOverage)),
        ),
        (
            "a group of the same name at another upstream does not count",
            run(
                "bot",
                Some(("okta2", groups(&["Support"]))),
                "https://zendesk",
                None,
            ),
            Err((ErrorCode::InvalidScope, Reason::MissingGroup)),
        ),
        (
            "a resource the agent may not call, even with that resource's scope",
            run("bot", lead(), "https://jira", Some(&["jira:issues:read"])),
            Err((ErrorCode::InvalidTarget, Reason::TargetNotAllowed)),
        ),
        (
            "scope declared by the agent but of another resource",
            run(
                "bot",
                lead(),
                "https://zendesk",
                Some(&["slack:channels:read"]),
            ),
            Err((ErrorCode::InvalidScope, Reason::ScopeNotForResource)),
        ),
        (
            "scope the agent does not declare",
            run(
                "picky",
                Some(("okta", groups(&["Pilot", "Support", "Leads"]))),
                "https://zendesk",
                Some(&["zendesk:tickets:write"]),
            ),
            Err((ErrorCode::InvalidScope, Reason::ScopeNotDeclared)),
        ),
        (
            "resource not allowed for the agent",
            run(
                "picky",
                Some(("okta", groups(&["Pilot", "Support"]))),
                "https://slack",
                None,
            ),
            Err((ErrorCode::InvalidTarget, Reason::TargetNotAllowed)),
        ),
        (
            "unknown resource",
            run("bot", lead(), "https://nowhere", None),
            Err((ErrorCode::InvalidTarget, Reason::TargetNotAllowed)),
        ),
        (
            "workload pattern: no user, every requested scope",
            run("bot", None, "https://zendesk", None),
            Ok(scopes(&["zendesk:tickets:read", "zendesk:tickets:write"])),
        ),
        (
            "user outside the agent's upstreams",
            run(
                "picky",
                Some(("okta2", groups(&["Pilot"]))),
                "https://zendesk",
                None,
            ),
            Err((ErrorCode::InvalidGrant, Reason::UserNotAllowed)),
        ),
        (
            "user outside the agent's groups",
            run("picky", support(), "https://zendesk", None),
            Err((ErrorCode::InvalidGrant, Reason::UserNotAllowed)),
        ),
        (
            "user inside the agent's population",
            run(
                "picky",
                Some(("okta", groups(&["Pilot", "Support"]))),
                "https://zendesk",
                None,
            ),
            Ok(scopes(&["zendesk:tickets:read"])),
        ),
        (
            "\"okta:*\" is every user of that upstream, groups or not",
            run_jira(Some(("okta", Groups::Unknown))),
            Ok(scopes(&["jira:issues:read"])),
        ),
        (
            "\"okta:*\" is not a user of another upstream",
            run_jira(Some(("okta2", groups(&["Everyone"])))),
            Err((ErrorCode::InvalidScope, Reason::NoScopeGranted)),
        ),
        (
            "a repeated scope is granted once",
            run(
                "bot",
                lead(),
                "https://zendesk",
                Some(&["zendesk:tickets:read", "zendesk:tickets:read"]),
            ),
            Ok(scopes(&["zendesk:tickets:read"])),
        ),
    ];
    for (name, got, want) in table {
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn descriptions_name_the_offending_scope_and_resource() {
    let p = policy();
    let a = p.agent_by_client("bot").unwrap();
    let g = groups(&["Everyone"]);
    let u = Some(User {
        upstream: "okta",
        groups: &g,
    });
    let d = decide_scopes(&p, a, u, "https://zendesk", None).unwrap_err();
    assert_eq!(
        d.description,
        "the user is in no group that may hold required scope zendesk:tickets:read"
    );
    let d = decide_scopes(&p, a, u, "https://jira", None).unwrap_err();
    assert_eq!(
        d.description,
        "agent bot may not obtain tokens for https://jira"
    );
    let d = decide_scopes(
        &p,
        a,
        u,
        "https://zendesk",
        Some(&scopes(&["slack:channels:read"])),
    )
    .unwrap_err();
    assert_eq!(
        d.description,
        "scope slack:channels:read does not belong to https://zendesk"
    );
}

#[test]
fn agent_principal_and_patterns() {
    let p = policy();
    let a = p.agent_by_client("picky").unwrap();
    assert_eq!(a.principal(), "picky");
    assert!(a.allows(crate::config::Pattern::Obo).is_ok());
    let d = a.allows(crate::config::Pattern::Hybrid).unwrap_err();
    assert_eq!(
        (d.error, d.reason),
        (ErrorCode::UnauthorizedClient, Reason::PatternNotAllowed)
    );
    assert_eq!(d.description, "agent picky may not use the hybrid pattern");
}

#[test]
fn report_only_lets_group_rules_through_and_says_what_they_would_do() {
    let p = policy();
    let pilot = p.agent_by_client("pilot").unwrap();
    let none = groups(&["Everyone"]);
    let user = User {
        upstream: "okta",
        groups: &none,
    };
    let (scopes, would) = decide_user_scopes(&p, pilot, user, "https://zendesk", None).unwrap();
    assert_eq!(scopes, ["zendesk:tickets:read"]);
    assert_eq!(would.map(|d| d.reason), Some(Reason::MissingGroup));
    // Only the group rules: a resource the agent may not call still denies.
    let d = decide_user_scopes(&p, pilot, user, "https://slack", None).unwrap_err();
    assert_eq!(d.reason, Reason::TargetNotAllowed);
    // An enforcing agent denies the same request.
    let bot = p.agent_by_client("bot").unwrap();
    let d = decide_user_scopes(&p, bot, user, "https://zendesk", None).unwrap_err();
    assert_eq!(d.reason, Reason::MissingGroup);
}
