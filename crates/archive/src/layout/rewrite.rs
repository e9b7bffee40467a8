//! Manifests and indexes rewritten to describe what was written.

use imgpull_reference::{Descriptor, media_types};
use serde_json::Value;

use crate::error::ArchiveError;
use crate::image::WrittenLayer;

/// The manifest with its layers described as written and, with `to_oci`, its own and its
/// config's media types made OCI ones.
pub(super) fn rewrite_manifest(
    manifest: &[u8],
    layers: &[WrittenLayer],
    to_oci: bool,
    what: &str,
) -> Result<Vec<u8>, ArchiveError> {
    let mut value: Value = crate::json::parse(manifest, what)?;
    if to_oci {
        set(
            &mut value,
            "mediaType",
            media_types::OCI_IMAGE_MANIFEST,
            what,
        )?;
        let config = value
            .get_mut("config")
            .ok_or_else(|| ArchiveError::invalid(what, "it has no config"))?;
        set(config, "mediaType", media_types::OCI_IMAGE_CONFIG, what)?;
    }
    let entries = value
        .get_mut("layers")
        .and_then(serde_json::Value::as_array_mut)
        .filter(|entries| entries.len() == layers.len())
        .ok_or_else(|| {
            ArchiveError::invalid(what, "layers is not an array of the parsed length")
        })?;
    for (entry, layer) in entries.iter_mut().zip(layers) {
        if layer.written == layer.original {
            continue;
        }
        let object = entry
            .as_object_mut()
            .ok_or_else(|| ArchiveError::invalid(what, "a layers entry is not an object"))?;
        object.insert("mediaType".into(), layer.written.media_type.clone().into());
        if layer.written.digest != layer.original.digest {
            object.insert("digest".into(), layer.written.digest.to_string().into());
            object.insert("size".into(), layer.written.size.into());
            object.remove("urls");
        }
    }
    serde_json::to_vec_pretty(&value).map_err(|source| ArchiveError::Json {
        what: what.to_owned(),
        source,
    })
}

/// The index with the manifests at the given positions replaced by what was written and, with
/// `to_oci`, its media type made the OCI index's.
pub(super) fn rewrite_index(
    index: &[u8],
    replaced: &[(usize, Descriptor)],
    to_oci: bool,
    what: &str,
) -> Result<Vec<u8>, ArchiveError> {
    let mut value: Value = crate::json::parse(index, what)?;
    if to_oci {
        set(&mut value, "mediaType", media_types::OCI_IMAGE_INDEX, what)?;
    }
    for (i, written) in replaced {
        let entry = value
            .get_mut("manifests")
            .and_then(|m| m.get_mut(*i))
            .and_then(Value::as_object_mut)
            .ok_or_else(|| ArchiveError::invalid(what, "a manifests entry is not an object"))?;
        entry.insert("mediaType".into(), written.media_type.clone().into());
        entry.insert("digest".into(), written.digest.to_string().into());
        entry.insert("size".into(), written.size.into());
    }
    serde_json::to_vec_pretty(&value).map_err(|source| ArchiveError::Json {
        what: what.to_owned(),
        source,
    })
}

/// Sets a string field of a JSON object.
fn set(object: &mut Value, field: &str, text: &str, what: &str) -> Result<(), ArchiveError> {
    object
        .as_object_mut()
        .ok_or_else(|| ArchiveError::invalid(what, "it is not a JSON object"))?
        .insert(field.to_owned(), text.into());
    Ok(())
}
