//! TLS: the rustls client configuration built from the options, and the
//! upgrade of a stream. This is the only file of the crate that imports
//! rustls (and tokio-rustls).
//!
//! The configuration is built once per connect attempt, from
//! [`TlsOptions`]: the CA (PEM bytes and/or a
//! PEM file), the client certificate chain and its private key (PEM bytes
//! or files; one PEM file holding the CA, the certificate and the key
//! works for all three), or a [`ClientConfig`] given whole for full
//! control. Files are read again at every attempt, so certificates
//! rotated on disk are picked up at the next reconnect.
//!
//! Without a CA, the server is verified against the **system roots**,
//! loaded with `rustls-native-certs` rather than compiled in with
//! `webpki-roots`: a NATS deployment usually runs its own CA, which
//! administrators add to the system store (the system store also honours
//! `SSL_CERT_FILE`/`SSL_CERT_DIR`), the roots follow the OS updates instead
//! of the crate's release date, and that is what nats.go does (Go's system
//! pool). The crypto provider is rustls' `ring`, as in `Cargo.toml`.
//!
//! The module re-exports [`ClientConfig`] (and the [`rustls`] crate) so an
//! application can build a configuration with the same rustls version as
//! the client's.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use nats_actix::ConnectOptions;
//! use nats_actix::tls::{ClientConfig, rustls};
//!
//! // Full control: any rustls configuration (here, the system roots).
//! let mut roots = rustls::RootCertStore::empty();
//! roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
//! let provider = Arc::new(rustls::crypto::ring::default_provider());
//! let config = ClientConfig::builder_with_provider(provider)
//!     .with_safe_default_protocol_versions()?
//!     .with_root_certificates(roots)
//!     .with_no_client_auth();
//! let opts = ConnectOptions::new()
//!     .server("tls://demo.nats.io")
//!     .tls_client_config(Arc::new(config));
//! assert!(opts.validate().is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;
use std::sync::Arc;

pub use rustls;
pub use rustls::ClientConfig;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
pub(crate) use tokio_rustls::client::TlsStream;

use crate::options::TlsOptions;
use crate::{Error, ErrorKind};

fn tls_error(msg: impl Into<String>) -> Error {
    Error::with_source(ErrorKind::Tls, msg.into())
}

/// PEM text from bytes given in the options, or from a file read now.
fn read_pem(what: &str, bytes: Option<&[u8]>, file: Option<&Path>) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = Vec::new();
    if let Some(b) = bytes {
        out.push(b.to_vec());
    }
    if let Some(path) = file {
        match std::fs::read(path) {
            Ok(b) => out.push(b),
            Err(e) => {
                return Err(tls_error(format!(
                    "cannot read the TLS {what} file {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Ok(out)
}

fn source_name(what: &str, file: Option<&Path>) -> String {
    match file {
        Some(p) => format!("the TLS {what} ({})", p.display()),
        None => format!("the TLS {what}"),
    }
}

/// Every certificate of a PEM text; at least one.
fn certificates(pem: &[u8], name: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(format!("bad PEM in {name}: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error(format!("no CERTIFICATE found in {name}")));
    }
    Ok(certs)
}

/// The trust anchors: the given CA, or the system roots.
fn roots(opts: &TlsOptions) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    let pems = read_pem("CA", opts.ca.as_deref(), opts.ca_file.as_deref())?;
    if pems.is_empty() {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::debug!(error = %e, "loading a system root certificate failed");
        }
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(tls_error(
                "no system root certificates found; give the server's CA with the tls \
                 ca or ca_file option",
            ));
        }
        return Ok(roots);
    }
    let name = source_name("CA", opts.ca_file.as_deref());
    for pem in pems {
        for cert in certificates(&pem, &name)? {
            roots
                .add(cert)
                .map_err(|e| tls_error(format!("bad certificate in {name}: {e}")))?;
        }
    }
    Ok(roots)
}

/// The client certificate chain (leaf first) and its key, when given.
fn client_auth(
    opts: &TlsOptions,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, Error> {
    let cert_pems = read_pem(
        "certificate",
        opts.cert.as_deref(),
        opts.cert_file.as_deref(),
    )?;
    let key_pems = read_pem(
        "key",
        opts.key.as_ref().map(|k| k.as_slice()),
        opts.key_file.as_deref(),
    )?;
    match (cert_pems.first(), key_pems.first()) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(tls_error(
            "a TLS client certificate was given without its private key",
        )),
        (None, Some(_)) => Err(tls_error(
            "a TLS client key was given without its certificate",
        )),
        (Some(cert_pem), Some(key_pem)) => {
            let cert_name = source_name("certificate", opts.cert_file.as_deref());
            let key_name = source_name("key", opts.key_file.as_deref());
            let mut chain = certificates(cert_pem, &cert_name)?;
            let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    tls_error(format!("no PRIVATE KEY found in {key_name}"))
                }
                e => tls_error(format!("bad PEM in {key_name}: {e}")),
            })?;
            leaf_first(&mut chain, &key, &key_name)?;
            Ok(Some((chain, key)))
        }
    }
}

