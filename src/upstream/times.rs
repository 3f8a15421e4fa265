//! Times from a token's issuer (`exp`, `nbf`, `iat`): attacker-chosen
//! numbers, so every comparison is made against our clock with checked or
//! saturating arithmetic, and a number that is no NumericDate is refused.

use serde_json::{Map, Value};

use super::Refusal;
use crate::clock::UnixTime;
use crate::config::UpstreamConfig;
use crate::reason::Reason;

pub(super) fn claim_time(c: &Map<String, Value>, name: &str) -> Result<Option<UnixTime>, Refusal> {
    match c.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f.floor() as i64))
            .map(Some)
            .ok_or_else(|| {
                Refusal::new(Reason::MissingClaim, format!("{name} is not a NumericDate"))
            }),
    }
}

/// `exp` (required), `nbf`, `iat` with the upstream's skew, and max age.
/// Returns (`iat`, the issue time to hold revocations against, `exp`).
pub(super) fn check_times(
    config: &UpstreamConfig,
    c: &Map<String, Value>,
    now: UnixTime,
) -> Result<(Option<UnixTime>, UnixTime, UnixTime), Refusal> {
    let skew = config.clock_skew.as_secs() as i64;
    let max_age = config.max_token_age();
    let exp = claim_time(c, "exp")?
        .ok_or_else(|| Refusal::new(Reason::MissingClaim, "the token has no exp claim"))?;
    if now >= exp.saturating_add(skew) {
        return Err(Refusal::new(
            Reason::Expired,
            format!("the token expired {}s ago", now.saturating_sub(exp)),
        ));
    }
    if let Some(nbf) = claim_time(c, "nbf")?
        && now + skew < nbf
    {
        return Err(Refusal::new(
            Reason::NotYetValid,
            format!(
                "the token is not valid for another {}s",
                nbf.saturating_sub(now)
            ),
        ));
    }
    let iat = claim_time(c, "iat")?;
    let issued_by = match iat {
        Some(iat) if now + skew < iat => {
            return Err(Refusal::new(
                Reason::NotYetValid,
                format!(
                    "the token was issued {}s in the future",
                    iat.saturating_sub(now)
                ),
            ));
        }
        Some(iat) => iat,
        // Without `iat` the token is taken as issued as early as it could
        // have been, never as new: a revocation made since covers it.
        None => {
            let earliest = exp.saturating_sub(max_age.as_secs() as i64);
            if earliest > now + skew {
                return Err(Refusal::new(
                    Reason::MissingClaim,
                    format!(
                        "the token has no iat claim and expires more than max_token_age ({max_age}) from now: \
                         when it was issued cannot be bounded"
                    ),
                ));
            }
            earliest
        }
    };
    if now.saturating_sub(issued_by) > max_age.as_secs() as i64 {
        return Err(Refusal::new(
            Reason::TokenTooOld,
            format!(
                "the token was issued {}s ago; at most {max_age} is accepted",
                now.saturating_sub(issued_by)
            ),
        ));
    }
    Ok((iat, issued_by, exp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use proptest::prelude::*;

    const NOW: UnixTime = 1_800_000_000;

    fn config() -> UpstreamConfig {
        let text = "issuer = \"https://sts.example.com\"\n[storage]\ndatabase_url = \"sqlite://x\"\n\
                    [[upstreams]]\nname = \"u\"\nkind = \"oidc\"\nissuer = \"https://idp.example.com\"\n\
                    audiences = [\"a\"]\n";
        Config::parse(text, "t").unwrap().upstreams.remove(0)
    }

    fn check(v: Value) -> Result<(Option<UnixTime>, UnixTime, UnixTime), Reason> {
        check_times(&config(), v.as_object().unwrap(), NOW).map_err(|r| r.reason)
    }

    #[test]
    fn times_table() {
        use serde_json::json;
        let day = 86_400;
        assert_eq!(
            check(json!({"exp": NOW + 60, "iat": NOW - 10})),
            Ok((Some(NOW - 10), NOW - 10, NOW + 60))
        );
        // Without iat: issued as early as it could have been.
        assert_eq!(
            check(json!({"exp": NOW + 60})),
            Ok((None, NOW + 60 - day, NOW + 60))
        );
        for (claims, reason) in [
            (json!({}), Reason::MissingClaim),
            (json!({"exp": i64::MIN}), Reason::Expired),
            (json!({"exp": i64::MAX}), Reason::MissingClaim),
            (
                json!({"exp": NOW + 60, "iat": i64::MAX}),
                Reason::NotYetValid,
            ),
            (
                json!({"exp": NOW + 60, "iat": i64::MIN}),
                Reason::TokenTooOld,
            ),
            (
                json!({"exp": NOW + 60, "nbf": i64::MAX}),
                Reason::NotYetValid,
            ),
            (json!({"exp": "soon"}), Reason::MissingClaim),
            (json!({"exp": NOW + 2 * day}), Reason::MissingClaim),
        ] {
            let got = check(claims.clone());
            assert_eq!(got.map(|_| ()), Err(reason), "{claims}");
        }
    }

    fn any_time() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            prop::sample::select(vec![i64::MIN, i64::MAX, -1, 0, NOW, NOW + 61])
                .prop_map(Value::from),
            any::<f64>()
                .prop_filter("JSON numbers are finite", |f| f.is_finite())
                .prop_map(Value::from),
            prop::sample::select(vec![1e308, -1e308, 9.3e18, -9.3e18, 1e19]).prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
            Just(Value::Null),
            Just(Value::Bool(false)),
        ]
    }

    proptest! {
        /// Debug build: an overflow would panic. Every answer is a refusal
        /// with a reason code, or times inside the window we accept.
        #[test]
        fn extreme_times_are_answered_never_panic(exp in any_time(), nbf in any_time(), iat in any_time()) {
            let claims = serde_json::json!({"exp": exp, "nbf": nbf, "iat": iat});
            match check(claims) {
                Ok((_, issued_by, exp)) => {
                    prop_assert!(exp > NOW - 60 && issued_by <= NOW + 60 && NOW - issued_by <= 86_400);
                }
                Err(reason) => prop_assert!(matches!(
                    reason,
                    Reason::MissingClaim | Reason::Expired | Reason::NotYetValid | Reason::TokenTooOld
                )),
            }
        }
    }
}
