//! TLS fixtures made at test time with `rcgen` (no committed keys, nothing
//! that expires): a CA, a server certificate for `localhost`, `127.0.0.1`
//! and `::1`, a server certificate without the IPs (host name mismatch),
//! a client certificate, a second, unrelated CA, and one PEM file holding
//! the CA, the client certificate and its key. Written into a fresh temp
//! dir, removed on drop.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The certificate files of one test.
pub struct TlsFixture {
    dir: PathBuf,
}

fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("CA cert");
    (cert.pem(), Issuer::new(params, key))
}

/// A leaf certificate and its key (PEM), signed by `issuer`.
fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    cn: &str,
    sans: &[&str],
    eku: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = KeyPair::generate().expect("leaf key");
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![eku];
    let cert = params.signed_by(&key, issuer).expect("leaf cert");
    (cert.pem(), key.serialize_pem())
}

impl TlsFixture {
    /// Generates every certificate and writes the files.
    pub fn new() -> TlsFixture {
        let dir = super::fresh_temp_dir();
        let write = |name: &str, text: &str| {
            fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"));
        };
        let (ca_pem, issuer) = ca("nats-actix test CA");
        let (other_pem, _other) = ca("nats-actix other CA");
        let server_auth = ExtendedKeyUsagePurpose::ServerAuth;
        let (server, server_key) = leaf(
            &issuer,
            "server",
            &["localhost", "127.0.0.1", "::1"],
            server_auth.clone(),
        );
        let (noip, noip_key) = leaf(&issuer, "server-noip", &["localhost"], server_auth);
        let (client, client_key) =
            leaf(&issuer, "client", &[], ExtendedKeyUsagePurpose::ClientAuth);
        write("ca.pem", &ca_pem);
        write("other-ca.pem", &other_pem);
        write("server-cert.pem", &server);
        write("server-key.pem", &server_key);
        write("server-noip-cert.pem", &noip);
        write("server-noip-key.pem", &noip_key);
        write("client-cert.pem", &client);
        write("client-key.pem", &client_key);
        // The CA first: the client finds its certificate by the key.
        write("client-all.pem", &format!("{ca_pem}{client}{client_key}"));
        TlsFixture { dir }
    }

    /// The directory of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of one file (`ca.pem`, `client-cert.pem`, ...).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    pub fn other_ca(&self) -> PathBuf {
        self.path("other-ca.pem")
    }

    pub fn client_cert(&self) -> PathBuf {
        self.path("client-cert.pem")
    }

    pub fn client_key(&self) -> PathBuf {
        self.path("client-key.pem")
    }

    /// CA, client certificate and key in one PEM.
    pub fn client_all(&self) -> PathBuf {
        self.path("client-all.pem")
    }

    /// A server `tls { }` block with the full certificate (`localhost`,
    /// `127.0.0.1`, `::1`); `verify` asks for client certificates; `more`
    /// is added inside the block (e.g. `handshake_first: true`).
    pub fn server_conf(&self, verify: bool, more: &str) -> String {
        self.conf("server-cert.pem", "server-key.pem", verify, more)
    }

    /// Like [`server_conf`](Self::server_conf) with the certificate for
    /// `localhost` only (an IP does not match it).
    pub fn server_conf_noip(&self) -> String {
        self.conf("server-noip-cert.pem", "server-noip-key.pem", false, "")
    }

    fn conf(&self, cert: &str, key: &str, verify: bool, more: &str) -> String {
        let q = |name: &str| super::quote(&self.path(name).to_string_lossy());
        format!(
            "tls {{\n  cert_file: {}\n  key_file: {}\n  ca_file: {}\n  verify: {verify}\n  \
             timeout: 2\n  {more}\n}}\n",
            q(cert),
            q(key),
            q("ca.pem"),
        )
    }
}

impl Default for TlsFixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TlsFixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
