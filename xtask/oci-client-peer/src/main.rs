//! The oci-client peer of `cargo xtask bench`.
//!
//! `oci-client-peer --ca-file CA.pem --out DIR REFERENCE` resolves REFERENCE's image manifest with
//! the crates.io `oci-client` library, then downloads the config and every layer at the same time,
//! each streamed by `Client::pull_blob` (which verifies the digest) into `DIR/<hex>`. This is what a
//! developer would write with that library to fetch an image; it writes no archive.
//!
//! It prints one line, `blobs=N bytes=B`, so the harness can check it fetched the whole image.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

const USAGE: &str = "usage: oci-client-peer --ca-file CA.pem --out DIR REFERENCE";

struct Args {
    ca_file: PathBuf,
    out: PathBuf,
    reference: String,
}

fn parse_args() -> Result<Args, String> {
    let mut ca_file = None;
    let mut out = None;
    let mut reference = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ca-file" => ca_file = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other if other.starts_with('-') => {
                return Err(format!("unknown option `{other}`\n{USAGE}"));
            }
            other => reference = Some(other.to_owned()),
        }
    }
    match (ca_file, out, reference) {
        (Some(ca_file), Some(out), Some(reference)) => Ok(Args {
            ca_file,
            out,
            reference,
        }),
        _ => Err(USAGE.to_owned()),
    }
}

fn client(ca_file: &Path) -> Result<Client, String> {
    let pem = std::fs::read(ca_file)
        .map_err(|error| format!("cannot read CA file {}: {error}", ca_file.display()))?;
    let config = ClientConfig {
        extra_root_certificates: vec![Certificate {
            encoding: CertificateEncoding::Pem,
            data: pem,
        }],
        ..ClientConfig::default()
    };
    Client::try_from(config).map_err(|error| format!("cannot build the oci-client client: {error}"))
}

async fn fetch(
    client: &Client,
    reference: &Reference,
    descriptor: &OciDescriptor,
    out: &Path,
) -> Result<u64, String> {
    let hex = descriptor
        .digest
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("unsupported digest {}", descriptor.digest))?;
    let path = out.join(hex);
    let file = tokio::fs::File::create(&path)
        .await
        .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
    client
        .pull_blob(reference, descriptor, file)
        .await
        .map_err(|error| format!("pulling blob {}: {error}", descriptor.digest))?;
    u64::try_from(descriptor.size).map_err(|_| format!("negative size for {}", descriptor.digest))
}

async fn pull(args: Args) -> Result<(usize, u64), String> {
    let reference: Reference = args
        .reference
        .parse()
        .map_err(|error| format!("invalid reference {}: {error}", args.reference))?;
    let client = client(&args.ca_file)?;
    let (manifest, _digest) = client
        .pull_image_manifest(&reference, &RegistryAuth::Anonymous)
        .await
        .map_err(|error| format!("resolving {reference}: {error}"))?;
    std::fs::create_dir_all(&args.out)
        .map_err(|error| format!("cannot create {}: {error}", args.out.display()))?;
    let blobs: Vec<&OciDescriptor> = std::iter::once(&manifest.config)
        .chain(&manifest.layers)
        .collect();
    let sizes = futures_util::future::try_join_all(
        blobs
            .iter()
            .map(|descriptor| fetch(&client, &reference, descriptor, &args.out)),
    )
    .await?;
    Ok((blobs.len(), sizes.iter().sum()))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match pull(args).await {
        Ok((blobs, bytes)) => {
            println!("blobs={blobs} bytes={bytes}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("oci-client-peer: {message}");
            ExitCode::FAILURE
        }
    }
}
