//! Throw-away PKIs for mutual-TLS tests: a CA, server certificates for `localhost` and
//! `127.0.0.1`, and client certificates, written as PEM files into a directory.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate and its key, as PEM files.
#[derive(Clone, Debug)]
pub struct PemPair {
    /// The certificate (leaf only).
    pub cert: PathBuf,
    /// The private key (PKCS#8).
    pub key: PathBuf,
}

/// A CA that issues certificates into `dir`.
pub struct TestCa {
    dir: PathBuf,
    name: String,
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate (PEM file).
    pub cert: PathBuf,
}

impl TestCa {
    /// A new CA named `name` (P-256), its certificate written to `dir/<name>-ca.crt`.
    ///
    /// # Panics
    ///
    /// If generation or writing fails (tests only).
    pub fn new(dir: &Path, name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("self-sign CA");
        let path = dir.join(format!("{name}-ca.crt"));
        fs::write(&path, cert.pem()).expect("write CA");
        Self {
            dir: dir.to_owned(),
            name: name.to_owned(),
            issuer: Issuer::new(params, key),
            cert: path,
        }
    }

    fn issue(&self, leaf: &str, usages: Vec<ExtendedKeyUsagePurpose>) -> PemPair {
        let key = KeyPair::generate().expect("leaf key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, leaf);
        params.extended_key_usages = usages;
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        let pair = PemPair {
            cert: self.dir.join(format!("{}-{leaf}.crt", self.name)),
            key: self.dir.join(format!("{}-{leaf}.key", self.name)),
        };
        fs::write(&pair.cert, cert.pem()).expect("write cert");
        fs::write(&pair.key, key.serialize_pem()).expect("write key");
        pair
    }

    /// A server certificate (and client: notary-server uses one for both) valid for
    /// `localhost` and `127.0.0.1`.
    pub fn server(&self, leaf: &str) -> PemPair {
        self.issue(
            leaf,
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        )
    }

    /// A client certificate.
    pub fn client(&self, leaf: &str) -> PemPair {
        self.issue(leaf, vec![ExtendedKeyUsagePurpose::ClientAuth])
    }
}
