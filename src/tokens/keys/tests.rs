use super::*;
use crate::tokens::keyring::KeyRing;

const T0: UnixTime = 1_800_000_000;
const HOUR: i64 = 3_600;

fn kids(v: &serde_json::Value) -> Vec<String> {
    v["keys"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|k| k["kid"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn state_follows_validity_times() {
    let mut k = SigningKey::generate(SigningAlg::Es256, T0, T0 + HOUR).unwrap();
    k.deactivates_at = Some(T0 + 10 * HOUR);
    let table = [
        (T0, KeyState::Next),
        (T0 + HOUR - 1, KeyState::Next),
        (T0 + HOUR, KeyState::Active),
        (T0 + 10 * HOUR - 1, KeyState::Active),
        (T0 + 10 * HOUR, KeyState::Retired),
        (T0 + 10 * HOUR + RETIRE_GRACE - 1, KeyState::Retired),
        (T0 + 10 * HOUR + RETIRE_GRACE, KeyState::Expired),
    ];
    for (now, want) in table {
        assert_eq!(k.state(now), want, "at +{}s", now - T0);
    }
}

#[test]
fn kid_is_the_rfc7638_thumbprint() {
    // RFC 7638 §3.1's example key and thumbprint.
    let jwk: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
    )
    .unwrap();
    assert_eq!(
        thumbprint(&jwk).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn every_algorithm_signs_and_verifies() {
    for alg in [SigningAlg::Es256, SigningAlg::EdDsa, SigningAlg::Rs256] {
        let k = SigningKey::generate(alg, T0, T0).unwrap();
        let sig = k.sign(b"header.payload").unwrap();
        assert!(k.verify(b"header.payload", &sig), "{alg:?}");
        assert!(!k.verify(b"header.payloaD", &sig), "{alg:?}");
        assert_eq!(k.public_jwk["alg"], alg.as_str());
        assert_eq!(k.public_jwk["kid"], k.kid.as_str());
        assert_eq!(k.public_jwk["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                k.public_jwk.get(private).is_none(),
                "{alg:?} JWKS leaks {private}"
            );
        }
    }
}

#[test]
fn debug_output_has_no_private_material() {
    let k = SigningKey::generate(SigningAlg::Es256, T0, T0).unwrap();
    let d = format!("{k:?}");
    let secret = k.private_jwk["d"].as_str().unwrap().to_string();
    assert!(!d.contains(&secret), "{d}");
    assert!(d.contains(&k.kid));
}

#[test]
fn generate_writes_mode_0600_and_refuses_a_live_folder() {
    let dir = tempfile::tempdir().unwrap();
    let k = generate_first(dir.path(), SigningAlg::Es256, T0).unwrap();
    let path = dir.path().join(format!("{}.json", k.kid));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let again = generate_first(dir.path(), SigningAlg::Es256, T0 + 5).unwrap_err();
    assert_eq!(
        again.to_string(),
        format!(
            "{} already holds key {} (active); use `agent-sts keys rotate` to replace it",
            dir.path().display(),
            k.kid
        )
    );
    let loaded = load_dir(dir.path()).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].kid, k.kid);
}

#[cfg(unix)]
#[test]
fn loading_refuses_a_key_file_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let k = generate_first(dir.path(), SigningAlg::Es256, T0).unwrap();
    let path = dir.path().join(format!("{}.json", k.kid));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = load_dir(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: is readable by others (mode 0644); run chmod 600 on it",
            path.display()
        )
    );
}

#[test]
fn loading_refuses_garbage_and_a_forged_kid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.json");
    write_private(&path, b"{not json").unwrap();
    let err = SigningKey::load(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: not a key file:", path.display())),
        "{err}"
    );

    let k = SigningKey::generate(SigningAlg::Es256, T0, T0).unwrap();
    let saved = k.save(dir.path()).unwrap();
    let text = std::fs::read_to_string(&saved)
        .unwrap()
        .replace(&k.kid, "forged-kid");
    write_private(&saved, text.as_bytes()).unwrap();
    let err = SigningKey::load(&saved).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: kid forged-kid is not the key's RFC 7638 thumbprint {}",
            saved.display(),
            k.kid
        )
    );
}

#[test]
fn rotation_publishes_before_signing_and_retires_after_grace() {
    let dir = tempfile::tempdir().unwrap();
    let old = generate_first(dir.path(), SigningAlg::Es256, T0).unwrap();
    let t_rotate = T0 + 24 * HOUR;
    let new = rotate(dir.path(), None, HOUR, t_rotate).unwrap();
    assert_eq!(new.activates_at, t_rotate + HOUR);
    let ring = KeyRing::new(load_dir(dir.path()).unwrap());

    // Published at once, but the old key still signs.
    assert_eq!(
        kids(&ring.jwks(t_rotate)),
        [old.kid.clone(), new.kid.clone()]
    );
    assert_eq!(ring.signer(t_rotate).unwrap().kid, old.kid);
    assert!(
        ring.verifier(&new.kid, t_rotate).is_none(),
        "next key must not verify yet"
    );

    // At the switch the new key signs; the old one still verifies.
    let t_switch = t_rotate + HOUR;
    assert_eq!(ring.signer(t_switch).unwrap().kid, new.kid);
    assert_eq!(
        kids(&ring.jwks(t_switch)),
        [new.kid.clone(), old.kid.clone()]
    );
    assert!(
        ring.verifier(&old.kid, t_switch + RETIRE_GRACE - 1)
            .is_some()
    );

    // Once every token it signed has expired, the old key is gone.
    let t_gone = t_switch + RETIRE_GRACE;
    assert_eq!(kids(&ring.jwks(t_gone)), vec![new.kid.clone()]);
    assert!(ring.verifier(&old.kid, t_gone).is_none());
    assert_eq!(ring.next_change(t_rotate), Some(t_switch));
}

#[test]
fn rotation_refuses_while_a_next_key_is_pending_or_nothing_is_active() {
    let dir = tempfile::tempdir().unwrap();
    let err = rotate(dir.path(), None, HOUR, T0).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{} has no active key; use `agent-sts keys generate`",
            dir.path().display()
        )
    );
    generate_first(dir.path(), SigningAlg::Es256, T0).unwrap();
    let next = rotate(dir.path(), Some(SigningAlg::EdDsa), HOUR, T0 + 10).unwrap();
    assert_eq!(next.alg, SigningAlg::EdDsa);
    let err = rotate(dir.path(), None, HOUR, T0 + 20)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "key {} is already scheduled to activate at {}; nothing to rotate until then",
            next.kid,
            T0 + 10 + HOUR
        )
    );
}
