//! `imgpull`: pull container images from any Docker or OCI registry without a Docker daemon.

fn main() {}
