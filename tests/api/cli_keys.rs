//! `agent-sts keys` and `agent-sts clients`: files private to their owner,
//! and no private key material in any output.

use std::path::Path;

use serde_json::Value;

use crate::cli::run;
use crate::helpers::sha256_hex;

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The private members of every key file in `dir`.
fn private_values(dir: &Path) -> Vec<String> {
    let mut values = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let file: Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        let d = file["private_jwk"]["d"].as_str().expect("a private d");
        values.push(d.to_string());
    }
    values
}

#[test]
fn keys_generate_list_and_rotate() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let mut outputs = Vec::new();

    let out = run(cwd, &["keys", "generate", "--dir", "k"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let kid = out.stdout.split_whitespace().nth(3).unwrap().to_string();
    assert_eq!(
        out.stdout,
        format!("generated ES256 key {kid} in k (active now)\n")
    );
    let file = cwd.join("k").join(format!("{kid}.json"));
    assert_eq!(mode(&file), 0o600, "private key file mode");
    assert_eq!(mode(&cwd.join("k")), 0o700, "key folder mode");
    outputs.push(out);

    let out = run(cwd, &["keys", "generate", "--dir", "k"]);
    assert!(
        out.one_error_line()
            .starts_with(&format!("error: k already holds key {kid} (active)")),
        "{}",
        out.stderr
    );
    outputs.push(out);

    let out = run(cwd, &["keys", "list", "--dir", "k"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 1, "{}", out.stdout);
    assert_eq!(rows[0][..3], [kid.as_str(), "ES256", "active"]);
    outputs.push(run(cwd, &["keys", "list", "--dir", "k"]));

    let out = run(cwd, &["keys", "rotate", "--dir", "k", "--alg", "EdDSA"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.starts_with("published EdDSA key "),
        "{}",
        out.stdout
    );
    let next = out.stdout.split_whitespace().nth(3).unwrap();
    let next = next.trim_end_matches(';').to_string();
    outputs.push(out);

    let out = run(cwd, &["keys", "list", "--dir", "k"]);
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{}", out.stdout);
    assert_eq!(rows[0][..3], [kid.as_str(), "ES256", "active"]);
    assert_eq!(rows[1][..3], [next.as_str(), "EdDSA", "next"]);
    assert_eq!(mode(&cwd.join("k").join(format!("{next}.json"))), 0o600);
    outputs.push(out);

    let secrets = private_values(&cwd.join("k"));
    assert_eq!(secrets.len(), 2);
    for out in &outputs {
        for d in &secrets {
            assert!(
                !out.stdout.contains(d.as_str()),
                "stdout leaks a private key"
            );
            assert!(
                !out.stderr.contains(d.as_str()),
                "stderr leaks a private key"
            );
        }
    }
}

#[test]
fn clients_new_secret_prints_the_secret_and_its_sha256() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["clients", "new-secret"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    let secret = lines[0]
        .strip_prefix("client secret (give it to the client; it is not stored): ")
        .unwrap();
    assert_eq!(secret.len(), 43, "256 bits, base64url without padding");
    let hash = lines[1]
        .strip_prefix("configure:  secret_sha256 = \"")
        .and_then(|s| s.strip_suffix('"'))
        .unwrap();
    assert_eq!(hash, sha256_hex(secret.as_bytes()));
    let again = run(tmp.path(), &["clients", "new-secret"]);
    assert_ne!(again.stdout, out.stdout, "a new secret each time");
}
