//! The benchmark's results: a markdown table (printed, and written to `target/bench/`), the ratios
//! imgpull/peer, issue 7's targets side by side with the measurements, and the same as JSON.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::cases::Case;
use super::image::GeneratedImage;
use super::measure::{Sample, Spread};

/// Peak RSS every imgpull run must stay under (issue 7), KiB.
const RSS_LIMIT_KIB: u64 = 30 << 10;

/// A target of issue 7: imgpull's median wall time over the sum of the references' medians must
/// be at most `limit` (a limit below 1 is "at least 1/limit times faster").
struct Target {
    text: &'static str,
    imgpull: &'static str,
    references: &'static [&'static str],
    limit: f64,
}

const TARGETS: &[Target] = &[
    Target {
        text: "big cold, docker archive: ≤ 1.2× oci-client fetching the blobs",
        imgpull: "imgpull/big/cold",
        references: &["oci-client/big"],
        limit: 1.2,
    },
    Target {
        text: "big cold, docker archive: ≥ 5× faster than skopeo docker-archive",
        imgpull: "imgpull/big/cold",
        references: &["skopeo-archive/big"],
        limit: 0.2,
    },
    Target {
        text: "big cold, --format oci: no slower than oci-client",
        imgpull: "imgpull/big/oci",
        references: &["oci-client/big"],
        limit: 1.0,
    },
    Target {
        text: "many cold: no slower than oci-client",
        imgpull: "imgpull/many/cold",
        references: &["oci-client/many"],
        limit: 1.0,
    },
    Target {
        text: "many cold: ≥ 2.5× faster than skopeo docker-archive",
        imgpull: "imgpull/many/cold",
        references: &["skopeo-archive/many"],
        limit: 0.4,
    },
    Target {
        text: "big warm: ≤ 1.5× cat of the archive into a new file",
        imgpull: "imgpull/big/warm",
        references: &["cat/big"],
        limit: 1.5,
    },
    Target {
        text: "big2 after big: ≤ 1.5× (big warm + curl of the 2 new layers)",
        imgpull: "imgpull/big2/after-big",
        references: &["imgpull/big/warm", "curl/big2-new"],
        limit: 1.5,
    },
    Target {
        text: "big cold, --uncompressed-layers: ≥ 2× faster than skopeo docker-archive",
        imgpull: "imgpull/big/uncompressed",
        references: &["skopeo-archive/big"],
        limit: 0.5,
    },
];

/// Peers each cold imgpull pull is compared with, per image.
const PEERS: &[&str] = &["oci-client", "skopeo-archive", "skopeo-dir", "curl"];

/// The measurements of one case.
#[derive(Debug)]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// The commands of its first run.
    pub commands: Vec<String>,
    /// One sample per run.
    pub samples: Vec<Sample>,
}

impl CaseResult {
    fn spread(&self, metric: impl Fn(&Sample) -> f64) -> Spread {
        Spread::of(self.samples.iter().map(metric)).unwrap_or(Spread {
            median: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        })
    }

    fn wall(&self) -> f64 {
        self.spread(|sample| sample.wall).median
    }

    fn peak_rss_kib(&self) -> u64 {
        self.samples
            .iter()
            .map(|sample| sample.max_rss_kib)
            .max()
            .unwrap_or(0)
    }
}

/// Everything a benchmark run produced.
#[derive(Debug)]
pub struct Report {
    /// A line describing the machine.
    pub machine: String,
    /// Which imgpull was measured: its path and the source revision.
    pub imgpull: String,
    /// Load averages when the timed runs started and ended.
    pub load: (String, String),
    /// Runs per case.
    pub runs: usize,
    /// Whether this was `--quick`.
    pub quick: bool,
    /// The images, in plan order.
    pub images: Vec<GeneratedImage>,
    /// The results, in case order.
    pub results: Vec<CaseResult>,
    /// Things the checks noticed.
    pub notes: Vec<String>,
}

impl Report {
    fn find(&self, id: &str) -> Option<&CaseResult> {
        self.results.iter().find(|result| result.case.id == id)
    }

    /// imgpull's median over the sum of the references' medians.
    fn ratio(&self, imgpull: &str, references: &[&str]) -> Option<f64> {
        let numerator = self.find(imgpull)?.wall();
        let mut denominator = 0.0;
        for reference in references {
            denominator += self.find(reference)?.wall();
        }
        Some(numerator / denominator)
    }

