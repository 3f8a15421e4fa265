//! The real binary: exit codes, and bad input answered with exactly one
//! line that says what and where. Every run is killed after a deadline.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent_sts::tokens::keys::SigningAlg;

pub const BIN: &str = env!("CARGO_BIN_EXE_agent-sts");
const EXAMPLE: &str = include_str!("../../examples/agent-sts.toml");
const DEADLINE: Duration = Duration::from_secs(30);

pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Exit 1 and exactly one line on stderr; returns it.
    #[track_caller]
    pub fn one_error_line(&self) -> &str {
        assert_eq!(self.code, Some(1), "exit code; stderr: {}", self.stderr);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "exactly one stderr line, got: {:?}",
            self.stderr
        );
        lines[0]
    }
}

/// Run the binary in `cwd` with no stdin and no database/redis overrides
/// from the caller's environment; kill it after `DEADLINE`.
pub fn run(cwd: &Path, args: &[&str]) -> Out {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("AGENT_STS_DATABASE_URL")
        .env_remove("AGENT_STS_REDIS_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn agent-sts");
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            pipe.read_to_string(&mut s).expect("read output");
            s
        })
    };
    let stdout = reader(Box::new(child.stdout.take().unwrap()));
    let stderr = reader(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("agent-sts {args:?} did not exit within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Out {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The example with `from` (which must occur once) replaced by `to`.
fn edited_example(from: &str, to: &str) -> String {
    assert_eq!(EXAMPLE.matches(from).count(), 1, "edit target {from:?}");
    EXAMPLE.replacen(from, to, 1)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A `serve` config on 127.0.0.1:0 with SQLite in `dir` and `keys_dir`.
fn serve_config(dir: &Path, database_url: &str, keys_dir: &Path) -> PathBuf {
    let text = format!(
        "issuer = \"http://127.0.0.1:9\"\nlisten = \"127.0.0.1:0\"\n\
         [storage]\ndatabase_url = \"{database_url}\"\n[keys]\ndir = \"{}\"\n",
        keys_dir.display()
    );
    write(dir, "serve.toml", &text)
}

#[test]
fn an_unknown_flag_is_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["--frobnicate"]);
    assert_eq!(out.code, Some(2));
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{:?}", out.stderr);
    assert!(
        lines[0].starts_with("error: unexpected argument '--frobnicate'"),
        "{}",
        lines[0]
    );
    assert_eq!(out.stdout, "");

    let out = run(tmp.path(), &["keys", "generate", "--alg", "HS256"]);
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stderr.lines().count(), 1, "{:?}", out.stderr);
}

#[test]
fn help_says_what_each_command_does() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 7] = [
        (&["start-dev", "--help"], "Serve on 127.0.0.1 with SQLite"),
        (&["serve", "--help"], "Serve with a configuration file"),
        (&["check", "--help"], "Validate a configuration file"),
        (
            &["keys", "generate", "--help"],
            "Create the first signing key",
        ),
        (&["keys", "list", "--help"], "List the keys of a folder"),
        (&["keys", "rotate", "--help"], "Publish a new key now"),
        (
            &["clients", "new-secret", "--help"],
            "Print a new 256-bit client secret",
        ),
    ];
    for (args, says) in cases {
        let out = run(tmp.path(), args);
        assert_eq!(out.code, Some(0), "{args:?}");
        assert!(out.stdout.contains(says), "{args:?}: {}", out.stdout);
    }
}

#[test]
fn check_passes_the_annotated_example() {
    let tmp = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/agent-sts.toml");
    let example = example.to_str().unwrap();
    let out = run(tmp.path(), &["check", "--config", example]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.starts_with("ok: "), "{}", out.stdout);
    assert_eq!(
        out.stdout.lines().next().unwrap(),
        format!("ok: {example}: 3 upstream(s), 3 resource(s), 2 agent(s)")
    );
    assert_eq!(out.stderr, "");
}

