//! Integration tests of `imgpull-reference`, one binary with a module per topic.

// Tests state their expectations with `unwrap`; a failure is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod descriptor;
mod digest;
mod errors;
mod platform;
mod properties;
mod table;