    /// The report as markdown.
    pub fn markdown(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "# imgpull benchmark{}\n",
            if self.quick {
                " (--quick: harness check, numbers meaningless)"
            } else {
                ""
            }
        );
        let _ = writeln!(text, "- machine: {}", self.machine);
        let _ = writeln!(text, "- imgpull: {}", self.imgpull);
        let _ = writeln!(
            text,
            "- load average (1, 5, 15 min) at start: {}; at end: {}",
            self.load.0, self.load.1
        );
        let _ = writeln!(
            text,
            "- runs per case: {} (rounds: every case once per round); registry and client on the same cores, TLS on 127.0.0.1",
            self.runs
        );
        for image in &self.images {
            let _ = writeln!(
                text,
                "- image `{}`: {} layers, {:.1} MB of blobs ({:.1} MB uncompressed)",
                image.name,
                image.layers.len(),
                image.blob_bytes() as f64 / 1e6,
                image.uncompressed as f64 / 1e6
            );
        }
        let _ = writeln!(
            text,
            "\n| case | wall s, median (min–max) | client CPU s (user+sys) | registry CPU s | peak RSS MiB |"
        );
        let _ = writeln!(text, "| --- | --- | --- | --- | --- |");
        for result in &self.results {
            let wall = result.spread(|sample| sample.wall);
            let _ = writeln!(
                text,
                "| {} | {:.2} ({:.2}–{:.2}) | {:.2} | {:.2} | {:.1} |",
                result.case.label,
                wall.median,
                wall.min,
                wall.max,
                result.spread(Sample::cpu).median,
                result.spread(|sample| sample.server_cpu).median,
                result.peak_rss_kib() as f64 / 1024.0
            );
        }
        let _ = writeln!(
            text,
            "\n## imgpull / peer (median wall times; below 1 = imgpull faster)\n"
        );
        let _ = writeln!(text, "| image | peer | imgpull/peer |");
        let _ = writeln!(text, "| --- | --- | --- |");
        for image in ["big", "many"] {
            for peer in PEERS {
                if let Some(ratio) = self.ratio(
                    &format!("imgpull/{image}/cold"),
                    &[&format!("{peer}/{image}")],
                ) {
                    let _ = writeln!(text, "| {image} | {peer} | {ratio:.2} |");
                }
            }
        }
        let _ = writeln!(text, "\n## Targets of issue 7\n");
        let _ = writeln!(text, "| target | imgpull/reference | limit | met |");
        let _ = writeln!(text, "| --- | --- | --- | --- |");
        for target in TARGETS {
            if let Some(ratio) = self.ratio(target.imgpull, target.references) {
                let _ = writeln!(
                    text,
                    "| {} | {ratio:.2} | {:.2} | {} |",
                    target.text,
                    target.limit,
                    yes_no(ratio <= target.limit)
                );
            }
        }
        let (worst, worst_case) = self.worst_rss();
        let _ = writeln!(
            text,
            "| peak RSS of every imgpull run ≤ 30 MiB | {:.1} MiB ({worst_case}) | 30 MiB | {} |",
            worst as f64 / 1024.0,
            yes_no(worst <= RSS_LIMIT_KIB)
        );
        if let (Some(big), Some(double)) = (
            self.find("imgpull/big/cold"),
            self.find("imgpull/double/cold"),
        ) {
            let _ = writeln!(
                text,
                "| peak RSS independent of image size: double (2× big) within 1.25× of big, cold | {:.1} vs {:.1} MiB | 1.25× | {} |",
                double.peak_rss_kib() as f64 / 1024.0,
                big.peak_rss_kib() as f64 / 1024.0,
                yes_no(double.peak_rss_kib() <= big.peak_rss_kib() + (big.peak_rss_kib() / 4))
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(text, "\n## Notes from the checks\n");
            for note in &self.notes {
                let _ = writeln!(text, "- {note}");
            }
        }
        text
    }

    fn worst_rss(&self) -> (u64, &str) {
        self.results
            .iter()
            .filter(|result| result.case.is_imgpull())
            .map(|result| (result.peak_rss_kib(), result.case.id.as_str()))
            .max()
            .unwrap_or((0, "none"))
    }

    fn ratios_json(&self) -> Vec<Value> {
        let mut ratios = Vec::new();
        for image in ["big", "many"] {
            for peer in PEERS {
                if let Some(ratio) = self.ratio(
                    &format!("imgpull/{image}/cold"),
                    &[&format!("{peer}/{image}")],
                ) {
                    ratios.push(json!({"image": image, "peer": peer, "imgpull_over_peer": ratio}));
                }
            }
        }
        ratios
    }

    fn targets_json(&self) -> Vec<Value> {
        TARGETS
            .iter()
            .filter_map(|target| {
                let ratio = self.ratio(target.imgpull, target.references)?;
                Some(json!({
                    "target": target.text, "imgpull": target.imgpull, "references": target.references,
                    "ratio": ratio, "limit": target.limit, "met": ratio <= target.limit,
                }))
            })
            .collect()
    }

