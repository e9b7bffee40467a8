//! `imgpull inspect IMAGE`: what an image is, from its manifests and config alone.

use std::collections::BTreeMap;

use imgpull_reference::{Descriptor, Reference, media_types};
use imgpull_registry::{Manifest, PlatformChoice, RegistryError, ResolvedImage};
use serde::Deserialize;

use crate::cli::InspectArgs;
use crate::config::ConfigFile;
use crate::error::CliError;
use crate::report::{InspectImage, InspectLayer, InspectReport};
use crate::ui::Ui;

/// Describes `args.image` (or prints its manifest bytes with `--raw`).
pub async fn run(args: &InspectArgs, ui: Ui) -> Result<(), CliError> {
    let config = ConfigFile::load(args.registry.config.as_deref())?;
    let reference = super::parse_reference(&args.image)?;
    let client = super::registry_client(&args.registry, &config, &[reference.registry()])?;
    if args.raw {
        let manifest = client.manifest(&reference).await?;
        Ui::raw(&manifest.bytes);
        return Ok(());
    }
    let choice = super::platform_choice(args.platform.as_deref(), false, &config)?;
    let report = match client.resolve(&reference, &choice).await {
        Ok(images) => {
            let Some(image) = images.into_iter().next() else {
                return Err(CliError::NoImage(reference.to_string()));
            };
            let top = image
                .index
                .clone()
                .unwrap_or_else(|| image.manifest.clone());
            describe(&reference, &top, Some(&image))
        }
        // Without --platform, an index without this host's platform is still worth showing.
        Err(RegistryError::NoMatchingPlatform { .. }) if choice == PlatformChoice::Host => {
            let top = client.manifest(&reference).await?;
            describe(&reference, &top, None)
        }
        Err(error) => return Err(error.into()),
    };
    if ui.json {
        Ui::json_document(&report);
    } else {
        Ui::inspect(&report);
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
struct IndexJson {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Default, Deserialize)]
struct ConfigJson {
    created: Option<String>,
    #[serde(default)]
    config: Option<RunConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RunConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Builds the report from what the registry served (no further requests): the manifest or
/// index the reference names, and the image chosen from it, if any.
fn describe(reference: &Reference, top: &Manifest, image: Option<&ResolvedImage>) -> InspectReport {
    let platforms = if top.is_index() {
        serde_json::from_slice::<IndexJson>(&top.bytes)
            .map(|index| {
                index
                    .manifests
                    .iter()
                    .filter(|entry| {
                        !entry.is_attestation() && media_types::is_image_manifest(&entry.media_type)
                    })
                    .filter_map(|entry| entry.platform.as_ref().map(ToString::to_string))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    InspectReport {
        reference: reference.to_string(),
        digest: top.digest.to_string(),
        media_type: top.media_type.clone(),
        platforms,
        image: image.map(describe_image),
    }
}

fn describe_image(image: &ResolvedImage) -> InspectImage {
    let config: ConfigJson = serde_json::from_slice(&image.config_bytes).unwrap_or_default();
    let run = config.config.unwrap_or_default();
    InspectImage {
        manifest_digest: image.manifest.digest.to_string(),
        media_type: image.manifest.media_type.clone(),
        platform: image.platform.as_ref().map(ToString::to_string),
        config_digest: image.config.digest.to_string(),
        created: config.created,
        entrypoint: run.entrypoint.unwrap_or_default(),
        cmd: run.cmd.unwrap_or_default(),
        env_count: run.env.map_or(0, |env| env.len()),
        labels: run.labels.unwrap_or_default(),
        layers: image
            .layers
            .iter()
            .map(|layer| InspectLayer {
                digest: layer.digest.to_string(),
                size: layer.size,
                media_type: layer.media_type.clone(),
            })
            .collect(),
        total_size: image.layers.iter().map(|layer| layer.size).sum(),
    }
}