/// Each refusal: exit 1 and one line naming the file, the field and the problem.
#[test]
fn check_refuses_bad_configs_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let storage_line = EXAMPLE.lines().position(|l| l == "[storage]").unwrap() + 1;
    let cases = [
        (
            "unknown-field.toml",
            edited_example("[storage]\n", "[storage]\ndatabse_url = \"sqlite://x.db\"\n"),
            format!(
                ":{}: storage.databse_url: unknown field `databse_url`, expected `database_url` or `redis_url`",
                storage_line + 1
            ),
        ),
        (
            "dev-mode.toml",
            format!("dev_mode = true\n{EXAMPLE}"),
            ":1: dev_mode: unknown field `dev_mode`, expected one of `issuer`, `listen`, `storage`, \
             `keys`, `upstreams`, `resources`, `agents`, `scope_groups`, `token_exchange`, `introspectors`, `revocation`, `authorization`, `id_jag`, `break_glass`, `admin`, `audit`, `server`, `outbound`, `rate_limits`"
                .to_string(),
        ),
        (
            "duplicate-agent.toml",
            edited_example(
                "id = \"nightly-digest\"\ndescription",
                "id = \"support-bot\"\ndescription",
            ),
            ": agents[1].id: \"support-bot\" is already the id of another agent".to_string(),
        ),
        (
            "undeclared-scope.toml",
            edited_example(
                r#"optional_scopes = ["slack:channels:read"]"#,
                r#"optional_scopes = ["slack:channels:read", "jira:issues:read"]"#,
            ),
            ": agents[0].optional_scopes[1]: \"jira:issues:read\" is declared by no resource"
                .to_string(),
        ),
        (
            "wildcard.toml",
            edited_example(
                r#"required_scopes = ["zendesk:tickets:read"]"#,
                r#"required_scopes = ["zendesk:*"]"#,
            ),
            ": agents[1].required_scopes[0]: \"zendesk:*\" is a wildcard; declare the exact scopes"
                .to_string(),
        ),
        (
            "overlapping-issuer.toml",
            edited_example(
                "[[upstreams]]\nname = \"k8s\"",
                "[[upstreams]]\nname = \"okta-shadow\"\nkind = \"okta\"\nuse = \"workload\"\n\
                 issuer = \"https://example.okta.com/oauth2/default\"\naudiences = [\"agent-sts\"]\n\n\
                 [[upstreams]]\nname = \"k8s\"",
            ),
            ": upstreams[2].issuer: upstreams \"okta-prod\" and \"okta-shadow\" can both claim issuer \
             \"https://example.okta.com/oauth2/default\": a token's iss must route to exactly one upstream \
             (merge them, or give each its own issuer or tenants)"
                .to_string(),
        ),
    ];
    for (name, text, expected) in cases {
        let file = write(tmp.path(), name, &text);
        let out = run(tmp.path(), &["check", "--config", file.to_str().unwrap()]);
        let line = out.one_error_line();
        assert_eq!(
            line,
            format!("error: {}{expected}", file.display()),
            "{name}"
        );
        assert_eq!(out.stdout, "", "{name}");
    }
}

#[test]
fn check_of_a_missing_file_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["check", "--config", "nowhere.toml"]);
    let line = out.one_error_line();
    assert!(
        line.starts_with("error: nowhere.toml: cannot read: "),
        "{line}"
    );
}

#[test]
fn serve_refuses_a_garbage_key_file() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let bad = write(&keys, "garbage.json", "this is not a key");
    set_mode(&bad, 0o600);
    let db = format!("sqlite://{}/sts.db?mode=rwc", tmp.path().display());
    let config = serve_config(tmp.path(), &db, &keys);
    let out = run(tmp.path(), &["serve", "--config", config.to_str().unwrap()]);
    let line = out.one_error_line();
    let expected = format!("error: {}: not a key file: ", bad.display());
    assert!(line.starts_with(&expected), "{line}");
}

#[test]
fn serve_refuses_an_unreadable_key_file() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    // A dangling link: the name is there, the file cannot be read (a mode
    // of 000 would not do: tests may run as root).
    let bad = keys.join("gone.json");
    std::os::unix::fs::symlink(tmp.path().join("nowhere"), &bad).unwrap();
    let db = format!("sqlite://{}/sts.db?mode=rwc", tmp.path().display());
    let config = serve_config(tmp.path(), &db, &keys);
    let out = run(tmp.path(), &["serve", "--config", config.to_str().unwrap()]);
    let line = out.one_error_line();
    let expected = format!("error: {}: cannot read: ", bad.display());
    assert!(line.starts_with(&expected), "{line}");
}

#[test]
fn serve_refuses_a_key_file_others_can_read() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let key = agent_sts::tokens::keys::generate_first(&keys, SigningAlg::Es256, 0);
    let kid = key.map(|k| k.kid).unwrap_or_else(|e| panic!("{e}"));
    let file = keys.join(format!("{kid}.json"));
    set_mode(&file, 0o644);
    let db = format!("sqlite://{}/sts.db?mode=rwc", tmp.path().display());
    let config = serve_config(tmp.path(), &db, &keys);
    let out = run(tmp.path(), &["serve", "--config", config.to_str().unwrap()]);
    let line = out.one_error_line();
    let expected = format!(
        "error: {}: is readable by others (mode 0644); run chmod 600 on it",
        file.display()
    );
    assert!(line.starts_with(&expected), "{line}");
}

#[test]
fn serve_refuses_an_empty_key_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let db = format!("sqlite://{}/sts.db?mode=rwc", tmp.path().display());
    let config = serve_config(tmp.path(), &db, &keys);
    let out = run(tmp.path(), &["serve", "--config", config.to_str().unwrap()]);
    let k = keys.display();
    assert_eq!(
        out.one_error_line(),
        format!(
            "error: {k}: no active signing key (create one with `agent-sts keys generate --dir {k}`)"
        )
    );
}

#[test]
fn serve_refuses_an_unreachable_database() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    agent_sts::tokens::keys::generate_first(&keys, SigningAlg::Es256, now - 10).unwrap();
    let config = serve_config(tmp.path(), "postgres://postgres@127.0.0.1:1/nope", &keys);
    let out = run(tmp.path(), &["serve", "--config", config.to_str().unwrap()]);
    let line = out.one_error_line();
    assert!(
        line.starts_with("error: cannot connect to postgres://127.0.0.1:1/nope: "),
        "{line}"
    );
}

#[test]
fn start_dev_refuses_a_non_loopback_address() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(
        tmp.path(),
        &["start-dev", "--bind", "0.0.0.0", "--port", "0"],
    );
    assert_eq!(
        out.one_error_line(),
        "error: start-dev serves only on a loopback address (127.0.0.1 or ::1), not 0.0.0.0; \
         use `agent-sts serve --config FILE`"
    );
    assert_eq!(out.stdout, "");
    assert!(!tmp.path().join("keys").exists(), "nothing is created");
}
