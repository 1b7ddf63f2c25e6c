//! What the address book takes from a node's certificates, when solo has them.
//!
//! Solo keeps a node's gossip signing certificate and TLS certificate in Secrets of the node's
//! namespace; they may also be given as files. From them come the genesis roster's
//! `gossipCaCertificate` (the gossip certificate, DER, base64), the address book's `RSA_PubKey`
//! (the gossip public key, DER, hex) and `nodeCertHash` (SHA-384 of the TLS certificate's PEM
//! text, hex). Without them those fields stay empty and the commands say so.

use base64::Engine;
use sha2::{Digest, Sha384};

/// A node's certificates, each when available.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeCerts {
    /// The gossip signing certificate, DER.
    pub gossip_cert_der: Option<Vec<u8>>,
    /// The gossip public key (SubjectPublicKeyInfo), DER.
    pub gossip_public_key_der: Option<Vec<u8>>,
    /// The TLS certificate, PEM text.
    pub tls_cert_pem: Option<String>,
}

impl NodeCerts {
    /// The certificates from their PEM texts: the gossip certificate (its DER and public key)
    /// and the TLS certificate. A text that is not a PEM certificate counts as absent.
    pub fn from_pems(gossip_cert_pem: Option<&str>, tls_cert_pem: Option<String>) -> Self {
        let gossip_cert_der = gossip_cert_pem.and_then(pem_certificate);
        let gossip_public_key_der = gossip_cert_der
            .as_deref()
            .and_then(subject_public_key_info)
            .map(<[u8]>::to_vec);
        NodeCerts {
            gossip_cert_der,
            gossip_public_key_der,
            tls_cert_pem: tls_cert_pem.filter(|p| pem_certificate(p).is_some()),
        }
    }

    /// `gossipCaCertificate` of genesis-network.json: the DER certificate in base64, or empty.
    pub fn gossip_ca_certificate(&self) -> String {
        self.gossip_cert_der
            .as_deref()
            .map(|der| base64::engine::general_purpose::STANDARD.encode(der))
            .unwrap_or_default()
    }

    /// `RSA_PubKey` of the address book: the DER public key in hex, or empty.
    pub fn rsa_pub_key(&self) -> String {
        self.gossip_public_key_der
            .as_deref()
            .map(hex)
            .unwrap_or_default()
    }

    /// `nodeCertHash` of the address book: SHA-384 of the TLS certificate's PEM, in hex, or
    /// empty.
    pub fn node_cert_hash(&self) -> String {
        self.tls_cert_pem
            .as_deref()
            .map(|pem| hex(&Sha384::digest(pem.as_bytes())))
            .unwrap_or_default()
    }
}

/// The DER bytes of the first `CERTIFICATE` block of a PEM text.
pub fn pem_certificate(pem: &str) -> Option<Vec<u8>> {
    let begin = "-----BEGIN CERTIFICATE-----";
    let end = "-----END CERTIFICATE-----";
    let start = pem.find(begin)? + begin.len();
    let stop = start + pem[start..].find(end)?;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()
        .filter(|der| !der.is_empty())
}

/// One DER element.
struct DerElement<'a> {
    tag: u8,
    /// Its whole encoding, header included.
    whole: &'a [u8],
    /// Its contents.
    contents: &'a [u8],
    /// What follows it.
    rest: &'a [u8],
}

/// The DER element at the start of `input`.
fn der_element(input: &[u8]) -> Option<DerElement<'_>> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = input.get(2..2 + n)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + n)
    };
    let total = header.checked_add(len)?;
    let whole = input.get(..total)?;
    Some(DerElement {
        tag,
        whole,
        contents: &whole[header..],
        rest: &input[total..],
    })
}

/// The SubjectPublicKeyInfo (DER) of an X.509 certificate (DER): the seventh field of
/// `tbsCertificate` when it has a version, the sixth otherwise.
pub fn subject_public_key_info(cert: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    let cert = der_element(cert)?;
    let tbs = der_element(cert.contents)?;
    if cert.tag != SEQUENCE || tbs.tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs.contents;
    if rest.first() == Some(&0xa0) {
        rest = der_element(rest)?.rest;
    }
    // serialNumber, signature, issuer, validity, subject
    for _ in 0..5 {
        rest = der_element(rest)?.rest;
    }
    let spki = der_element(rest)?;
    (spki.tag == SEQUENCE).then_some(spki.whole)
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_without_certificates_and_derived_with_them() {
        let none = NodeCerts::default();
        assert_eq!(
            (
                none.gossip_ca_certificate(),
                none.rsa_pub_key(),
                none.node_cert_hash()
            ),
            (String::new(), String::new(), String::new())
        );
        let some = NodeCerts {
            gossip_cert_der: Some(vec![0x30, 0x03, 0x02, 0x01, 0x01]),
            gossip_public_key_der: Some(vec![0xde, 0xad]),
            tls_cert_pem: Some("abc".into()),
        };
        assert_eq!(some.gossip_ca_certificate(), "MAMCAQE=");
        assert_eq!(some.rsa_pub_key(), "dead");
        // SHA-384("abc"), FIPS 180-2 appendix D.1.
        assert_eq!(
            some.node_cert_hash(),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"
        );
    }
}
