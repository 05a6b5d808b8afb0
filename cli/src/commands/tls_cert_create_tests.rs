//! Tests of `tls cert create` against CAs made by `tls ca create`, read back with x509-parser
//! and verified with webpki as the agents' rustls would.

use super::tls_ca_create;
use super::tls_cert_create::{create, render, Args, Role};
use rcgen::KeyPair;
use std::path::Path;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

fn args(role: Role) -> Args {
    Args {
        server: role == Role::Server,
        client: role == Role::Client,
        cli: role == Role::Cli,
        ca: None,
        key: None,
        days: 365,
        domain: "nomad".into(),
        region: "global".into(),
        additional_dnsname: Vec::new(),
        additional_ipaddress: Vec::new(),
    }
}

/// A tempdir holding a CA made by `tls ca create` for `domain`.
fn with_ca(domain: &str, name_constraint: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ca = tls_ca_create::Args {
        days: 30,
        domain: domain.into(),
        additional_domain: Vec::new(),
        common_name: None,
        name_constraint,
    };
    tls_ca_create::create(dir.path(), &ca).unwrap();
    dir
}

fn read_pem(path: &Path) -> x509_parser::pem::Pem {
    let bytes = std::fs::read(path).unwrap();
    x509_parser::pem::parse_x509_pem(&bytes).unwrap().1
}

fn names(cert: &X509Certificate) -> (Vec<String>, Vec<Vec<u8>>) {
    let (mut dns, mut ips) = (Vec::new(), Vec::new());
    for name in &cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
    {
        match name {
            GeneralName::DNSName(n) => dns.push(n.to_string()),
            GeneralName::IPAddress(ip) => ips.push(ip.to_vec()),
            other => panic!("{other:?}"),
        }
    }
    (dns, ips)
}

