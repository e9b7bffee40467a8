//! The text of `inspect` and the `cache` commands, on stdout.

use std::path::Path;
use std::time::SystemTime;

use imgpull_blobstore::{ClearReport, DiskUsage, ImportReport, Listing, PruneReport, VerifyReport};
use indicatif::HumanBytes;

use super::{Ui, bytes};
use crate::report::InspectReport;

impl Ui {
    /// Prints an `inspect` description on stdout.
    pub fn inspect(report: &InspectReport) {
        let mut lines = vec![
            format!("Reference:   {}", report.reference),
            format!("Digest:      {}", report.digest),
            format!("Media type:  {}", report.media_type),
        ];
        if !report.platforms.is_empty() {
            lines.push(format!("Platforms:   {}", report.platforms.join(", ")));
        }
        let Some(image) = &report.image else {
            lines.push(
                "Image:       none for linux on this machine's architecture; choose one with --platform".to_owned(),
            );
            Self::lines(lines);
            return;
        };
        if !report.platforms.is_empty() {
            lines.push(format!(
                "Manifest:    {} ({})",
                image.manifest_digest, image.media_type
            ));
        }
        lines.push(format!(
            "Platform:    {}",
            image.platform.as_deref().unwrap_or("unknown")
        ));
        lines.push(format!("Config:      {}", image.config_digest));
        lines.push(format!(
            "Created:     {}",
            image.created.as_deref().unwrap_or("unknown")
        ));
        lines.push(format!("Entrypoint:  {}", json_list(&image.entrypoint)));
        lines.push(format!("Cmd:         {}", json_list(&image.cmd)));
        lines.push(format!(
            "Env:         {} variable{}",
            image.env_count,
            if image.env_count == 1 { "" } else { "s" }
        ));
        if image.labels.is_empty() {
            lines.push("Labels:      none".to_owned());
        } else {
            lines.push("Labels:".to_owned());
            lines.extend(
                image
                    .labels
                    .iter()
                    .map(|(key, value)| format!("  {key}={value}")),
            );
        }
        lines.push(format!(
            "Layers:      {} ({})",
            image.layers.len(),
            HumanBytes(image.total_size)
        ));
        lines.extend(image.layers.iter().map(|layer| {
            format!(
                "  {}  {:>11}  {}",
                layer.digest,
                bytes(layer.size),
                layer.media_type
            )
        }));
        Self::lines(lines);
    }

    /// Prints `cache ls`: images, then blobs most recently used first.
    pub fn cache_listing(listing: &Listing) {
        let mut lines = vec![format!("Images ({}):", listing.images.len())];
        for image in &listing.images {
            lines.push(format!(
                "  {}  {}",
                image
                    .name
                    .as_deref()
                    .or(image.ref_name.as_deref())
                    .unwrap_or("(untagged)"),
                image.registry_manifest().digest
            ));
        }
        let total: u64 = listing.blobs.iter().map(|blob| blob.size).sum();
        lines.push(format!(
            "Blobs ({}, {}):",
            listing.blobs.len(),
            HumanBytes(total)
        ));
        let now = SystemTime::now();
        for blob in &listing.blobs {
            lines.push(format!(
                "  {}  {:>11}  used {}{}",
                blob.digest,
                bytes(blob.size),
                ago(now, blob.last_used),
                if blob.referenced {
                    ""
                } else {
                    "  (unreferenced)"
                }
            ));
        }
        Self::lines(lines);
    }

    /// Prints `cache du`.
    pub fn disk_usage(dir: &Path, usage: &DiskUsage) {
        Self::lines([
            format!("{}", dir.display()),
            format!(
                "  blobs:       {:>11}  ({} files)",
                bytes(usage.blob_bytes),
                usage.blobs
            ),
            format!(
                "  partials:    {:>11}  ({} files)",
                bytes(usage.partial_bytes),
                usage.partials
            ),
            format!("  quarantine:  {:>11}", bytes(usage.quarantine_bytes)),
            format!("  total:       {:>11}", bytes(usage.total_bytes())),
        ]);
    }

    /// Prints `cache prune`.
    pub fn prune_report(report: &PruneReport) {
        let mut lines: Vec<String> = report
            .removed
            .iter()
            .map(|blob| {
                format!(
                    "removed {}  {:>11}  ({:?})",
                    blob.digest,
                    bytes(blob.size),
                    blob.reason
                )
            })
            .collect();
        lines.extend(
            report
                .images_removed
                .iter()
                .map(|image| format!("forgot image {image}")),
        );
        lines.push(format!(
            "Pruned {} blobs and {} partial downloads, freed {}",
            report.removed.len(),
            report.partials_removed,
            HumanBytes(report.bytes_freed)
        ));
        Self::lines(lines);
    }

    /// Prints `cache verify`.
    pub fn verify_report(report: &VerifyReport) {
        let mut lines = vec![format!(
            "Checked {} blobs ({})",
            report.checked,
            HumanBytes(report.bytes)
        )];
        lines.extend(report.corrupt.iter().map(|blob| {
            format!(
                "corrupt {} (content hashes to {}), moved to {}",
                blob.digest,
                blob.actual,
                blob.quarantined.display()
            )
        }));
        lines.extend(
            report
                .unexpected
                .iter()
                .map(|path| format!("unexpected file {}", path.display())),
        );
        lines.extend(
            report
                .missing
                .iter()
                .map(|digest| format!("missing {digest} (pull its image again)")),
        );
        if report.is_clean() {
            lines.push("All blobs are intact".to_owned());
        }
        Self::lines(lines);
    }

    /// Prints `cache clear`.
    pub fn clear_report(report: &ClearReport) {
        Self::lines([format!(
            "Removed {} blobs, freed {}",
            report.blobs,
            HumanBytes(report.bytes_freed)
        )]);
    }

    /// Prints `cache import`.
    pub fn import_report(archive: &Path, report: &ImportReport) {
        let mut lines = vec![format!(
            "Imported {} ({:?})",
            archive.display(),
            report.format
        )];
        for image in &report.images {
            let name = if image.names.is_empty() {
                "(untagged)".to_owned()
            } else {
                image.names.join(", ")
            };
            lines.push(format!(
                "  {name}  config {}  {} layers",
                image.config.digest,
                image.layers.len()
            ));
        }
        lines.push(format!(
            "{} blobs added ({}), {} already cached, {} diff_ids recorded",
            report.blobs_added,
            HumanBytes(report.bytes_added),
            report.blobs_present,
            report.diff_ids_recorded
        ));
        Self::lines(lines);
    }
}

/// `["a", "b"]` as docker shows entrypoints, `none` when empty.
fn json_list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        serde_json::to_string(items).unwrap_or_default()
    }
}

/// `5 minutes ago`, `3 days ago`.
fn ago(now: SystemTime, then: SystemTime) -> String {
    let seconds = now.duration_since(then).unwrap_or_default().as_secs();
    let (value, unit) = match seconds {
        0..60 => return "just now".to_owned(),
        60..3600 => (seconds / 60, "minute"),
        3600..86_400 => (seconds / 3600, "hour"),
        _ => (seconds / 86_400, "day"),
    };
    format!("{value} {unit}{} ago", if value == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ages() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let before = |seconds| now - Duration::from_secs(seconds);
        assert_eq!(ago(now, before(5)), "just now");
        assert_eq!(ago(now, before(60)), "1 minute ago");
        assert_eq!(ago(now, before(7200)), "2 hours ago");
        assert_eq!(ago(now, before(3 * 86_400)), "3 days ago");
        assert_eq!(ago(now, now + Duration::from_secs(9)), "just now");
    }
}
