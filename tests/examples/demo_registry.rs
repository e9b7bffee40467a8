//! A local registry with a sample image, for `cargo xtask demo`.
//!
//! Starts CNCF distribution on a free 127.0.0.1 port with TLS (a test CA generated now), pushes a
//! generated multi-platform image as `demo/hello:1.0`, prints one JSON line on stdout
//! (`{"host": …, "image": …, "ca_file": …}`), then serves until its standard input closes. The
//! registry process is stopped (by its PID) when this program ends.

use std::io::Read;

use imgpull_tests::image::{IndexSpec, OciLayout};
use imgpull_tests::push::{PushOptions, push};
use imgpull_tests::real::{RegistryConfig, RegistryServer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = RegistryServer::start(RegistryConfig::tls())?;
    let mut layout = OciLayout::temporary()?;
    layout.add_index(&IndexSpec::multi_platform("hello"), "hello")?;
    push(
        &layout,
        "hello",
        &server,
        "demo/hello:1.0",
        &PushOptions::new(),
    )?;
    let announcement = serde_json::json!({
        "host": server.host(),
        "image": server.image_ref("demo/hello:1.0"),
        "ca_file": server.ca_pem_path(),
    });
    println!("{announcement}");
    // Serve until whoever started us closes our stdin (or ends).
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink)?;
    drop(server);
    Ok(())
}