#[test]
fn each_role_gets_its_names_and_key_usages_signed_by_the_ca() {
    let dir = with_ca("nomad", false);
    let ca_pem = read_pem(&dir.path().join("nomad-agent-ca.pem"));
    let ca = ca_pem.parse_x509().unwrap();
    for (role, server_auth, loopback) in [
        (Role::Server, true, true),
        (Role::Client, true, true),
        (Role::Cli, false, false),
    ] {
        let r = role.name();
        let mut a = args(role);
        a.additional_dnsname = vec!["nomad.example".into()];
        a.additional_ipaddress = vec!["10.0.0.7".parse().unwrap()];
        let lines = create(dir.path(), &a).unwrap();
        let saved = format!("Certificate saved to global-{r}-nomad.pem");
        assert!(lines.iter().any(|l| l.ends_with(&saved)), "{lines:?}");
        assert_eq!(lines[0].starts_with("==> WARNING"), role == Role::Server);

        let pem = read_pem(&dir.path().join(format!("global-{r}-nomad.pem")));
        let cert = pem.parse_x509().unwrap();
        assert_eq!(cert.issuer(), ca.subject());
        cert.verify_signature(Some(ca.public_key())).unwrap();
        assert!(!cert.is_ca());
        let (dns, ips) = names(&cert);
        let own = format!("{r}.global.nomad");
        assert_eq!(dns, [own.as_str(), "localhost", "nomad.example"]);
        let mut want_ips = vec![vec![10, 0, 0, 7]];
        if loopback {
            want_ips.insert(0, vec![127, 0, 0, 1]);
        }
        assert_eq!(ips, want_ips, "{r}");
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth, "{r}");
        assert_eq!(eku.server_auth, server_auth, "{r}");

        let key = dir.path().join(format!("global-{r}-nomad-key.pem"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let key = KeyPair::from_pem(&std::fs::read_to_string(key).unwrap()).unwrap();
        assert_eq!(
            cert.public_key().subject_public_key.data.as_ref(),
            key.public_key_raw()
        );

        let again = create(dir.path(), &a).unwrap_err().to_string();
        assert!(again.contains("already exists"), "{again}");
    }
}

#[test]
fn exactly_one_role_flag() {
    let dir = with_ca("nomad", false);
    let mut none = args(Role::Server);
    none.server = false;
    let mut two = args(Role::Server);
    two.cli = true;
    for a in [none, two] {
        let err = create(dir.path(), &a).unwrap_err().to_string();
        assert!(
            err.contains("Exactly one of -server, -client or -cli"),
            "{err}"
        );
    }
}

#[test]
fn missing_or_mismatched_ca_files_are_refused() {
    let dir = with_ca("nomad", false);
    let mut a = args(Role::Client);
    a.domain = "other".into();
    let err = create(dir.path(), &a).unwrap_err().to_string();
    assert!(err.contains("other-agent-ca.pem not found"), "{err}");
    assert!(err.contains("nomadctl tls ca create"), "{err}");

    // The key of another CA would sign certificates that no agent accepts.
    let other = with_ca("nomad", false);
    a.ca = Some(dir.path().join("nomad-agent-ca.pem").display().to_string());
    a.key = Some(
        other
            .path()
            .join("nomad-agent-ca-key.pem")
            .display()
            .to_string(),
    );
    let err = create(dir.path(), &a).unwrap_err().to_string();
    assert!(err.contains("does not belong"), "{err}");
    assert!(!dir.path().join("global-client-other.pem").exists());
}

#[test]
fn chains_verify_as_rustls_would_within_the_name_constraint() {
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
    use webpki::{anchor_from_trusted_cert, EndEntityCert, KeyUsage};
    let dir = with_ca("nomad", true);
    let ca_der = CertificateDer::from(read_pem(&dir.path().join("nomad-agent-ca.pem")).contents);
    let anchors = [anchor_from_trusted_cert(&ca_der).unwrap()];
    let verify = |file: &str, usage: KeyUsage, name: &str| {
        let der = CertificateDer::from(read_pem(&dir.path().join(file)).contents);
        let cert = EndEntityCert::try_from(&der).unwrap();
        let algs = [webpki::ring::ECDSA_P256_SHA256];
        cert.verify_for_usage(&algs, &anchors, &[], UnixTime::now(), usage, None, None)
            .map(|_| ())
            .and_then(|()| {
                cert.verify_is_valid_for_subject_name(&ServerName::try_from(name).unwrap())
            })
    };
    create(dir.path(), &args(Role::Server)).unwrap();
    verify(
        "global-server-nomad.pem",
        KeyUsage::server_auth(),
        "server.global.nomad",
    )
    .unwrap();
    verify(
        "global-server-nomad.pem",
        KeyUsage::client_auth(),
        "localhost",
    )
    .unwrap();
    verify(
        "global-server-nomad.pem",
        KeyUsage::server_auth(),
        "127.0.0.1",
    )
    .unwrap();
    create(dir.path(), &args(Role::Cli)).unwrap();
    verify(
        "global-cli-nomad.pem",
        KeyUsage::client_auth(),
        "cli.global.nomad",
    )
    .unwrap();
    let err = verify(
        "global-cli-nomad.pem",
        KeyUsage::server_auth(),
        "cli.global.nomad",
    );
    assert!(
        matches!(err, Err(webpki::Error::RequiredEkuNotFoundContext(_))),
        "{err:?}"
    );

    // The CA may only vouch for names under its domain (and localhost).
    let mut outside = args(Role::Client);
    outside.additional_dnsname = vec!["nomad.example".into()];
    create(dir.path(), &outside).unwrap();
    let err = verify(
        "global-client-nomad.pem",
        KeyUsage::server_auth(),
        "localhost",
    );
    assert!(
        matches!(err, Err(webpki::Error::NameConstraintViolation)),
        "{err:?}"
    );
}

#[test]
fn output_matches_nomads() {
    let lines = render(Role::Cli, "ca.pem", "ca-key.pem", "c.pem", "c-key.pem");
    assert_eq!(
        lines,
        [
            "==> Using CA file ca.pem and CA key ca-key.pem",
            "==> Cli Certificate saved to c.pem",
            "==> Cli Certificate key saved to c-key.pem",
        ]
    );
}
