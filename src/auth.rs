//! Authentication: one [`Authenticator`] behind every mode, as nats.deno
//! has.
//!
//! | mode | how | what CONNECT carries |
//! |---|---|---|
//! | user and password | [`Authenticator::user_password`], `ConnectOptions::user`/`pass`, or `user:pass@` in a URL | `user`, `pass` |
//! | token | [`Authenticator::token`], `ConnectOptions::token`, or `token@` in a URL | `auth_token` |
//! | nkey | [`Authenticator::nkey_seed`], [`Authenticator::nkey_file`], or [`Authenticator::nkey_with`] (a callback that signs the nonce) | `nkey`, `sig` |
//! | JWT | [`Authenticator::jwt`] (a callback that supplies a fresh JWT on each connect, and one that signs the nonce), [`Authenticator::jwt_with_seed`] | `jwt`, `sig` |
//! | creds | [`Authenticator::creds_file`] (re-read on each connect), [`Authenticator::creds`] | `jwt`, `sig` |
//!
//! Credentials in a server URL win over the options, and are sent only to
//! that server. Every callback runs on each connect, so a rotated JWT, a
//! refreshed creds file or an expired user is picked up by the next
//! reconnect.
//!
//! Secrets never leak: passwords, tokens, seeds and JWTs are held in
//! [`Secret`]s, which print as `<redacted>` and are zeroed when dropped;
//! the nonce signature is computed per connect and never logged.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use zeroize::Zeroizing;

use crate::{Error, ErrorKind};

/// A secret string: `Debug` and `Display` print `<redacted>`, and its
/// memory is zeroed on drop.
///
/// # Examples
///
/// ```
/// use nats_actix::auth::Secret;
/// let s = Secret::new("s3cr3t");
/// assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
/// assert_eq!(s.expose(), "s3cr3t");
/// ```
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(s.into()))
    }

    /// The secret itself, for whoever must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Signs the server's nonce; returns the raw signature bytes.
pub type SignFn = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, Error> + Send + Sync>;

/// Supplies the user JWT, on each connect.
pub type JwtFn = Arc<dyn Fn() -> Result<String, Error> + Send + Sync>;

#[derive(Clone)]
enum Mode {
    UserPassword { user: String, pass: Secret },
    Token(Secret),
    NKeySeed(Secret),
    NKeyFile(PathBuf),
    NKeyWith { public: String, sign: SignFn },
    Jwt { jwt: JwtFn, sign: SignFn },
    JwtSeed { jwt: Secret, seed: Secret },
    CredsFile(PathBuf),
    Creds(Secret),
}

/// How the client proves who it is. Build one with a constructor per mode
/// and give it to
/// [`ConnectOptions::authenticator`](crate::ConnectOptions::authenticator).
///
/// # Examples
///
/// ```
/// use nats_actix::auth::Authenticator;
/// use nats_actix::ConnectOptions;
///
/// let opts = ConnectOptions::new()
///     .server("nats://127.0.0.1:4222")
///     .authenticator(Authenticator::creds_file("/etc/nats/app.creds"));
/// // `validate` reads the file: a missing file, JWT or seed is an error
/// // before any connection is tried.
/// assert!(opts.validate().is_err());
/// ```
#[derive(Clone)]
pub struct Authenticator(Mode);

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match &self.0 {
            Mode::UserPassword { user, .. } => {
                return write!(f, "Authenticator::UserPassword({user}, <redacted>)");
            }
            Mode::Token(_) => "Token(<redacted>)",
            Mode::NKeySeed(_) => "NKeySeed(<redacted>)",
            Mode::NKeyFile(p) => return write!(f, "Authenticator::NKeyFile({})", p.display()),
            Mode::NKeyWith { public, .. } => {
                return write!(f, "Authenticator::NKeyWith({public}, <fn>)");
            }
            Mode::Jwt { .. } => "Jwt(<fn>, <fn>)",
            Mode::JwtSeed { .. } => "JwtSeed(<redacted>, <redacted>)",
            Mode::CredsFile(p) => return write!(f, "Authenticator::CredsFile({})", p.display()),
            Mode::Creds(_) => "Creds(<redacted>)",
        };
        write!(f, "Authenticator::{mode}")
    }
}

/// What CONNECT carries for one connect: the fields of each mode.
#[derive(Default)]
pub(crate) struct Credentials {
    pub(crate) user: Option<String>,
    pub(crate) pass: Option<String>,
    pub(crate) auth_token: Option<String>,
    pub(crate) jwt: Option<String>,
    pub(crate) nkey: Option<String>,
    pub(crate) sig: Option<String>,
}

fn auth_err(msg: impl Into<String>) -> Error {
    Error::with_source(ErrorKind::Authentication, msg.into())
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::with_source(ErrorKind::InvalidArgument, msg.into())
}