/// Moves the certificate that matches `key` to the front of the chain: a
/// single PEM may list the CA before the client certificate.
fn leaf_first(
    chain: &mut Vec<CertificateDer<'static>>,
    key: &PrivateKeyDer<'static>,
    key_name: &str,
) -> Result<(), Error> {
    let signer = rustls::crypto::ring::sign::any_supported_type(key)
        .map_err(|e| tls_error(format!("unusable private key in {key_name}: {e}")))?;
    let matching = chain.iter().position(|cert| {
        CertifiedKey::new(vec![cert.clone()], signer.clone())
            .keys_match()
            .is_ok()
    });
    if let Some(i) = matching {
        let leaf = chain.remove(i);
        chain.insert(0, leaf);
    }
    Ok(())
}

/// Builds the rustls configuration of one connect attempt (files are read
/// now), or returns the one the user gave.
pub(crate) fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, Error> {
    if let Some(config) = &opts.client_config {
        return Ok(config.clone());
    }
    let roots = roots(opts)?;
    let auth = client_auth(opts)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(format!("TLS setup: {e}")))?
        .with_root_certificates(roots);
    let config = match auth {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls_error(format!("the TLS client certificate and key: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Runs the TLS handshake over `stream`, verifying the server's
/// certificate against `name` (a DNS name, or an IP address checked as an
/// IP SAN).
pub(crate) async fn upgrade<S>(
    stream: S,
    config: Arc<ClientConfig>,
    name: &str,
) -> Result<TlsStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let server_name = ServerName::try_from(name.to_string())
        .map_err(|e| tls_error(format!("invalid TLS server name '{name}': {e}")))?;
    TlsConnector::from(config)
        .connect(server_name, stream)
        .await
        .map_err(|e| {
            Error::with_source(
                ErrorKind::Tls,
                format!("TLS handshake with '{name}' failed: {e}"),
            )
        })
}

/// An IO error of a TLS stream: rustls errors (a fatal alert from the
/// server, a bad record) become [`ErrorKind::Tls`], the rest stays IO.
pub(crate) fn io_error(e: std::io::Error) -> Error {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return Error::from(e);
    };
    use rustls::AlertDescription as A;
    let hint = match tls {
        rustls::Error::AlertReceived(A::CertificateRequired | A::BadCertificate) => {
            " (the server wants a client certificate it trusts: see the tls cert and key options)"
        }
        rustls::Error::AlertReceived(A::UnknownCA) => {
            " (the server does not trust the CA of the client certificate)"
        }
        _ => "",
    };
    Error::with_source(
        ErrorKind::Tls,
        format!("the TLS session failed: {tls}{hint}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_file_is_a_tls_error() {
        let opts = TlsOptions::new().ca_file("/nonexistent/ca.pem");
        let err = client_config(&opts).expect_err("no file");
        assert_eq!(err.kind(), ErrorKind::Tls);
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn bad_pem_is_a_tls_error() {
        let opts = TlsOptions::new().ca(b"not a pem".to_vec());
        let err = client_config(&opts).expect_err("no certificate");
        assert_eq!(err.kind(), ErrorKind::Tls);
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");

        let broken = b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        let err = client_config(&TlsOptions::new().ca(broken.to_vec())).expect_err("bad");
        assert_eq!(err.kind(), ErrorKind::Tls);
        assert!(err.to_string().contains("bad PEM"), "{err}");
    }

    #[test]
    fn io_errors_keep_their_kind() {
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(io_error(plain).kind(), ErrorKind::Io);
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::BadCertificate),
        );
        let err = io_error(tls);
        assert_eq!(err.kind(), ErrorKind::Tls);
        assert!(err.to_string().contains("client certificate"), "{err}");
    }
}
