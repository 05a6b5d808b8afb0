//! `tls ca create`: a self-signed certificate authority for the agents' mutual TLS, saved as
//! `<domain>-agent-ca.pem` and `<domain>-agent-ca-key.pem` in the current directory.
//! Also home to the file and validity helpers that `tls cert create` shares.

use anyhow::{bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, GeneralSubtree, IsCa, KeyPair,
    KeyUsagePurpose, NameConstraints, SerialNumber,
};
use std::io::Write;
use std::path::Path;
use time::{Duration, OffsetDateTime};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of days the CA is valid for
    #[arg(long, default_value_t = 1825)]
    pub days: u32,
    /// Domain of the cluster: names the files and, with -name-constraint, what the CA may sign
    #[arg(long, default_value = "nomad")]
    pub domain: String,
    /// Another domain the CA may sign for (with -name-constraint; repeatable)
    #[arg(long = "additional-domain")]
    pub additional_domain: Vec<String>,
    /// Common name of the CA [default: "Nomad Agent CA <serial number>"]
    #[arg(long = "common-name")]
    pub common_name: Option<String>,
    /// Let the CA sign only names under -domain (and -additional-domain) and localhost
    // Nomad's boolean flags also take `=true`/`=false`, as its docs show for this one.
    #[arg(long = "name-constraint", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub name_constraint: bool,
}

pub fn run(args: &Args) -> Result<i32> {
    for line in create(Path::new("."), args)? {
        println!("{line}");
    }
    Ok(0)
}

/// Writes the CA and its key into `dir`; returns the lines to print.
pub(crate) fn create(dir: &Path, args: &Args) -> Result<Vec<String>> {
    file_name_part(&args.domain, "-domain")?;
    if !args.additional_domain.is_empty() && !args.name_constraint {
        bail!("-additional-domain can only be used together with -name-constraint");
    }
    let cert_file = format!("{}-agent-ca.pem", args.domain);
    let key_file = format!("{}-agent-ca-key.pem", args.domain);
    refuse_existing(dir, &[&cert_file, &key_file])?;
    let (cert_pem, key_pem) = generate(args)?;
    write_new(&dir.join(&cert_file), &cert_pem, 0o644)?;
    write_new(&dir.join(&key_file), &key_pem, 0o600)?;
    Ok(render(&cert_file, &key_file))
}

pub(crate) fn render(cert_file: &str, key_file: &str) -> Vec<String> {
    vec![
        format!("==> CA Certificate saved to: {cert_file}"),
        format!("==> CA Certificate key saved to: {key_file}"),
    ]
}

/// The CA certificate and key, both PEM.
fn generate(args: &Args) -> Result<(String, String)> {
    let serial = random_serial()?;
    let mut params = CertificateParams::default();
    // The serial in the default name tells apart CAs made for different clusters.
    let common_name = match &args.common_name {
        Some(name) => name.clone(),
        None => format!("Nomad Agent CA {serial}"),
    };
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
    (params.not_before, params.not_after) = validity(args.days)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    if args.name_constraint {
        let mut permitted = vec![
            GeneralSubtree::DnsName(args.domain.clone()),
            GeneralSubtree::DnsName("localhost".into()),
        ];
        permitted.extend(
            args.additional_domain
                .iter()
                .cloned()
                .map(GeneralSubtree::DnsName),
        );
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: permitted,
            excluded_subtrees: Vec::new(),
        });
    }
    let key = KeyPair::generate().context("Error generating the CA key")?;
    let cert = params
        .self_signed(&key)
        .context("Error creating the CA certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A random positive 128-bit serial number, unique without keeping any record of past ones.
pub(crate) fn random_serial() -> Result<u128> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("Error reading random bytes for the serial number"))?;
    Ok(u128::from_be_bytes(bytes).max(1))
}

/// From a minute ago (agents' clocks are rarely exactly in step) until `days` from now.
pub(crate) fn validity(days: u32) -> Result<(OffsetDateTime, OffsetDateTime)> {
    if days == 0 {
        bail!("-days must be greater than 0");
    }
    let now = OffsetDateTime::now_utc();
    let until = now
        .checked_add(Duration::days(days.into()))
        .with_context(|| format!("-days={days} is too far in the future"))?;
    Ok((now - Duration::minutes(1), until))
}

