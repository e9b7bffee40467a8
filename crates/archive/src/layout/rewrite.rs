//! Manifests and indexes rewritten to describe what was written.

use imgpull_reference::Descriptor;

use crate::error::ArchiveError;
use crate::image::{LayerForm, WrittenLayer};

/// The manifest with the layers that were written in another form described as written.
pub(super) fn rewrite_manifest(
    manifest: &[u8],
    layers: &[WrittenLayer],
    what: &str,
) -> Result<Vec<u8>, ArchiveError> {
    let mut value: serde_json::Value = crate::json::parse(manifest, what)?;
    let entries = value
        .get_mut("layers")
        .and_then(serde_json::Value::as_array_mut)
        .filter(|entries| entries.len() == layers.len())
        .ok_or_else(|| {
            ArchiveError::invalid(what, "layers is not an array of the parsed length")
        })?;
    for (entry, layer) in entries.iter_mut().zip(layers) {
        if layer.form == LayerForm::AsStored {
            continue;
        }
        let object = entry
            .as_object_mut()
            .ok_or_else(|| ArchiveError::invalid(what, "a layers entry is not an object"))?;
        object.insert("mediaType".into(), layer.written.media_type.clone().into());
        object.insert("digest".into(), layer.written.digest.to_string().into());
        object.insert("size".into(), layer.written.size.into());
        object.remove("urls");
    }
    serde_json::to_vec_pretty(&value).map_err(|source| ArchiveError::Json {
        what: what.to_owned(),
        source,
    })
}

/// The index with the manifests at the given positions replaced by what was written.
pub(super) fn rewrite_index(
    index: &[u8],
    replaced: &[(usize, Descriptor)],
    what: &str,
) -> Result<Vec<u8>, ArchiveError> {
    let mut value: serde_json::Value = crate::json::parse(index, what)?;
    for (i, written) in replaced {
        let entry = value
            .get_mut("manifests")
            .and_then(|m| m.get_mut(*i))
            .and_then(serde_json::Value::as_object_mut)
            .ok_or_else(|| ArchiveError::invalid(what, "a manifests entry is not an object"))?;
        entry.insert("digest".into(), written.digest.to_string().into());
        entry.insert("size".into(), written.size.into());
    }
    serde_json::to_vec_pretty(&value).map_err(|source| ArchiveError::Json {
        what: what.to_owned(),
        source,
    })
}
