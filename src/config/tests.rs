//! One test per refusal: each edits the annotated example and asserts the
//! exact path and message a user would see.

use super::*;

const EXAMPLE: &str = include_str!("../../examples/agent-sts.toml");

fn parse(text: &str) -> Config {
    match Config::parse(text, "test.toml") {
        Ok(c) => c,
        Err(e) => panic!("example must parse: {e}"),
    }
}

/// The example with `from` replaced by `to` (exactly once) must fail with
/// exactly this one error.
fn refuses(from: &str, to: &str, path: &str, message: &str) {
    assert_eq!(
        EXAMPLE.matches(from).count(),
        1,
        "edit target {from:?} must be unique"
    );
    let config = parse(&EXAMPLE.replacen(from, to, 1));
    let errors = config
        .validate()
        .expect_err("edited config must be refused");
    assert_eq!(
        errors,
        vec![ConfigError {
            path: path.into(),
            message: message.into()
        }]
    );
}

fn parse_error(text: &str) -> String {
    match Config::parse(text, "test.toml") {
        Ok(_) => panic!("must not parse"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn example_is_valid() {
    let c = parse(EXAMPLE);
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(c.agents.len(), 2);
    assert_eq!(c.agents[0].token_ttl, Span::from_secs(600));
    assert!(!c.dev_mode);
}

#[test]
fn refuses_wildcard_scope() {
    refuses(
        r#"required_scopes = ["zendesk:tickets:read", "zendesk:tickets:write", "postgres:support_db:read"]"#,
        r#"required_scopes = ["zendesk:tickets:read", "*:write", "postgres:support_db:read"]"#,
        "agents[0].required_scopes[1]",
        r#""*:write" is a wildcard; declare the exact scopes"#,
    );
}

#[test]
fn refuses_over_broad_scope_on_resource() {
    refuses(
        "\nscopes = [\"slack:channels:read\"]",
        "\nscopes = [\"slack:channels:read\", \"admin\"]",
        "resources[2].scopes[1]",
        r#""admin" is over-broad; name the system, object and action, e.g. "zendesk:tickets:read""#,
    );
}

#[test]
fn refuses_scope_declared_by_no_resource() {
    refuses(
        r#"optional_scopes = ["slack:channels:read"]"#,
        r#"optional_scopes = ["slack:channels:read", "jira:issues:read"]"#,
        "agents[0].optional_scopes[1]",
        r#""jira:issues:read" is declared by no resource"#,
    );
}

#[test]
fn refuses_scope_of_a_resource_the_agent_may_not_call() {
    refuses(
        r#"required_scopes = ["zendesk:tickets:read"]

[agents.client]
id = "nightly-digest""#,
        r#"required_scopes = ["zendesk:tickets:read", "slack:channels:read"]

[agents.client]
id = "nightly-digest""#,
        "agents[1].required_scopes[1]",
        r#""slack:channels:read" belongs to https://mcp-slack.example.com, which this agent may not call"#,
    );
}

#[test]
fn refuses_scope_nobody_can_hold() {
    refuses(
        r#""slack:channels:read" = ["okta-prod:Everyone"]"#,
        "",
        "agents[0].optional_scopes[0]",
        r#""slack:channels:read" can be held by nobody: add it to [scope_groups] with the groups that may hold it"#,
    );
}

#[test]
fn refuses_unknown_resource() {
    refuses(
        r#"resources = ["https://mcp-zendesk.example.com"]"#,
        r#"resources = ["https://mcp-zendesk.example.com", "https://mcp-jira.example.com"]"#,
        "agents[1].resources[1]",
        r#""https://mcp-jira.example.com" is not a declared resource"#,
    );
}

#[test]
fn a_declared_resource_may_be_named_in_any_spelling_of_it() {
    // RFC 3986 §6.2.2–6.2.3: case, default port, empty path ≡ "/".
    let respelled = EXAMPLE.replacen(
        r#"resources = ["https://mcp-zendesk.example.com"]"#,
        r#"resources = ["HTTPS://MCP-Zendesk.example.com:443/"]"#,
        1,
    );
    assert_ne!(respelled, EXAMPLE, "the edit applied");
    let c = parse(&respelled);
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(
        c.agents[1].resources,
        ["https://mcp-zendesk.example.com"],
        "referenced in the declared spelling, the one aud carries"
    );
}

#[test]
fn refuses_two_spellings_of_one_resource() {
    refuses(
        "uri = \"https://mcp-slack.example.com\"\nscopes = [\"slack:channels:read\"]",
        "uri = \"https://mcp-slack.example.com\"\nscopes = [\"slack:channels:read\"]\n\n[[resources]]\nuri = \"https://MCP-ZENDESK.example.com/\"\nscopes = [\"zendesk:extra\"]",
        "resources[3].uri",
        r#""https://MCP-ZENDESK.example.com/" is the same resource as "https://mcp-zendesk.example.com" (RFC 3986 §6.2): declare it once"#,
    );
}

/// An interactive agent appended to the example, with `extra` lines.
fn with_interactive(patterns: &str, client: &str, login: bool) -> Vec<ConfigError> {
    let login = if login {
        "\nlogin = { client_id = \"rp\", client_secret = \"s\" }"
    } else {
        ""
    };
    let text = EXAMPLE.replacen(
        "audiences = [\"api://agent-sts\"]  # a token must carry one of these in `aud`",
        &format!("audiences = [\"api://agent-sts\"]{login}"),
        1,
    ) + &format!(
        "\n[[agents]]\nid = \"desk\"\npatterns = {patterns}\nclient = {client}\n\
         resources = [\"https://mcp-zendesk.example.com\"]\nrequired_scopes = [\"zendesk:tickets:read\"]\n"
    );
    match parse(&text).validate() {
        Ok(()) => Vec::new(),
        Err(errors) => errors,
    }
}

#[test]
fn interactive_agents_need_redirect_uris_a_login_and_public_clients_stay_interactive() {
    let public = r#"{ id = "desk", auth = "none", redirect_uris = ["http://127.0.0.1/cb"] }"#;
    assert_eq!(with_interactive(r#"["interactive"]"#, public, true), vec![]);
    let error = |path: &str, message: &str| ConfigError {
        path: path.into(),
        message: message.into(),
    };
    assert_eq!(
        with_interactive(r#"["interactive", "obo"]"#, public, true),
        vec![error(
            "agents[2].patterns",
            "a public client (auth = \"none\") may use the interactive pattern only"
        )]
    );
    assert_eq!(
        with_interactive(r#"["interactive"]"#, public, false),
        vec![error(
            "agents[2].patterns",
            "interactive: no user upstream of this agent has a [upstreams.login] to sign in at"
        )]
    );
    assert_eq!(
        with_interactive(
            r#"["interactive"]"#,
            r#"{ id = "desk", auth = "none" }"#,
            true
        ),
        vec![error(
            "agents[2].client.redirect_uris",
            "an interactive agent needs the redirect URIs its users return to \
             (or a client id that is the URL of its metadata document)"
        )]
    );
    let plain_http = r#"{ id = "desk", auth = "none", redirect_uris = ["http://app.example.com/cb", "https://app.example.com/cb#x"] }"#;
    assert_eq!(
        with_interactive(r#"["interactive"]"#, plain_http, true),
        vec![
            error(
                "agents[2].client.redirect_uris[0]",
                "\"http://app.example.com/cb\": http only on the loopback interface (127.0.0.1 or [::1])"
            ),
            error(
                "agents[2].client.redirect_uris[1]",
                "\"https://app.example.com/cb#x\" must not have a fragment"
            ),
        ]
    );
}

#[test]
fn refuses_duplicate_agent_id() {
    refuses(
        r#"id = "nightly-digest"
description"#,
        r#"id = "support-bot"
description"#,
        "agents[1].id",
        r#""support-bot" is already the id of another agent"#,
    );
}

#[test]
fn refuses_duplicate_client_id() {
    refuses(
        r#"id = "nightly-digest"
auth"#,
        r#"id = "support-bot"
auth"#,
        "agents[1].client.id",
        r#""support-bot" is already another agent's client"#,
    );
}

#[test]
fn refuses_token_ttl_outside_bounds() {
    refuses(
        r#"token_ttl = "10m""#,
        r#"token_ttl = "1h""#,
        "agents[0].token_ttl",
        "1h is outside 5m–15m",
    );
}

#[test]
fn refuses_workload_identity_on_user_upstream() {
    refuses(
        r#"workload = { upstream = "k8s","#,
        r#"workload = { upstream = "okta-prod","#,
        "agents[0].workload.upstream",
        r#""okta-prod" is not a workload upstream (set use = "workload" on it)"#,
    );
}

#[test]
fn refuses_secret_client_without_hash() {
    refuses(
        "secret_sha256 = \"39be",
        "# secret_sha256 = \"39be",
        "agents[0].client.secret_sha256",
        "a secret-based client needs secret_sha256 (`agent-sts clients new-secret` prints it)",
    );
}

#[test]
fn refuses_private_key_jwt_without_keys() {
    refuses(
        r#"jwks_uri = "https://agents.example.com/nightly-digest/jwks.json""#,
        "",
        "agents[1].client",
        "a private_key_jwt client needs exactly one of jwks or jwks_uri",
    );
}

#[test]
fn refuses_entra_without_tenants() {
    refuses(
        r#"tenants = ["11111111-2222-3333-4444-555555555555"]"#,
        "",
        "upstreams[1].tenants",
        "an entra upstream needs its tenant allow-list (tenant ids, `tid`)",
    );
}

#[test]
fn refuses_duplicate_upstream_name() {
    refuses(
        "# Resources (MCP servers",
        "[[upstreams]]\nname = \"okta-prod\"\nkind = \"oidc\"\nissuer = \"https://idp.example.com\"\naudiences = [\"a\"]\n# Resources (MCP servers",
        "upstreams[3].name",
        r#""okta-prod" is already the name of another upstream"#,
    );
}

#[test]
fn refuses_plain_http_issuer() {
    refuses(
        r#"issuer = "https://example.okta.com/oauth2/default""#,
        r#"issuer = "http://example.okta.com/oauth2/default""#,
        "upstreams[0].issuer",
        r#""http://example.okta.com/oauth2/default" must use https (http is allowed only on a loopback host)"#,
    );
}

#[test]
fn refuses_issuer_with_path() {
    refuses(
        r#"issuer = "https://sts.example.com""#,
        r#"issuer = "https://sts.example.com/""#,
        "issuer",
        r#""https://sts.example.com/" must be an origin such as "https://sts.example.com" (no path, no trailing slash): it is compared exactly and metadata is served at its /.well-known/"#,
    );
}

#[test]
fn refuses_bad_introspect_mode() {
    refuses(
        r#"introspect = "when-lifetime-over-15m""#,
        r#"introspect = "sometimes""#,
        "upstreams[0].introspect",
        r#""sometimes" is not one of never, always, when-lifetime-over-<duration>"#,
    );
}

#[test]
fn refuses_introspection_without_credentials() {
    refuses(
        r#"introspection = { client_id = "agent-sts", client_secret = { env = "OKTA_INTROSPECTION_SECRET" } }"#,
        "",
        "upstreams[0].introspection",
        "introspect is on, so give the credentials: introspection = { client_id = …, client_secret = … }",
    );
}

#[test]
fn refuses_scope_group_of_unknown_upstream() {
    refuses(
        r#""zendesk:tickets:write" = ["okta-prod:Support-Agents"]"#,
        r#""zendesk:tickets:write" = ["okta-test:Support-Agents"]"#,
        "scope_groups.\"zendesk:tickets:write\"[0]",
        r#""okta-test" (in "Support-Agents") is not a configured upstream"#,
    );
}

#[test]
fn refuses_scope_group_without_upstream_prefix() {
    refuses(
        r#""zendesk:tickets:write" = ["okta-prod:Support-Agents"]"#,
        r#""zendesk:tickets:write" = ["Support-Agents"]"#,
        "scope_groups.\"zendesk:tickets:write\"[0]",
        r#""Support-Agents" must be "<upstream>:<group>""#,
    );
}

#[test]
fn refuses_database_url_of_unknown_kind_without_echoing_it() {
    refuses(
        r#"database_url = "sqlite://agent-sts.db?mode=rwc""#,
        r#"database_url = "mysql://root:hunter2@db/x""#,
        "storage.database_url",
        "must start with sqlite: or postgres: (the value is not shown: it may hold a password)",
    );
}

#[test]
fn unknown_field_names_its_path_and_line() {
    let text = EXAMPLE.replacen("token_ttl = \"10m\"", "token_tll = \"10m\"", 1);
    let line = text
        .lines()
        .position(|l| l.starts_with("token_tll"))
        .map(|i| i + 1)
        .unwrap_or(0);
    let msg = parse_error(&text);
    assert!(
        msg.starts_with(&format!(
            "test.toml:{line}: agents[0].token_tll: unknown field `token_tll`"
        )),
        "{msg}"
    );
}

#[test]
fn unknown_enum_value_names_the_choices() {
    let text = EXAMPLE.replacen("auth = \"client_secret_basic\"", "auth = \"password\"", 1);
    let msg = parse_error(&text);
    assert!(
        msg.contains("agents[0].client.auth: unknown variant `password`, expected one of `client_secret_basic`, `client_secret_post`, `private_key_jwt`"),
        "{msg}"
    );
}

#[test]
fn hs256_cannot_be_named_as_an_upstream_algorithm() {
    let text = EXAMPLE.replacen("algorithms = [\"RS256\"]", "algorithms = [\"HS256\"]", 1);
    let msg = parse_error(&text);
    assert!(
        msg.contains("upstreams[0].algorithms[0]: unknown variant `HS256`"),
        "{msg}"
    );
}

#[test]
fn bad_duration_is_explained() {
    let text = EXAMPLE.replacen("token_ttl = \"10m\"", "token_ttl = \"ten minutes\"", 1);
    let msg = parse_error(&text);
    assert!(
        msg.contains("agents[0].token_ttl: \"ten minutes\" is not a duration"),
        "{msg}"
    );
}

#[test]
fn every_violation_is_reported_not_just_the_first() {
    let text = EXAMPLE
        .replacen("token_ttl = \"10m\"", "token_ttl = \"2m\"", 1)
        .replacen(
            "\"postgres:support_db:read\"]\noptional",
            "\"postgres:*\"]\noptional",
            1,
        );
    let errors = parse(&text).validate().expect_err("must be refused");
    let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["agents[0].token_ttl", "agents[0].required_scopes[2]"]
    );
}

#[test]
fn refuses_entra_issuer_without_tenant_placeholder() {
    refuses(
        r#"issuer = "https://login.microsoftonline.com/{tenantid}/v2.0""#,
        r#"issuer = "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0""#,
        "upstreams[1].issuer",
        r#"an entra issuer names the tenant as {tenantid}, e.g. "https://login.microsoftonline.com/{tenantid}/v2.0"; list the tenants in tenants"#,
    );
}

#[test]
fn refuses_okta_org_server_without_introspection() {
    refuses(
        r#"issuer = "https://example.okta.com/oauth2/default""#,
        r#"issuer = "https://example.okta.com""#,
        "upstreams[0].introspect",
        r#"tokens of an Okta org authorization server cannot be verified locally; set introspect = "always""#,
    );
}

const ENTRA_CORP: &str = "name = \"entra-corp\"\nkind = \"entra\"";

/// A second Entra upstream on the same templates, as a block to insert
/// before entra-corp, listing `tenants`.
fn entra_shadow(tenants: &str, issuer_v1: &str) -> String {
    format!(
        "name = \"entra-shadow\"\nkind = \"entra\"\nuse = \"workload\"\n\
         issuer = \"https://login.microsoftonline.com/{{tenantid}}/v2.0\"\n{issuer_v1}\
         tenants = [{tenants}]\naudiences = [\"agent-sts\"]\n\n[[upstreams]]\n{ENTRA_CORP}"
    )
}

#[test]
fn refuses_entra_upstreams_whose_templates_overlap_for_a_listed_tenant() {
    // Whatever their `use` or tenant lists: a token of either tenant would
    // be routed to whichever comes first (and refused by its allow-list).
    let message = "upstreams \"entra-shadow\" and \"entra-corp\" can both claim issuer \
                   \"https://login.microsoftonline.com/99999999-2222-3333-4444-555555555555/v2.0\": \
                   a token's iss must route to exactly one upstream (merge them, or give each its \
                   own issuer or tenants)";
    refuses(
        ENTRA_CORP,
        &entra_shadow("\"99999999-2222-3333-4444-555555555555\"", ""),
        "upstreams[2].issuer",
        message,
    );
    // Only the v1 templates overlap.
    refuses(
        ENTRA_CORP,
        &entra_shadow(
            "\"99999999-2222-3333-4444-555555555555\"",
            "issuer_v1 = \"https://sts.windows.net/{tenantid}/\"\n",
        )
        .replace(
            "https://login.microsoftonline.com/{tenantid}/v2.0\"\nissuer_v1",
            "https://login.example.com/{tenantid}/v2.0\"\nissuer_v1",
        ),
        "upstreams[2].issuer",
        "upstreams \"entra-shadow\" and \"entra-corp\" can both claim issuer \
         \"https://sts.windows.net/99999999-2222-3333-4444-555555555555/\": a token's iss must \
         route to exactly one upstream (merge them, or give each its own issuer or tenants)",
    );
}

#[test]
fn entra_upstreams_on_distinct_templates_are_accepted() {
    let text = EXAMPLE.replacen(
        ENTRA_CORP,
        &entra_shadow(
            "\"99999999-2222-3333-4444-555555555555\"",
            "issuer_v1 = \"https://sts.example.net/{tenantid}/\"\n",
        )
        .replace(
            "https://login.microsoftonline.com/{tenantid}/v2.0\"\nissuer_v1",
            "https://login.example.com/{tenantid}/v2.0\"\nissuer_v1",
        ),
        1,
    );
    assert_eq!(parse(&text).validate(), Ok(()));
}

#[test]
fn refuses_serves_of_an_undeclared_or_already_served_resource() {
    let serving = |list: &str| format!("enforcement = \"enforce\"\nserves = [{list}]");
    refuses(
        "enforcement = \"enforce\"",
        &serving("\"https://nowhere.example.com\""),
        "agents[0].serves[0]",
        "\"https://nowhere.example.com\" is not a declared resource",
    );
    refuses(
        "enforcement = \"enforce\"",
        &serving("\"https://mcp-slack.example.com\", \"https://mcp-slack.example.com\""),
        "agents[0].serves[1]",
        "\"https://mcp-slack.example.com\" is already served by agent support-bot: a resource \
         has one downstream actor, named in its tokens' may_act",
    );
    refuses(
        "patterns = [\"workload\"]",
        "patterns = [\"workload\"]\nserves = [\"https://mcp-zendesk.example.com\"]",
        "agents[1].serves",
        "a downstream actor mints obo or hybrid tokens: add one of those patterns",
    );
}

#[test]
fn refuses_a_url_with_a_user_or_password() {
    refuses(
        "jwks_uri = \"https://kubernetes.default.svc.cluster.local/openid/v1/jwks\"",
        "jwks_uri = \"https://reader:hunter2@kubernetes.default.svc.cluster.local/openid/v1/jwks\"",
        "upstreams[2].jwks_uri",
        "\"https://kubernetes.default.svc.cluster.local/openid/v1/jwks\" must not carry a user or password",
    );
}
