//! `imgpull cache ls|du|prune|verify|import|clear`: looking after the blob cache.

use std::time::Duration;

use imgpull_blobstore::{BlobstoreError, PruneOptions, Store};

use crate::cli::{CacheCommand, CacheDirArgs};
use crate::config::{self, ConfigFile};
use crate::error::CliError;
use crate::signal::Cancel;
use crate::ui::Ui;

/// How often `prune`, `clear` and `verify` look again whether the pulls using the cache have finished.
const IN_USE_POLL: Duration = Duration::from_millis(200);

/// Runs one cache subcommand (on a blocking thread: it is all file work).
pub async fn run(command: CacheCommand, cancel: Cancel) -> Result<(), CliError> {
    tokio::task::spawn_blocking(move || run_blocking(&command, &cancel)).await?
}

fn run_blocking(command: &CacheCommand, cancel: &Cancel) -> Result<(), CliError> {
    match command {
        CacheCommand::Ls(args) => Ui::cache_listing(&open(args)?.list()?),
        CacheCommand::Du(args) => {
            let store = open(args)?;
            Ui::disk_usage(store.dir(), &store.du()?);
        }
        CacheCommand::Prune(args) => {
            let options = PruneOptions {
                older_than: args.older_than,
                max_size: args.max_size,
                unreferenced: true,
            };
            let store = open(&args.cache)?;
            Ui::prune_report(&when_unused(&store, cancel, || store.prune(&options))?);
        }
        CacheCommand::Verify(args) => {
            let store = open(args)?;
            let report = when_unused(&store, cancel, || store.verify())?;
            Ui::verify_report(&report);
            if !report.corrupt.is_empty() {
                return Err(CliError::CorruptCache(report.corrupt.len()));
            }
        }
        CacheCommand::Import(args) => {
            let store = open(&args.cache)?;
            let report = store.import(&args.archive)?;
            if cancel.is_cancelled() {
                return Err(CliError::Interrupted);
            }
            Ui::import_report(&args.archive, &report);
        }
        CacheCommand::Clear(args) => {
            let store = open(args)?;
            Ui::clear_report(&when_unused(&store, cancel, || store.clear())?);
        }
    }
    Ok(())
}

/// Runs a prune, clear or verify once no pull uses the cache (they hold a lease on it, see
/// [`Store::lease`]): while one does, says so once and tries again until it has finished, or
/// until Ctrl+C.
fn when_unused<T>(
    store: &Store,
    cancel: &Cancel,
    run: impl Fn() -> Result<T, BlobstoreError>,
) -> Result<T, CliError> {
    let mut told = false;
    loop {
        match run() {
            Err(BlobstoreError::InUse { .. }) => {
                if !told {
                    Ui::warning(&format!(
                        "{} is in use by a running pull; waiting for it to finish (Ctrl+C to stop)",
                        store.dir().display()
                    ));
                    told = true;
                }
                if cancel.is_cancelled() {
                    return Err(CliError::Interrupted);
                }
                std::thread::sleep(IN_USE_POLL);
            }
            result => return Ok(result?),
        }
    }
}

fn open(args: &CacheDirArgs) -> Result<Store, CliError> {
    let config = ConfigFile::load(args.config.as_deref())?;
    Ok(Store::open(config::cache_dir(
        args.cache_dir.as_deref(),
        &config,
    )?)?)
}