    /// The report as JSON: every sample, the spreads, the ratios and the targets.
    pub fn json(&self) -> Value {
        let spread =
            |spread: Spread| json!({"median": spread.median, "min": spread.min, "max": spread.max});
        json!({
            "machine": self.machine,
            "imgpull": self.imgpull,
            "load_average": {"start": self.load.0, "end": self.load.1},
            "runs": self.runs,
            "quick": self.quick,
            "images": self.images.iter().map(|image| json!({
                "name": image.name,
                "layers": image.layers.len(),
                "blob_bytes": image.blob_bytes(),
                "uncompressed_bytes": image.uncompressed,
            })).collect::<Vec<_>>(),
            "cases": self.results.iter().map(|result| json!({
                "id": result.case.id,
                "label": result.case.label,
                "commands": result.commands,
                "wall_seconds": spread(result.spread(|sample| sample.wall)),
                "cpu_seconds": spread(result.spread(Sample::cpu)),
                "registry_cpu_seconds": spread(result.spread(|sample| sample.server_cpu)),
                "peak_rss_kib": result.peak_rss_kib(),
                "samples": result.samples.iter().map(|sample| json!({
                    "wall": sample.wall, "user": sample.user, "sys": sample.sys,
                    "max_rss_kib": sample.max_rss_kib, "registry_cpu": sample.server_cpu,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "ratios": self.ratios_json(),
            "targets": self.targets_json(),
            "notes": self.notes,
        })
    }
}

fn yes_no(met: bool) -> &'static str {
    if met { "yes" } else { "**no**" }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::cases::Action;
    use super::*;

    fn result(id: &str, walls: &[f64], rss: u64) -> CaseResult {
        let action = if id.starts_with("imgpull") {
            Action::Imgpull {
                image: "big",
                cache: super::super::cases::Cache::Cold,
                extra: Vec::new(),
            }
        } else {
            Action::Cat
        };
        CaseResult {
            case: Case::new(id, id, action),
            commands: Vec::new(),
            samples: walls
                .iter()
                .map(|&wall| Sample {
                    wall,
                    max_rss_kib: rss,
                    ..Sample::default()
                })
                .collect(),
        }
    }

    fn report(results: Vec<CaseResult>) -> Report {
        Report {
            machine: "test".into(),
            imgpull: "imgpull".into(),
            load: ("0".into(), "0".into()),
            runs: 3,
            quick: false,
            images: Vec::new(),
            results,
            notes: vec!["a note".into()],
        }
    }

    #[test]
    fn targets_compare_medians_and_sum_references() {
        let report = report(vec![
            result("imgpull/big/cold", &[1.0, 9.0, 2.0], 20 << 10),
            result("oci-client/big", &[2.0, 2.0, 2.0], 50 << 10),
            result("skopeo-archive/big", &[10.0, 10.0, 10.0], 50 << 10),
            result("imgpull/big/warm", &[1.0], 10 << 10),
            result("curl/big2-new", &[1.0], 1 << 10),
            result("imgpull/big2/after-big", &[4.0], 40 << 10),
            result("imgpull/double/cold", &[8.0], 25 << 10),
        ]);
        assert_eq!(
            report.ratio("imgpull/big/cold", &["oci-client/big"]),
            Some(1.0)
        );
        assert_eq!(
            report.ratio(
                "imgpull/big2/after-big",
                &["imgpull/big/warm", "curl/big2-new"]
            ),
            Some(2.0)
        );
        assert_eq!(report.ratio("imgpull/big/cold", &["missing"]), None);
        let markdown = report.markdown();
        assert!(markdown.contains("| big cold, docker archive: ≤ 1.2× oci-client fetching the blobs | 1.00 | 1.20 | yes |"), "{markdown}");
        assert!(markdown.contains("| big cold, docker archive: ≥ 5× faster than skopeo docker-archive | 0.20 | 0.20 | yes |"));
        assert!(markdown.contains(
            "after big: ≤ 1.5× (big warm + curl of the 2 new layers) | 2.00 | 1.50 | **no** |"
        ));
        // The worst imgpull peak is the big2 one (40 MiB); peers' RSS does not count.
        assert!(markdown.contains("| 40.0 MiB (imgpull/big2/after-big) | 30 MiB | **no** |"));
        assert!(
            markdown.contains("| 25.0 vs 20.0 MiB | 1.25× | yes |"),
            "{markdown}"
        );
        assert!(markdown.contains("- a note"));
        let json = report.json();
        assert_eq!(json["cases"][0]["wall_seconds"]["median"], 2.0);
        assert_eq!(json["cases"][0]["wall_seconds"]["max"], 9.0);
        assert_eq!(json["targets"].as_array().map(Vec::len), Some(3));
        assert_eq!(json["ratios"][0]["peer"], "oci-client");
    }
}