fn user_key(seed: &str) -> Result<nkeys::KeyPair, Error> {
    let kp = nkeys::KeyPair::from_seed(seed.trim())
        .map_err(|e| invalid(format!("invalid nkey seed: {e}")))?;
    if kp.key_pair_type() != nkeys::KeyPairType::User {
        return Err(invalid(format!(
            "the nkey seed is a {:?} seed, not a user seed (SU...)",
            kp.key_pair_type()
        )));
    }
    Ok(kp)
}

fn sign_with(kp: &nkeys::KeyPair, nonce: &[u8]) -> Result<Vec<u8>, Error> {
    kp.sign(nonce)
        .map_err(|e| auth_err(format!("cannot sign the nonce: {e}")))
}

fn read_secret(path: &Path, what: &str) -> Result<Secret, Error> {
    std::fs::read_to_string(path)
        .map(Secret::new)
        .map_err(|e| invalid(format!("cannot read the {what} {}: {e}", path.display())))
}

/// Parses the decorated creds format: the first block is the user JWT,
/// the second the user nkey seed (nats.go and nats.deno read it so).
///
/// ```text
/// -----BEGIN NATS USER JWT-----
/// eyJ0eXAiOi...
/// ------END NATS USER JWT------
///
/// -----BEGIN USER NKEY SEED-----
/// SUAM...
/// ------END USER NKEY SEED------
/// ```
pub(crate) fn parse_creds(text: &str) -> Result<(Secret, Secret), Error> {
    let mut jwt = None;
    let mut seed = None;
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if !(line.starts_with("---") && line.contains("BEGIN")) {
            continue;
        }
        let value = lines.by_ref().find(|l| !l.is_empty()).unwrap_or_default();
        if value.starts_with("---") {
            continue;
        }
        if line.contains("JWT") && jwt.is_none() {
            jwt = Some(Secret::new(value));
        } else if (line.contains("SEED") || line.contains("NKEY")) && seed.is_none() {
            seed = Some(Secret::new(value));
        }
    }
    match (jwt, seed) {
        (Some(j), Some(s)) => Ok((j, s)),
        (None, _) => Err(invalid(
            "the creds hold no user JWT (-----BEGIN NATS USER JWT-----)",
        )),
        (_, None) => Err(invalid(
            "the creds hold no user nkey seed (-----BEGIN USER NKEY SEED-----)",
        )),
    }
}

fn need_nonce(nonce: Option<&str>) -> Result<&[u8], Error> {
    nonce.map(str::as_bytes).ok_or_else(|| {
        auth_err("the server sent no nonce to sign: it does not support nkey or JWT authentication")
    })
}

fn encode_sig(sig: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
}

impl Authenticator {
    /// User and password.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = nats_actix::auth::Authenticator::user_password("app", "s3cr3t");
    /// assert!(!format!("{a:?}").contains("s3cr3t"));
    /// ```
    pub fn user_password(user: impl Into<String>, pass: impl Into<String>) -> Authenticator {
        Authenticator(Mode::UserPassword {
            user: user.into(),
            pass: Secret::new(pass),
        })
    }

    /// A token.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = nats_actix::auth::Authenticator::token("t0k3n");
    /// assert!(!format!("{a:?}").contains("t0k3n"));
    /// ```
    pub fn token(token: impl Into<String>) -> Authenticator {
        Authenticator(Mode::Token(Secret::new(token)))
    }

    /// An nkey: the user seed (`SU...`) signs the server's nonce.
    ///
    /// # Examples
    ///
    /// ```
    /// let seed = nkeys::KeyPair::new_user().seed().unwrap();
    /// let opts = nats_actix::ConnectOptions::new()
    ///     .authenticator(nats_actix::auth::Authenticator::nkey_seed(seed));
    /// assert!(opts.validate().is_ok());
    /// ```
    pub fn nkey_seed(seed: impl Into<String>) -> Authenticator {
        Authenticator(Mode::NKeySeed(Secret::new(seed)))
    }

    /// An nkey whose seed is read from a file, on each connect.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = nats_actix::auth::Authenticator::nkey_file("/etc/nats/user.nk");
    /// assert!(nats_actix::ConnectOptions::new().authenticator(a).validate().is_err());
    /// ```
    pub fn nkey_file(path: impl Into<PathBuf>) -> Authenticator {
        Authenticator(Mode::NKeyFile(path.into()))
    }

