//! [`TlsOptions`]: the CA, the client certificate and key, `handshake_first`.

use super::*;

/// TLS options, after nats.deno's `TlsOptions` table: the CA to trust,
/// the client certificate and its key (each as PEM bytes or a PEM file),
/// and `handshake_first`. Give them with [`ConnectOptions::tls`]; any of
/// them (even none: an empty `TlsOptions`) makes TLS required.
///
/// | option | default | |
/// |---|---|---|
/// | `ca` / `ca_file` | none: the system roots | CA certificates (PEM); both may be given |
/// | `cert` / `cert_file` | none | the client certificate chain (PEM) |
/// | `key` / `key_file` | none | the client certificate's private key (PEM) |
/// | `handshake_first` | false | TLS before the server's `INFO` (server ≥ 2.10) |
///
/// Files are read at every connect attempt, so certificates rotated on
/// disk are used at the next reconnect. One PEM file holding the CA, the
/// certificate and the key may be given for all three. For anything else,
/// give a whole rustls configuration with
/// [`ConnectOptions::tls_client_config`]. `Debug` redacts the key.
///
/// # Examples
///
/// ```
/// use nats_actix::ConnectOptions;
/// use nats_actix::options::TlsOptions;
///
/// let tls = TlsOptions::new()
///     .ca_file("/etc/nats/ca.pem")
///     .cert_file("/etc/nats/client.pem")
///     .key_file("/etc/nats/client.pem");
/// let opts = ConnectOptions::new().server("nats.example:4222").tls(tls);
/// assert!(opts.validate().is_ok());
///
/// // A certificate without its key cannot work.
/// let bad = ConnectOptions::new().tls(TlsOptions::new().cert_file("/etc/nats/client.pem"));
/// assert!(bad.validate().is_err());
/// ```
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// Any TLS option was given: TLS is required.
    pub(crate) set: bool,
    pub(crate) ca: Option<Vec<u8>>,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) cert: Option<Vec<u8>>,
    pub(crate) cert_file: Option<PathBuf>,
    pub(crate) key: Option<zeroize::Zeroizing<Vec<u8>>>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) handshake_first: bool,
    pub(crate) client_config: Option<Arc<crate::tls::ClientConfig>>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("set", &self.set)
            .field("ca", &self.ca.as_ref().map(|c| c.len()))
            .field("ca_file", &self.ca_file)
            .field("cert", &self.cert.as_ref().map(|c| c.len()))
            .field("cert_file", &self.cert_file)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("key_file", &self.key_file)
            .field("handshake_first", &self.handshake_first)
            .field(
                "client_config",
                &self.client_config.as_ref().map(|_| "<rustls>"),
            )
            .finish()
    }
}

impl TlsOptions {
    /// No TLS option yet (the system roots, no client certificate); given
    /// to [`ConnectOptions::tls`], it still requires TLS.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::ConnectOptions;
    /// use nats_actix::options::TlsOptions;
    /// let opts = ConnectOptions::new().server("tls://demo.nats.io").tls(TlsOptions::new());
    /// assert!(opts.validate().is_ok());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// CA certificates to trust, as PEM text (nats.deno `ca`).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::TlsOptions;
    /// let pem = b"-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n";
    /// let tls = TlsOptions::new().ca(pem.to_vec());
    /// # let _ = tls;
    /// ```
    pub fn ca(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(pem.into());
        self
    }

    /// A PEM file of CA certificates to trust (nats.deno `caFile`).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::TlsOptions;
    /// let tls = TlsOptions::new().ca_file("/etc/nats/ca.pem");
    /// # let _ = tls;
    /// ```
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// The client certificate chain as PEM text, leaf first or with the
    /// leaf found by its key (nats.deno `cert`). Needs a key.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::TlsOptions;
    /// # let (cert_pem, key_pem) = (String::new(), String::new());
    /// let tls = TlsOptions::new().cert(cert_pem).key(key_pem);
    /// # let _ = tls;
    /// ```
    pub fn cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.cert = Some(pem.into());
        self
    }

    /// A PEM file with the client certificate chain (nats.deno
    /// `certFile`). Needs a key.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::TlsOptions;
    /// let tls = TlsOptions::new()
    ///     .cert_file("/etc/nats/client-cert.pem")
    ///     .key_file("/etc/nats/client-key.pem");
    /// # let _ = tls;
    /// ```
    pub fn cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cert_file = Some(path.into());
        self
    }

    /// The client certificate's private key as PEM text (PKCS#8, PKCS#1
    /// or SEC1; nats.deno `key`).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::TlsOptions;
    /// # let (cert_pem, key_pem) = (String::new(), String::new());
    /// let tls = TlsOptions::new().cert(cert_pem).key(key_pem);
    /// # let _ = tls;
    /// ```
    pub fn key(mut self, pem: impl Into<Vec<u8>>) -> Self {
        // Zeroed when the options are dropped.
        self.key = Some(zeroize::Zeroizing::new(pem.into()));
        self
    }

    /// A PEM file with the client certificate's private key (nats.deno
    /// `keyFile`).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::TlsOptions;
    /// // One PEM file with the CA, the certificate and the key.
    /// let tls = TlsOptions::new()
    ///     .ca_file("/etc/nats/all.pem")
    ///     .cert_file("/etc/nats/all.pem")
    ///     .key_file("/etc/nats/all.pem");
    /// # let _ = tls;
    /// ```
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// Starts TLS before the server's `INFO` (nats.deno `handshakeFirst`),
    /// for servers (2.10 or later) configured with
    /// `tls { handshake_first: true }`.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::TlsOptions;
    /// let tls = TlsOptions::new().ca_file("/etc/nats/ca.pem").handshake_first(true);
    /// # let _ = tls;
    /// ```
    pub fn handshake_first(mut self, first: bool) -> Self {
        self.handshake_first = first;
        self
    }

    /// A complete rustls client configuration (see
    /// [`ConnectOptions::tls_client_config`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use nats_actix::options::TlsOptions;
    /// use nats_actix::tls::{ClientConfig, rustls};
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let config = ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(rustls::RootCertStore::empty())
    ///     .with_no_client_auth();
    /// let tls = TlsOptions::new().client_config(Arc::new(config)).handshake_first(true);
    /// # let _ = tls;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn client_config(mut self, config: Arc<crate::tls::ClientConfig>) -> Self {
        self.client_config = Some(config);
        self
    }

    /// Rejects what cannot work: a certificate without its key (or the
    /// reverse), a certificate or key given both as text and as a file,
    /// and a whole rustls configuration together with CA/cert/key options.
    pub(super) fn validate(&self) -> Result<(), Error> {
        let cert = self.cert.is_some() || self.cert_file.is_some();
        let key = self.key.is_some() || self.key_file.is_some();
        if cert && !key {
            return Err(invalid(
                "tls: a client certificate needs its key (key or key_file)",
            ));
        }
        if key && !cert {
            return Err(invalid(
                "tls: a client key needs its certificate (cert or cert_file)",
            ));
        }
        if self.cert.is_some() && self.cert_file.is_some() {
            return Err(invalid("tls: give cert or cert_file, not both"));
        }
        if self.key.is_some() && self.key_file.is_some() {
            return Err(invalid("tls: give key or key_file, not both"));
        }
        let ca = self.ca.is_some() || self.ca_file.is_some();
        if self.client_config.is_some() && (ca || cert) {
            return Err(invalid(
                "tls: a whole client configuration replaces ca, cert and key; give one or the other",
            ));
        }
        Ok(())
    }
}
