//! `tls cert create -server|-client|-cli`: a certificate for one role, signed by the CA that
//! `tls ca create` made, saved as `<region>-<role>-<domain>.pem` and `...-key.pem`.

use crate::commands::tls_ca_create::{
    file_name_part, random_serial, refuse_existing, validity, write_new,
};
use anyhow::{anyhow, bail, Context, Result};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Generate a server certificate
    #[arg(long)]
    pub server: bool,
    /// Generate a client certificate
    #[arg(long)]
    pub client: bool,
    /// Generate a certificate for the command line
    #[arg(long)]
    pub cli: bool,
    /// Path to the CA certificate [default: <domain>-agent-ca.pem]
    #[arg(long)]
    pub ca: Option<String>,
    /// Path to the CA key [default: <domain>-agent-ca-key.pem]
    #[arg(long)]
    pub key: Option<String>,
    /// Number of days the certificate is valid for
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Domain of the cluster
    #[arg(long, default_value = "nomad")]
    pub domain: String,
    /// Region the agent belongs to
    #[arg(long, default_value = "global")]
    pub region: String,
    /// Another DNS name for the certificate (localhost is always included; repeatable)
    #[arg(long = "additional-dnsname")]
    pub additional_dnsname: Vec<String>,
    /// Another IP address for the certificate (127.0.0.1 is included but for -cli; repeatable)
    #[arg(long = "additional-ipaddress")]
    pub additional_ipaddress: Vec<IpAddr>,
}

/// Which certificate: its name, key usages and addresses follow from it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Role {
    Server,
    Client,
    Cli,
}

impl Role {
    fn from_flags(args: &Args) -> Result<Role> {
        match (args.server, args.client, args.cli) {
            (true, false, false) => Ok(Role::Server),
            (false, true, false) => Ok(Role::Client),
            (false, false, true) => Ok(Role::Cli),
            _ => bail!("Exactly one of -server, -client or -cli must be given"),
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
            Role::Cli => "cli",
        }
    }
}

pub fn run(args: &Args) -> Result<i32> {
    for line in create(Path::new("."), args)? {
        println!("{line}");
    }
    Ok(0)
}

/// Signs a certificate with the CA and writes it and its key into `dir`; returns the lines to
/// print. Relative -ca and -key paths are taken from `dir` too.
pub(super) fn create(dir: &Path, args: &Args) -> Result<Vec<String>> {
    let role = Role::from_flags(args)?;
    file_name_part(&args.region, "-region")?;
    file_name_part(&args.domain, "-domain")?;
    let ca_file = args
        .ca
        .clone()
        .unwrap_or_else(|| format!("{}-agent-ca.pem", args.domain));
    let ca_key_file = args
        .key
        .clone()
        .unwrap_or_else(|| format!("{}-agent-ca-key.pem", args.domain));
    let stem = format!("{}-{}-{}", args.region, role.name(), args.domain);
    let (cert_file, key_file) = (format!("{stem}.pem"), format!("{stem}-key.pem"));
    let issuer = load_ca(dir, &ca_file, &ca_key_file)?;
    refuse_existing(dir, &[&cert_file, &key_file])?;
    let (cert_pem, key_pem) = sign(role, args, &issuer)?;
    write_new(&dir.join(&cert_file), &cert_pem, 0o644)?;
    write_new(&dir.join(&key_file), &key_pem, 0o600)?;
    Ok(render(role, &ca_file, &ca_key_file, &cert_file, &key_file))
}

pub(super) fn render(role: Role, ca: &str, ca_key: &str, cert: &str, key: &str) -> Vec<String> {
    let mut lines = Vec::new();
    if role == Role::Server {
        lines.extend(
            [
                "==> WARNING: Server Certificates grants authority to become a",
                "    server and access all state in the cluster including root keys",
                "    and all ACL tokens. Do not distribute them to production hosts",
                "    that are not server nodes. Store them as securely as CA keys.",
            ]
            .map(String::from),
        );
    }
    let title = match role {
        Role::Server => "Server",
        Role::Client => "Client",
        Role::Cli => "Cli",
    };
    lines.push(format!("==> Using CA file {ca} and CA key {ca_key}"));
    lines.push(format!("==> {title} Certificate saved to {cert}"));
    lines.push(format!("==> {title} Certificate key saved to {key}"));
    lines
}

/// The issuer from the CA files, refusing a key that does not belong to the certificate:
/// what it signed would fail verification on every agent.
fn load_ca(dir: &Path, ca_file: &str, key_file: &str) -> Result<Issuer<'static, KeyPair>> {
    let read = |file: &str, what: &str| {
        std::fs::read_to_string(dir.join(file)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow!(
                "{what} {file} not found: create a CA with `nomadctl tls ca create` \
                 or give its path with -ca and -key"
            ),
            _ => anyhow!("Error reading {what} {file}: {e}"),
        })
    };
    let ca_pem = read(ca_file, "CA file")?;
    let key_pem = read(key_file, "CA key")?;
    let key = KeyPair::from_pem(&key_pem).map_err(|e| {
        anyhow!("Error reading CA key {key_file} (an unencrypted PKCS#8 \"PRIVATE KEY\"): {e}")
    })?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes())
        .map_err(|e| anyhow!("Error reading CA file {ca_file}: {e}"))?;
    let ca = pem
        .parse_x509()
        .map_err(|e| anyhow!("Error parsing CA file {ca_file}: {e}"))?;
    if !ca.is_ca() {
        bail!("{ca_file} is not a CA certificate");
    }
    if ca.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        bail!("CA key {key_file} does not belong to the CA certificate {ca_file}");
    }
    Issuer::from_ca_cert_pem(&ca_pem, key)
        .with_context(|| format!("Error parsing CA file {ca_file}"))
}

/// The certificate and its new key, both PEM.
fn sign(role: Role, args: &Args, issuer: &Issuer<'_, KeyPair>) -> Result<(String, String)> {
    let name = format!("{}.{}.{}", role.name(), args.region, args.domain);
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, &name);
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()?.to_be_bytes()));
    (params.not_before, params.not_after) = validity(args.days)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = match role {
        // Clients serve HTTPS too, and servers call each other, so both roles are both ends.
        Role::Server | Role::Client => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        Role::Cli => vec![ExtendedKeyUsagePurpose::ClientAuth],
    };
    let dns = [name.as_str(), "localhost"]
        .into_iter()
        .chain(args.additional_dnsname.iter().map(String::as_str));
    for dns in dns {
        let ia5 = dns
            .try_into()
            .map_err(|_| anyhow!("{dns:?} is not a valid DNS name"))?;
        params.subject_alt_names.push(SanType::DnsName(ia5));
    }
    // The command line only dials out, so its certificate names no address of its own.
    if role != Role::Cli {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        params.subject_alt_names.push(SanType::IpAddress(loopback));
    }
    params.subject_alt_names.extend(
        args.additional_ipaddress
            .iter()
            .map(|ip| SanType::IpAddress(*ip)),
    );
    let key = KeyPair::generate().context("Error generating the key")?;
    let cert = params
        .signed_by(&key, issuer)
        .context("Error signing the certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}