    /// An nkey whose private part stays with the caller: `sign` gets the
    /// nonce and returns the ed25519 signature (a hardware key, say).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::auth::Authenticator;
    /// let kp = std::sync::Arc::new(nkeys::KeyPair::new_user());
    /// let signer = kp.clone();
    /// let a = Authenticator::nkey_with(kp.public_key(), move |nonce| {
    ///     signer.sign(nonce).map_err(|e| {
    ///         nats_actix::Error::with_source(nats_actix::ErrorKind::Authentication, e.to_string())
    ///     })
    /// });
    /// # let _ = a;
    /// ```
    pub fn nkey_with<F>(public_key: impl Into<String>, sign: F) -> Authenticator
    where
        F: Fn(&[u8]) -> Result<Vec<u8>, Error> + Send + Sync + 'static,
    {
        Authenticator(Mode::NKeyWith {
            public: public_key.into(),
            sign: Arc::new(sign),
        })
    }

    /// A user JWT, asked of `jwt` on each connect (so it can be rotated
    /// before it expires), with `sign` signing the nonce with the user's
    /// key.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::auth::Authenticator;
    /// let kp = std::sync::Arc::new(nkeys::KeyPair::new_user());
    /// let a = Authenticator::jwt(
    ///     || Ok(std::fs::read_to_string("/run/secrets/user.jwt")?),
    ///     move |nonce| Ok(kp.sign(nonce).map_err(|e| {
    ///         nats_actix::Error::with_source(nats_actix::ErrorKind::Authentication, e.to_string())
    ///     })?),
    /// );
    /// # let _ = a;
    /// ```
    pub fn jwt<J, S>(jwt: J, sign: S) -> Authenticator
    where
        J: Fn() -> Result<String, Error> + Send + Sync + 'static,
        S: Fn(&[u8]) -> Result<Vec<u8>, Error> + Send + Sync + 'static,
    {
        Authenticator(Mode::Jwt {
            jwt: Arc::new(jwt),
            sign: Arc::new(sign),
        })
    }

    /// A fixed user JWT and the user's seed.
    ///
    /// # Examples
    ///
    /// ```
    /// let seed = nkeys::KeyPair::new_user().seed().unwrap();
    /// let a = nats_actix::auth::Authenticator::jwt_with_seed("eyJ0eXAi...", seed);
    /// assert!(!format!("{a:?}").contains("eyJ0"));
    /// ```
    pub fn jwt_with_seed(jwt: impl Into<String>, seed: impl Into<String>) -> Authenticator {
        Authenticator(Mode::JwtSeed {
            jwt: Secret::new(jwt),
            seed: Secret::new(seed),
        })
    }

    /// A creds file (the decorated user JWT and seed that `nsc` writes),
    /// re-read on each connect.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = nats_actix::auth::Authenticator::creds_file("/etc/nats/app.creds");
    /// # let _ = a;
    /// ```
    pub fn creds_file(path: impl Into<PathBuf>) -> Authenticator {
        Authenticator(Mode::CredsFile(path.into()))
    }

    /// Creds given as text (the content of a creds file).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = nats_actix::auth::Authenticator::creds("no creds in here");
    /// let err = nats_actix::ConnectOptions::new().authenticator(a).validate().unwrap_err();
    /// assert!(err.to_string().contains("no user JWT"));
    /// ```
    pub fn creds(text: impl Into<String>) -> Authenticator {
        Authenticator(Mode::Creds(Secret::new(text)))
    }

