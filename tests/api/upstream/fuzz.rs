//! A mutation fuzz: random bytes and mutated real tokens through the whole
//! verifier. Nothing may panic and nothing mutated may verify.

use super::*;

/// xorshift64*: deterministic, so a failure names a reproducible seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    const ALPHABET: &[u8] = b"ABCxyz019-_.=+/!{}\"\0\xff";
    match rng.below(6) {
        0 => {
            let i = rng.below(bytes.len());
            bytes[i] = ALPHABET[rng.below(ALPHABET.len())];
        }
        1 => bytes.truncate(rng.below(bytes.len())),
        2 => {
            let i = rng.below(bytes.len());
            bytes.insert(i, ALPHABET[rng.below(ALPHABET.len())]);
        }
        3 => {
            let i = rng.below(bytes.len());
            bytes.remove(i);
        }
        4 => {
            let parts: Vec<&str> = token.split('.').collect();
            let (a, b) = (rng.below(parts.len()), rng.below(parts.len()));
            let mut p = parts.clone();
            p.swap(a, b);
            if a == b {
                p.push(parts[a]);
            }
            return p.join(".");
        }
        _ => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn random_and_mutated_tokens_never_panic_and_never_verify() {
    let okta = FakeOkta::start().await;
    let entra = FakeEntra::start(&[TENANT]).await;
    let reg = registry(&format!(
        "{}{}",
        okta_block(&okta, ""),
        entra_block(&entra, "")
    ));
    let seeds = [
        okta.access_token("a@example.com").mint(),
        okta.id_token("a@example.com").mint(),
        entra.access_token_v2(TENANT, "a@contoso.com").mint(),
        entra.access_token_v1(TENANT, "a@contoso.com").mint(),
    ];
    for s in &seeds {
        verified(&reg, s).await;
    }
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut refused_count = 0;
    for i in 0..3_000 {
        let candidate = if i % 10 == 0 {
            let len = rng.below(600);
            (0..len)
                .map(|_| (rng.next() & 0x7f) as u8 as char)
                .collect()
        } else {
            mutate(&mut rng, &seeds[i % seeds.len()])
        };
        if seeds.contains(&candidate) {
            continue;
        }
        match reg.verify(&candidate).await {
            Err(_) => refused_count += 1,
            Ok(_) => panic!("iteration {i}: a mutated token verified"),
        }
    }
    assert!(refused_count > 2_500, "only {refused_count} refusals");
}
