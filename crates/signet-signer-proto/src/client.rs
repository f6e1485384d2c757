//! A client of notary-signer's API: mutual TLS, a bound on every call, answers as
//! `signet-core` types.
//!
//! The connection is made lazily and re-made after a failure, so a client can be built
//! while the signer is down and recovers by itself when it comes back. Every call is
//! bounded by [`SignerEndpoint::connect_timeout`] plus [`SignerEndpoint::rpc_timeout`]:
//! a signer that is down, partitioned or stopped costs a caller an error, never a hang.
//! HTTP/2 keep-alive pings find dead connections between calls.
//!
//! Like notary-server's client, the server's certificate must chain to the given CA (and
//! only to it: no system roots) and name `hostname`; the client certificate is optional
//! (a signer with a client CA refuses a client without one).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use signet_core::{KeyType, PublicKey};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use zeroize::Zeroizing;

use crate::key_management::key_management_client::KeyManagementClient;
use crate::signer::signer_client::SignerClient;
use crate::{CreateKeyRequest, HEALTH_KEY_MANAGEMENT, HEALTH_SIGNER, KeyId, SignatureRequest};

/// Time to open a connection (TCP and TLS) unless told otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time for one call once connected unless told otherwise.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// Interval of HTTP/2 keep-alive pings on an open connection.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// Time a keep-alive ping may take before the connection is given up.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the signer is and how to authenticate to it.
#[derive(Clone)]
pub struct SignerEndpoint {
    /// Host name or IP address; the signer's certificate must name it.
    pub hostname: String,
    /// TCP port.
    pub port: u16,
    /// PEM certificates the signer's certificate must chain to (only these).
    pub ca_pem: Vec<u8>,
    /// PEM client certificate chain and private key shown to the signer, if any.
    pub identity: Option<(Vec<u8>, Zeroizing<Vec<u8>>)>,
    /// Time to open a connection.
    pub connect_timeout: Duration,
    /// Time for one call once connected.
    pub rpc_timeout: Duration,
}

impl fmt::Debug for SignerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerEndpoint")
            .field("hostname", &self.hostname)
            .field("port", &self.port)
            .field("client_certificate", &self.identity.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .field("rpc_timeout", &self.rpc_timeout)
            .finish_non_exhaustive()
    }
}

/// The client could not be set up (configuration: files, addresses, TLS material).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// A file cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file does not hold what it should.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The address or the TLS material is unusable.
    #[error("signer endpoint {endpoint}: {reason}")]
    Endpoint {
        /// `host:port`.
        endpoint: String,
        /// Why.
        reason: String,
    },
}

/// A call failed: the signer's gRPC status, or one made here for a transport failure or
/// a timeout (`Unavailable`, `DeadlineExceeded`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The signer answered with an error status, or could not be reached.
    #[error("rpc error: code = {code:?} desc = {message}")]
    Status {
        /// The RPC.
        rpc: &'static str,
        /// The status code.
        code: Code,
        /// The status message.
        message: String,
    },
    /// The signer answered with something the API does not allow.
    #[error("{rpc}: malformed answer from the signer: {reason}")]
    Malformed {
        /// The RPC.
        rpc: &'static str,
        /// What was wrong.
        reason: String,
    },
}

impl RpcError {
    fn status(rpc: &'static str, status: &Status) -> Self {
        // tonic reports its own timeout as `Cancelled`; nothing else cancels a call here,
        // and gRPC (and notary-server) call a missed deadline `DeadlineExceeded`.
        let code = match status.code() {
            Code::Cancelled => Code::DeadlineExceeded,
            other => other,
        };
        Self::Status {
            rpc,
            code,
            message: status.message().to_owned(),
        }
    }

    fn malformed(rpc: &'static str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            rpc,
            reason: reason.into(),
        }
    }

    /// The gRPC status code (`Internal` for a malformed answer).
    pub fn code(&self) -> Code {
        match self {
            Self::Status { code, .. } => *code,
            Self::Malformed { .. } => Code::Internal,
        }
    }

    /// The status message (the reason for a malformed answer).
    pub fn message(&self) -> &str {
        match self {
            Self::Status { message, .. } => message,
            Self::Malformed { reason, .. } => reason,
        }
    }

    /// Whether the signer could not be reached or did not answer in time (rather than
    /// answering with an error).
    pub fn is_unreachable(&self) -> bool {
        matches!(self.code(), Code::Unavailable | Code::DeadlineExceeded)
    }
}

/// A signature as the signer made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSignature {
    /// The signature method the signer names (`ecdsa`, `eddsa`, …).
    pub method: String,
    /// The signature bytes (raw `r‖s` for ECDSA).
    pub signature: Vec<u8>,
}