    /// Checks what can be checked before connecting: seeds parse and are
    /// user seeds, files can be read, creds hold a JWT and a seed.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        match &self.0 {
            Mode::UserPassword { .. }
            | Mode::Token(_)
            | Mode::NKeyWith { .. }
            | Mode::Jwt { .. } => Ok(()),
            Mode::NKeySeed(seed) => user_key(seed.expose()).map(drop),
            Mode::NKeyFile(path) => {
                user_key(read_secret(path, "nkey seed file")?.expose()).map(drop)
            }
            Mode::JwtSeed { seed, .. } => user_key(seed.expose()).map(drop),
            Mode::CredsFile(path) => {
                let (_, seed) = parse_creds(read_secret(path, "creds file")?.expose())?;
                user_key(seed.expose()).map(drop)
            }
            Mode::Creds(text) => {
                let (_, seed) = parse_creds(text.expose())?;
                user_key(seed.expose()).map(drop)
            }
        }
    }

    /// What CONNECT carries for this connect, the nonce signed where the
    /// mode needs it. Files are read and callbacks called now.
    pub(crate) fn credentials(&self, nonce: Option<&str>) -> Result<Credentials, Error> {
        let mut c = Credentials::default();
        match &self.0 {
            Mode::UserPassword { user, pass } => {
                c.user = Some(user.clone());
                c.pass = Some(pass.expose().to_string());
            }
            Mode::Token(t) => c.auth_token = Some(t.expose().to_string()),
            Mode::NKeySeed(seed) => {
                let kp = user_key(seed.expose())?;
                c.nkey = Some(kp.public_key());
                c.sig = Some(encode_sig(&sign_with(&kp, need_nonce(nonce)?)?));
            }
            Mode::NKeyFile(path) => {
                let kp = user_key(read_secret(path, "nkey seed file")?.expose())?;
                c.nkey = Some(kp.public_key());
                c.sig = Some(encode_sig(&sign_with(&kp, need_nonce(nonce)?)?));
            }
            Mode::NKeyWith { public, sign } => {
                c.nkey = Some(public.clone());
                c.sig = Some(encode_sig(&sign(need_nonce(nonce)?)?));
            }
            Mode::Jwt { jwt, sign } => {
                c.jwt = Some(jwt()?);
                if let Some(n) = nonce {
                    c.sig = Some(encode_sig(&sign(n.as_bytes())?));
                }
            }
            Mode::JwtSeed { jwt, seed } => {
                c.jwt = Some(jwt.expose().to_string());
                if let Some(n) = nonce {
                    c.sig = Some(encode_sig(&sign_with(
                        &user_key(seed.expose())?,
                        n.as_bytes(),
                    )?));
                }
            }
            Mode::CredsFile(path) => {
                let (jwt, seed) = parse_creds(read_secret(path, "creds file")?.expose())?;
                c.jwt = Some(jwt.expose().to_string());
                if let Some(n) = nonce {
                    c.sig = Some(encode_sig(&sign_with(
                        &user_key(seed.expose())?,
                        n.as_bytes(),
                    )?));
                }
            }
            Mode::Creds(text) => {
                let (jwt, seed) = parse_creds(text.expose())?;
                c.jwt = Some(jwt.expose().to_string());
                if let Some(n) = nonce {
                    c.sig = Some(encode_sig(&sign_with(
                        &user_key(seed.expose())?,
                        n.as_bytes(),
                    )?));
                }
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds_text(jwt: &str, seed: &str) -> String {
        format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        )
    }

    #[test]
    fn creds_parse_and_reject() {
        let kp = nkeys::KeyPair::new_user();
        let seed = kp.seed().unwrap();
        let (jwt, s) = parse_creds(&creds_text("eyJ.a.b", &seed)).unwrap();
        assert_eq!((jwt.expose(), s.expose()), ("eyJ.a.b", seed.as_str()));
        let (jwt, _) = parse_creds(&creds_text("eyJ.a.b", &seed).replace('\n', "\r\n")).unwrap();
        assert_eq!(jwt.expose(), "eyJ.a.b");
        let no_seed = "-----BEGIN NATS USER JWT-----\neyJ.a.b\n------END NATS USER JWT------\n";
        assert!(
            parse_creds(no_seed)
                .unwrap_err()
                .to_string()
                .contains("no user nkey seed")
        );
        let no_jwt =
            format!("-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n");
        assert!(
            parse_creds(&no_jwt)
                .unwrap_err()
                .to_string()
                .contains("no user JWT")
        );
        assert!(parse_creds("").is_err());
    }

    #[test]
    fn nkey_signs_the_nonce_and_checks_the_seed() {
        let kp = nkeys::KeyPair::new_user();
        let a = Authenticator::nkey_seed(kp.seed().unwrap());
        a.validate().unwrap();
        let c = a.credentials(Some("n0nce")).unwrap();
        assert_eq!(c.nkey.as_deref(), Some(kp.public_key().as_str()));
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c.sig.unwrap())
            .unwrap();
        kp.verify(b"n0nce", &sig).unwrap();
        assert!(a.credentials(None).is_err(), "no nonce, no nkey auth");
        let account = nkeys::KeyPair::new_account().seed().unwrap();
        assert!(Authenticator::nkey_seed(account).validate().is_err());
        assert!(Authenticator::nkey_seed("SUgarbage").validate().is_err());
    }

    #[test]
    fn jwt_callback_runs_on_each_connect() {
        let kp = Arc::new(nkeys::KeyPair::new_user());
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = n.clone();
        let signer = kp.clone();
        let a = Authenticator::jwt(
            move || {
                Ok(format!(
                    "jwt-{}",
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                ))
            },
            move |nonce| sign_with(&signer, nonce),
        );
        assert_eq!(
            a.credentials(Some("x")).unwrap().jwt.as_deref(),
            Some("jwt-0")
        );
        assert_eq!(
            a.credentials(Some("x")).unwrap().jwt.as_deref(),
            Some("jwt-1")
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let seed = nkeys::KeyPair::new_user().seed().unwrap();
        for a in [
            Authenticator::user_password("u", "pa55"),
            Authenticator::token("t0k"),
            Authenticator::nkey_seed(seed.clone()),
            Authenticator::jwt_with_seed("eyJsecret", seed.clone()),
            Authenticator::creds(creds_text("eyJsecret", &seed)),
        ] {
            let d = format!("{a:?}");
            assert!(
                !d.contains("pa55")
                    && !d.contains("t0k")
                    && !d.contains(&seed)
                    && !d.contains("eyJsecret"),
                "{d}"
            );
        }
    }
}
