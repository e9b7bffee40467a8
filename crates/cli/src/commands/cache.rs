//! `imgpull cache ls|du|prune|verify|import|clear`: looking after the blob cache.

use imgpull_blobstore::{PruneOptions, Store};

use crate::cli::{CacheCommand, CacheDirArgs};
use crate::config::{self, ConfigFile};
use crate::error::CliError;
use crate::signal::Cancel;
use crate::ui::Ui;

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
            Ui::prune_report(&open(&args.cache)?.prune(&options)?);
        }
        CacheCommand::Verify(args) => {
            let report = open(args)?.verify()?;
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
        CacheCommand::Clear(args) => Ui::clear_report(&open(args)?.clear()?),
    }
    Ok(())
}

fn open(args: &CacheDirArgs) -> Result<Store, CliError> {
    let config = ConfigFile::load(args.config.as_deref())?;
    Ok(Store::open(config::cache_dir(
        args.cache_dir.as_deref(),
        &config,
    )?)?)
}