impl SignerEndpoint {
    /// An endpoint from PEM files, with the default timeouts.
    ///
    /// # Errors
    ///
    /// [`ConnectError`] if a file cannot be read or holds no PEM certificate or key.
    pub fn from_files(
        hostname: &str,
        port: u16,
        ca: &Path,
        identity: Option<(&Path, &Path)>,
    ) -> Result<Self, ConnectError> {
        let ca_pem = read_pem(ca, "CERTIFICATE-----", "no PEM certificate")?;
        let identity = match identity {
            Some((cert, key)) => Some((
                read_pem(cert, "CERTIFICATE-----", "no PEM certificate")?,
                Zeroizing::new(read_pem(key, "PRIVATE KEY-----", "no PEM private key")?),
            )),
            None => None,
        };
        Ok(Self {
            hostname: hostname.to_owned(),
            port,
            ca_pem,
            identity,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            rpc_timeout: DEFAULT_RPC_TIMEOUT,
        })
    }

    /// The same endpoint with other timeouts (each at least a millisecond).
    #[must_use]
    pub fn with_timeouts(mut self, connect: Duration, rpc: Duration) -> Self {
        self.connect_timeout = connect.max(Duration::from_millis(1));
        self.rpc_timeout = rpc.max(Duration::from_millis(1));
        self
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn authority(&self) -> String {
        if self.hostname.contains(':') && !self.hostname.starts_with('[') {
            format!("[{}]:{}", self.hostname, self.port)
        } else {
            format!("{}:{}", self.hostname, self.port)
        }
    }
}

fn read_pem(path: &Path, marker: &str, reason: &'static str) -> Result<Vec<u8>, ConnectError> {
    let bytes = std::fs::read(path).map_err(|source| ConnectError::Read {
        path: path.to_owned(),
        source,
    })?;
    if !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()) {
        return Err(ConnectError::Pem {
            path: path.to_owned(),
            reason,
        });
    }
    Ok(bytes)
}

/// A mutually authenticated client of notary-signer's API (cheap to clone: clones share
/// one HTTP/2 connection).
#[derive(Clone, Debug)]
pub struct RemoteSigner {
    key_management: KeyManagementClient<Channel>,
    signer: SignerClient<Channel>,
    health: HealthClient<Channel>,
    /// Bound on a whole call, connecting included.
    call_timeout: Duration,
    authority: String,
}

