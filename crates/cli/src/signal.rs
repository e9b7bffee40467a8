//! Ctrl+C and SIGTERM: one cancellation flag for the whole process.
//!
//! Async work (downloads) is cancelled by dropping its futures at the next await point, which
//! keeps verified blobs and leaves partial downloads resumable. Blocking work (writing the
//! archive) checks the flag through [`CancelWriter`] on every write, so it stops within one
//! buffer and its temporary file is removed by its own error path.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared "the user asked us to stop" flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Raises the flag.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the flag is raised.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Waits for Ctrl+C (SIGINT) or SIGTERM.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A writer that fails every write once [`Cancel`] is raised.
///
/// The error's kind is `Other` on purpose: `Interrupted` would make `write_all` retry forever.
#[derive(Debug)]
pub struct CancelWriter<W> {
    inner: W,
    cancel: Cancel,
}

impl<W> CancelWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W, cancel: Cancel) -> Self {
        Self { inner, cancel }
    }

    /// The wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
    }

    fn check(&self) -> io::Result<()> {
        if self.cancel.is_cancelled() {
            Err(io::Error::other("cancelled by signal"))
        } else {
            Ok(())
        }
    }
}

impl<W: Write> Write for CancelWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check()?;
        self.inner.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.check()?;
        self.inner.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check()?;
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_passes_through_until_cancelled() {
        let cancel = Cancel::default();
        let mut writer = CancelWriter::new(Vec::new(), cancel.clone());
        writer.write_all(b"abc").expect("not cancelled");
        cancel.cancel();
        assert!(writer.write_all(b"def").is_err());
        assert!(writer.flush().is_err());
        assert_eq!(writer.into_inner(), b"abc");
    }
}