/// A value that becomes part of a file name must not lead out of the directory.
pub(crate) fn file_name_part(value: &str, flag: &str) -> Result<()> {
    if value.is_empty() || value.contains(['/', '\\']) || value.starts_with('.') {
        bail!("{flag} {value:?} cannot be used in a file name");
    }
    Ok(())
}

/// Checks all files first, so that a refusal leaves nothing half written.
pub(crate) fn refuse_existing(dir: &Path, files: &[&str]) -> Result<()> {
    for file in files {
        if dir.join(file).exists() {
            bail!("{file} already exists; it will not be overwritten");
        }
    }
    Ok(())
}

/// Creates `path` (never overwriting) with `mode`, so a key is private from its first byte.
pub(crate) fn write_new(path: &Path, contents: &str, mode: u32) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .with_context(|| format!("Error creating {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("Error writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::GeneralName;

    fn args() -> Args {
        Args {
            days: 1825,
            domain: "nomad".into(),
            additional_domain: Vec::new(),
            common_name: None,
            name_constraint: false,
        }
    }

    fn parse(pem: &[u8], check: impl FnOnce(&x509_parser::certificate::X509Certificate)) {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem).unwrap();
        check(&pem.parse_x509().unwrap());
    }

    #[test]
    fn writes_a_ca_with_a_private_key_file_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let lines = create(dir.path(), &args()).unwrap();
        assert_eq!(
            lines,
            [
                "==> CA Certificate saved to: nomad-agent-ca.pem",
                "==> CA Certificate key saved to: nomad-agent-ca-key.pem"
            ]
        );
        let cert = std::fs::read(dir.path().join("nomad-agent-ca.pem")).unwrap();
        parse(&cert, |ca| {
            assert!(ca.is_ca());
            assert_eq!(ca.subject(), ca.issuer());
            let cn = ca.subject().iter_common_name().next().unwrap();
            let serial = ca.serial.to_string();
            assert_eq!(cn.as_str().unwrap(), format!("Nomad Agent CA {serial}"));
            assert!(ca.name_constraints().unwrap().is_none());
            ca.verify_signature(None).unwrap();
        });
        let key = std::fs::read_to_string(dir.path().join("nomad-agent-ca-key.pem")).unwrap();
        assert!(KeyPair::from_pem(&key).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(dir.path().join("nomad-agent-ca-key.pem")).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }

        let err = create(dir.path(), &args()).unwrap_err().to_string();
        assert!(err.contains("nomad-agent-ca.pem already exists"), "{err}");
        // Even the key alone blocks a new CA: it would no longer match the certificate.
        std::fs::remove_file(dir.path().join("nomad-agent-ca.pem")).unwrap();
        let err = create(dir.path(), &args()).unwrap_err().to_string();
        assert!(
            err.contains("nomad-agent-ca-key.pem already exists"),
            "{err}"
        );
        assert!(!dir.path().join("nomad-agent-ca.pem").exists());
    }

    #[test]
    fn name_constraint_limits_the_ca_to_its_domains_and_localhost() {
        let dir = tempfile::tempdir().unwrap();
        let a = Args {
            domain: "foo.com".into(),
            additional_domain: vec!["ui.example".into()],
            common_name: Some("Test CA".into()),
            name_constraint: true,
            ..args()
        };
        create(dir.path(), &a).unwrap();
        let cert = std::fs::read(dir.path().join("foo.com-agent-ca.pem")).unwrap();
        parse(&cert, |ca| {
            let cn = ca.subject().iter_common_name().next().unwrap();
            assert_eq!(cn.as_str().unwrap(), "Test CA");
            let nc = ca.name_constraints().unwrap().unwrap();
            assert!(nc.critical);
            let permitted: Vec<String> = nc
                .value
                .permitted_subtrees
                .as_ref()
                .unwrap()
                .iter()
                .map(|s| match s.base {
                    GeneralName::DNSName(n) => n.to_string(),
                    ref other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(permitted, ["foo.com", "localhost", "ui.example"]);
        });
        assert!(dir.path().join("foo.com-agent-ca-key.pem").exists());
    }

    #[test]
    fn bad_flags_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let extra_without_constraint = Args {
            additional_domain: vec!["x".into()],
            ..args()
        };
        assert!(create(dir.path(), &extra_without_constraint).is_err());
        assert!(create(dir.path(), &Args { days: 0, ..args() }).is_err());
        let escaping = Args {
            domain: "../x".into(),
            ..args()
        };
        assert!(create(dir.path(), &escaping).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