impl RemoteSigner {
    /// A client that connects on its first call (and again after a failure). Must be
    /// called within a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Endpoint`] if the address or the TLS material is unusable.
    pub fn connect_lazy(endpoint: &SignerEndpoint) -> Result<Self, ConnectError> {
        let authority = endpoint.authority();
        let bad = |reason: String| ConnectError::Endpoint {
            endpoint: authority.clone(),
            reason,
        };
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&endpoint.ca_pem))
            .domain_name(
                endpoint
                    .hostname
                    .trim_start_matches('[')
                    .trim_end_matches(']'),
            );
        if let Some((cert, key)) = &endpoint.identity {
            tls = tls.identity(Identity::from_pem(cert, key.as_slice()));
        }
        let channel = Endpoint::from_shared(format!("https://{authority}"))
            .map_err(|e| bad(e.to_string()))?
            .tls_config(tls)
            .map_err(|e| bad(error_chain(&e)))?
            .connect_timeout(endpoint.connect_timeout)
            .timeout(endpoint.rpc_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .connect_lazy();
        Ok(Self {
            key_management: KeyManagementClient::new(channel.clone()),
            signer: SignerClient::new(channel.clone()),
            health: HealthClient::new(channel),
            call_timeout: endpoint.connect_timeout + endpoint.rpc_timeout,
            authority,
        })
    }

    /// `host:port` of the signer.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    async fn bounded<T>(
        &self,
        rpc: &'static str,
        call: impl Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> Result<T, RpcError> {
        match tokio::time::timeout(self.call_timeout, call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(RpcError::status(rpc, &status)),
            Err(_) => Err(RpcError::Status {
                rpc,
                code: Code::DeadlineExceeded,
                message: format!(
                    "no answer from the signer within {} ms",
                    self.call_timeout.as_millis()
                ),
            }),
        }
    }

    /// `CreateKey`: a key of `algorithm` (`ecdsa`, `ed25519`) for `gun` and `role`. The
    /// answer's key ID must be the TUF key ID of the key it carries.
    ///
    /// # Errors
    ///
    /// [`RpcError`].
    pub async fn create_key(
        &self,
        algorithm: &str,
        gun: &str,
        role: &str,
    ) -> Result<PublicKey, RpcError> {
        const RPC: &str = "CreateKey";
        let mut client = self.key_management.clone();
        let created = self
            .bounded(
                RPC,
                client.create_key(CreateKeyRequest {
                    algorithm: algorithm.to_owned(),
                    gun: gun.to_owned(),
                    role: role.to_owned(),
                }),
            )
            .await?;
        public_key(RPC, created.key_info.as_ref(), created.public_key)
    }

    /// `GetKeyInfo`: the key and the role it was created for; `None` if the signer does
    /// not hold it (`NotFound`).
    ///
    /// # Errors
    ///
    /// [`RpcError`] other than `NotFound`.
    pub async fn key_info(&self, key_id: &str) -> Result<Option<(PublicKey, String)>, RpcError> {
        const RPC: &str = "GetKeyInfo";
        let mut client = self.key_management.clone();
        let info = match self
            .bounded(
                RPC,
                client.get_key_info(KeyId {
                    id: key_id.to_owned(),
                }),
            )
            .await
        {
            Ok(info) => info,
            Err(e) if e.code() == Code::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let key = public_key(RPC, info.key_info.as_ref(), info.public_key)?;
        if key.id().as_str() != key_id {
            return Err(RpcError::malformed(RPC, "the answer is about another key"));
        }
        Ok(Some((key, info.role)))
    }

    /// `DeleteKey` (succeeds for a key the signer does not hold).
    ///
    /// # Errors
    ///
    /// [`RpcError`].
    pub async fn delete_key(&self, key_id: &str) -> Result<(), RpcError> {
        let mut client = self.key_management.clone();
        self.bounded(
            "DeleteKey",
            client.delete_key(KeyId {
                id: key_id.to_owned(),
            }),
        )
        .await
        .map(|_| ())
    }

    /// `Sign`: the signer's signature over `content` (the whole message; the signer hashes
    /// it) with `key_id`. The caller verifies it.
    ///
    /// # Errors
    ///
    /// [`RpcError`].
    pub async fn sign(&self, key_id: &str, content: &[u8]) -> Result<RemoteSignature, RpcError> {
        const RPC: &str = "Sign";
        let mut client = self.signer.clone();
        let signature = self
            .bounded(
                RPC,
                client.sign(SignatureRequest {
                    key_id: Some(KeyId {
                        id: key_id.to_owned(),
                    }),
                    content: content.to_vec(),
                }),
            )
            .await?;
        if signature.content.is_empty() {
            return Err(RpcError::malformed(RPC, "empty signature"));
        }
        Ok(RemoteSignature {
            method: signature.algorithm.map(|a| a.algorithm).unwrap_or_default(),
            signature: signature.content,
        })
    }

    /// notary-server's health check: both services' entries of the standard health
    /// service are `SERVING`. `Err` carries a short reason.
    ///
    /// # Errors
    ///
    /// The reason the signer is not healthy.
    pub async fn check_health(&self) -> Result<(), String> {
        for (name, service) in [
            ("KeyManagement", HEALTH_KEY_MANAGEMENT),
            ("Signer", HEALTH_SIGNER),
        ] {
            let mut client = self.health.clone();
            let answer = self
                .bounded(
                    "Check",
                    client.check(HealthCheckRequest {
                        service: service.to_owned(),
                    }),
                )
                .await
                .map_err(|e| format!("signer at {}: {e}", self.authority))?;
            let status = ServingStatus::try_from(answer.status).unwrap_or(ServingStatus::Unknown);
            if status != ServingStatus::Serving {
                return Err(format!(
                    "signer at {}: {name} is {}",
                    self.authority,
                    status.as_str_name()
                ));
            }
        }
        Ok(())
    }
}

/// The key a `CreateKey` or `GetKeyInfo` answer carries; its key ID must match.
fn public_key(
    rpc: &'static str,
    info: Option<&crate::KeyInfo>,
    public: Vec<u8>,
) -> Result<PublicKey, RpcError> {
    let info = info.ok_or_else(|| RpcError::malformed(rpc, "no key info"))?;
    let algorithm = info
        .algorithm
        .as_ref()
        .map(|a| a.algorithm.as_str())
        .ok_or_else(|| RpcError::malformed(rpc, "no key algorithm"))?;
    let keytype = KeyType::parse(algorithm);
    if matches!(keytype, KeyType::Other(_)) {
        return Err(RpcError::malformed(
            rpc,
            format!("unknown key algorithm {algorithm:?}"),
        ));
    }
    if public.is_empty() {
        return Err(RpcError::malformed(rpc, "empty public key"));
    }
    let key = PublicKey::new(keytype, public);
    let claimed = info.key_id.as_ref().map(|k| k.id.as_str());
    if claimed != Some(key.id().as_str()) {
        return Err(RpcError::malformed(
            rpc,
            format!(
                "key ID {claimed:?} is not the key's TUF ID {}",
                key.id().as_str()
            ),
        ));
    }
    Ok(key)
}

/// An error and its sources, for messages (tonic's errors hide the cause in `source`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
