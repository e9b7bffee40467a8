//! `imgpull tags REPO`: every tag of a repository, one per line (all pages).

use crate::cli::TagsArgs;
use crate::config::ConfigFile;
use crate::error::CliError;
use crate::ui::Ui;

/// Lists the tags of `args.repository` on stdout.
pub async fn run(args: &TagsArgs) -> Result<(), CliError> {
    let config = ConfigFile::load(args.registry.config.as_deref())?;
    let reference = super::parse_reference(&args.repository)?;
    if reference.tag().is_some() || reference.digest().is_some() {
        return Err(CliError::Usage(format!(
            "tags takes a repository, not an image: try `imgpull tags {}`",
            reference.name()
        )));
    }
    let client = super::registry_client(&args.registry, &config, &[reference.registry()])?;
    let tags = client.tags(&reference).await?;
    Ui::lines(&tags);
    Ok(())
}
