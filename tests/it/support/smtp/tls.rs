//! The server's TLS: a self-signed certificate for 127.0.0.1 made when the server starts, so
//! no key lives in the repository and a client trusts it only when told to (`SMTP_CA_FILE`).

use std::sync::Arc;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{crypto::ring, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub struct Identity {
    pub acceptor: TlsAcceptor,
    /// The certificate, PEM: the one root a client needs to trust this server.
    pub certificate_pem: String,
    certificate: CertificateDer<'static>,
}

impl Identity {
    /// A client that trusts this certificate and nothing else.
    pub fn connector(&self) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.certificate.clone()).unwrap();
        let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

pub fn self_signed() -> Identity {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let generated = rcgen::generate_simple_self_signed(names).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der()));
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![generated.cert.der().clone()], key)
        .unwrap();
    Identity {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        certificate_pem: generated.cert.pem(),
        certificate: generated.cert.der().clone(),
    }
}
