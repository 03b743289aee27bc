//! A small JWT minter for tests (testing.md §5.5): operator → account →
//! user, ed25519-signed as the NATS JWT v2 format says, keys made at test
//! time with the `nkeys` crate. Nothing is committed.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use nkeys::KeyPair;
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Encodes and signs `claims` with `signer` (v2: the signature covers
/// `header.claims`).
pub fn encode(claims: &Value, signer: &KeyPair) -> String {
    static JTI: AtomicU64 = AtomicU64::new(1);
    let mut claims = claims.clone();
    claims["jti"] = json!(format!("jti{}", JTI.fetch_add(1, Ordering::Relaxed)));
    claims["iat"] = json!(now());
    claims["iss"] = json!(signer.public_key());
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = b64(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{body}");
    let sig = signer.sign(signing_input.as_bytes()).expect("sign");
    format!("{signing_input}.{}", b64(&sig))
}

/// An operator, one account under it, and a way to mint users.
pub struct Operator {
    pub operator: KeyPair,
    pub account: KeyPair,
    pub operator_jwt: String,
    pub account_jwt: String,
}

impl Operator {
    pub fn new() -> Operator {
        let operator = KeyPair::new_operator();
        let account = KeyPair::new_account();
        let operator_jwt = encode(
            &json!({"sub": operator.public_key(), "name": "test-op",
                    "nats": {"type": "operator", "version": 2}}),
            &operator,
        );
        let account_jwt = encode(
            &json!({"sub": account.public_key(), "name": "test-acc",
                    "nats": {"type": "account", "version": 2,
                             "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1,
                                        "exports": -1, "wildcards": true, "conn": -1, "leaf": -1}}}),
            &operator,
        );
        Operator {
            operator,
            account,
            operator_jwt,
            account_jwt,
        }
    }

    /// The server configuration of operator mode with a MEMORY resolver.
    pub fn server_config(&self) -> String {
        format!(
            "operator: {}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {}\n}}\n",
            self.operator_jwt,
            self.account.public_key(),
            self.account_jwt
        )
    }

    /// A user JWT for `user`, expiring `exp_in_secs` from now if given.
    pub fn user_jwt(&self, user: &KeyPair, exp_in_secs: Option<u64>) -> String {
        let mut claims = json!({"sub": user.public_key(), "name": "test-user",
            "nats": {"type": "user", "version": 2, "pub": {}, "sub": {},
                     "subs": -1, "data": -1, "payload": -1}});
        if let Some(s) = exp_in_secs {
            claims["exp"] = json!(now() + s);
        }
        encode(&claims, &self.account)
    }

    /// The decorated creds text for `user`.
    pub fn creds(&self, user: &KeyPair) -> String {
        creds_text(&self.user_jwt(user, None), &user.seed().expect("seed"))
    }
}

impl Default for Operator {
    fn default() -> Self {
        Operator::new()
    }
}

/// The decorated creds format `nsc` writes.
pub fn creds_text(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}
