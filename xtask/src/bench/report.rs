//! The benchmark's results: a markdown table (printed, and written to `target/bench/`), the ratios
//! imgpull/peer, issue 7's targets side by side with the measurements, and the same as JSON.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::cases::Case;
use super::image::GeneratedImage;
use super::measure::{Sample, Spread};

/// Peak RSS every imgpull run must stay under (issue 7), KiB.
const RSS_LIMIT_KIB: u64 = 30 << 10;

/// Where a target comes from, which decides the table it is printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// One of issue 7's targets, as the issue words it.
    Issue,
    /// Not in issue 7: an issue 7 limit with durability matched on both sides.
    Durability,
    /// Not in issue 7: more evidence for one of its targets.
    Evidence,
}

impl Origin {
    const ALL: [Self; 3] = [Self::Issue, Self::Durability, Self::Evidence];

    fn heading(self) -> &'static str {
        match self {
            Self::Issue => "Targets of issue 7 (its literal targets)",
            Self::Durability => "With --sync: the archive fsynced too (not targets of issue 7)",
            Self::Evidence => "Further evidence (not targets of issue 7)",
        }
    }

    fn explanation(self) -> &'static str {
        match self {
            Self::Issue => {
                "imgpull with its defaults (the cache fsynced, the archive renamed into place \
                 without an fsync, as docker save -o and skopeo copy to docker-archive write \
                 theirs) against references that do not fsync their output either (oci-client, \
                 skopeo → docker-archive, `cat`)."
            }
            Self::Durability => {
                "The same limits for `imgpull --sync`, which also fsyncs the archive before its \
                 rename: against `cat` + fsync for the warm case (like for like), and against \
                 the peers, which do not fsync, for the cold case (so imgpull does more work)."
            }
            Self::Evidence => {
                "Peak RSS against the number of layers, at the same layer size (issue 7 asks for \
                 a peak independent of the image's size)."
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Issue => "issue-7",
            Self::Durability => "like-for-like-durability",
            Self::Evidence => "further-evidence",
        }
    }
}

/// What a target measures.
#[derive(Debug)]
enum Criterion {
    /// imgpull's median wall time over the sum of the references' medians is at most `limit` (a
    /// limit below 1 is "at least 1/limit times faster").
    Time {
        imgpull: &'static str,
        references: &'static [&'static str],
        limit: f64,
    },
    /// Every imgpull run peaks at most at [`RSS_LIMIT_KIB`].
    RssCeiling,
    /// The peak RSS of `case` is at most `limit` times that of `reference`.
    RssGrowth {
        case: &'static str,
        reference: &'static str,
        limit: f64,
    },
}

/// One row of the targets tables.
#[derive(Debug)]
struct Target {
    text: &'static str,
    origin: Origin,
    criterion: Criterion,
}

/// A [`Criterion::Time`] target.
const fn time(
    text: &'static str,
    origin: Origin,
    imgpull: &'static str,
    references: &'static [&'static str],
    limit: f64,
) -> Target {
    Target {
        text,
        origin,
        criterion: Criterion::Time {
            imgpull,
            references,
            limit,
        },
    }
}

/// A [`Criterion::RssGrowth`] target: a peak at most 1.25 times the reference's.
const fn rss_growth(
    text: &'static str,
    origin: Origin,
    case: &'static str,
    reference: &'static str,
) -> Target {
    Target {
        text,
        origin,
        criterion: Criterion::RssGrowth {
            case,
            reference,
            limit: 1.25,
        },
    }
}

/// Every target, each table's rows in the order printed.
const TARGETS: &[Target] = &[
    time(
        "big cold, docker archive: ≤ 1.2× oci-client fetching the blobs",
        Origin::Issue,
        "imgpull/big/cold",
        &["oci-client/big"],
        1.2,
    ),
    time(
        "big cold, docker archive: ≥ 5× faster than skopeo docker-archive",
        Origin::Issue,
        "imgpull/big/cold",
        &["skopeo-archive/big"],
        0.2,
    ),
    time(
        "big cold, --format oci: no slower than oci-client",
        Origin::Issue,
        "imgpull/big/oci",
        &["oci-client/big"],
        1.0,
    ),
    time(
        "many cold: no slower than oci-client",
        Origin::Issue,
        "imgpull/many/cold",
        &["oci-client/many"],
        1.0,
    ),
    time(
        "many cold: ≥ 2.5× faster than skopeo docker-archive",
        Origin::Issue,
        "imgpull/many/cold",
        &["skopeo-archive/many"],
        0.4,
    ),
    time(
        "big warm: ≤ 1.5× cat of the archive into a new file",
        Origin::Issue,
        "imgpull/big/warm",
        &["cat/big"],
        1.5,
    ),
    time(
        "big2 after big: ≤ 1.5× (big warm + curl of the 2 new layers)",
        Origin::Issue,
        "imgpull/big2/after-big",
        &["imgpull/big/warm", "curl/big2-new"],
        1.5,
    ),
    time(
        "big cold, --uncompressed-layers: ≥ 2× faster than skopeo docker-archive",
        Origin::Issue,
        "imgpull/big/uncompressed",
        &["skopeo-archive/big"],
        0.5,
    ),
    Target {
        text: "peak RSS of every imgpull run ≤ 30 MiB",
        origin: Origin::Issue,
        criterion: Criterion::RssCeiling,
    },
    rss_growth(
        "peak RSS independent of image size: double (2× big) within 1.25× of big, cold",
        Origin::Issue,
        "imgpull/double/cold",
        "imgpull/big/cold",
    ),
    time(
        "big warm --sync: ≤ 1.5× cat + fsync",
        Origin::Durability,
        "imgpull/big/warm-sync",
        &["cat-sync/big"],
        1.5,
    ),
    time(
        "big cold --sync: ≥ 5× faster than skopeo docker-archive",
        Origin::Durability,
        "imgpull/big/cold-sync",
        &["skopeo-archive/big"],
        0.2,
    ),
    time(
        "big cold --sync: ≤ 1.2× oci-client",
        Origin::Durability,
        "imgpull/big/cold-sync",
        &["oci-client/big"],
        1.2,
    ),
    rss_growth(
        "peak RSS independent of layer count: many4 (4× the layers) within 1.25× of many, cold",
        Origin::Evidence,
        "imgpull/many4/cold",
        "imgpull/many/cold",
    ),
];

/// A target's measurement: the table's cells, and the same as JSON.
struct Outcome {
    measured: String,
    limit: String,
    met: bool,
    json: Value,
}

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
        for origin in Origin::ALL {
            let _ = writeln!(
                text,
                "\n## {}\n\n{}\n",
                origin.heading(),
                origin.explanation()
            );
            let _ = writeln!(text, "| target | measured | limit | met |");
            let _ = writeln!(text, "| --- | --- | --- | --- |");
            for target in TARGETS.iter().filter(|target| target.origin == origin) {
                if let Some(outcome) = self.evaluate(target) {
                    let _ = writeln!(
                        text,
                        "| {} | {} | {} | {} |",
                        target.text,
                        outcome.measured,
                        outcome.limit,
                        yes_no(outcome.met)
                    );
                }
            }
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
                let outcome = self.evaluate(target)?;
                let mut json = outcome.json;
                json["target"] = target.text.into();
                json["origin"] = target.origin.name().into();
                json["met"] = outcome.met.into();
                Some(json)
            })
            .collect()
    }

    /// Measures `target`; `None` when a case it needs was not run.
    fn evaluate(&self, target: &Target) -> Option<Outcome> {
        let mib = |kib: u64| kib as f64 / 1024.0;
        Some(match target.criterion {
            Criterion::Time {
                imgpull,
                references,
                limit,
            } => {
                let ratio = self.ratio(imgpull, references)?;
                Outcome {
                    measured: format!("{ratio:.2}"),
                    limit: format!("{limit:.2}"),
                    met: ratio <= limit,
                    json: json!({
                        "imgpull": imgpull, "references": references, "ratio": ratio, "limit": limit,
                    }),
                }
            }
            Criterion::RssCeiling => {
                let (worst, case) = self.worst_rss();
                Outcome {
                    measured: format!("{:.1} MiB ({case})", mib(worst)),
                    limit: format!("{:.0} MiB", mib(RSS_LIMIT_KIB)),
                    met: worst <= RSS_LIMIT_KIB,
                    json: json!({
                        "case": case, "peak_rss_kib": worst, "limit_kib": RSS_LIMIT_KIB,
                    }),
                }
            }
            Criterion::RssGrowth {
                case,
                reference,
                limit,
            } => {
                let peak = self.find(case)?.peak_rss_kib();
                let reference_peak = self.find(reference)?.peak_rss_kib();
                let ratio = peak as f64 / reference_peak as f64;
                Outcome {
                    measured: format!("{:.1} vs {:.1} MiB", mib(peak), mib(reference_peak)),
                    limit: format!("{limit:.2}×"),
                    met: ratio <= limit,
                    json: json!({
                        "case": case, "reference": reference, "peak_rss_kib": peak,
                        "reference_peak_rss_kib": reference_peak, "ratio": ratio, "limit": limit,
                    }),
                }
            }
        })
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
            Action::Cat { sync: false }
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
        // 3 timed targets whose cases ran, the 30 MiB ceiling and double vs big.
        assert_eq!(json["targets"].as_array().map(Vec::len), Some(5));
        assert_eq!(json["targets"][3]["peak_rss_kib"], 40 << 10);
        assert_eq!(json["targets"][4]["ratio"], 1.25);
        assert_eq!(json["targets"][4]["origin"], "issue-7");
        assert_eq!(json["ratios"][0]["peer"], "oci-client");
    }

    #[test]
    fn like_for_like_rows_are_apart_from_the_issues_targets() {
        let report = report(vec![
            result("imgpull/big/warm", &[3.0], 10 << 10),
            result("imgpull/big/warm-sync", &[3.0], 10 << 10),
            result("cat/big", &[1.0], 1 << 10),
            result("cat-sync/big", &[2.0], 1 << 10),
            result("imgpull/many/cold", &[1.0], 20 << 10),
            result("imgpull/many4/cold", &[1.0], 26 << 10),
        ]);
        let markdown = report.markdown();
        let issue = markdown.find("## Targets of issue 7").unwrap();
        let durability = markdown.find("## With --sync").unwrap();
        let evidence = markdown.find("## Further evidence").unwrap();
        let row = |text: &str| {
            markdown
                .find(text)
                .unwrap_or_else(|| panic!("no row {text:?} in {markdown}"))
        };
        let literal =
            row("| big warm: ≤ 1.5× cat of the archive into a new file | 3.00 | 1.50 | **no** |");
        let durable = row("| big warm --sync: ≤ 1.5× cat + fsync | 1.50 | 1.50 | yes |");
        let layers = row("within 1.25× of many, cold | 26.0 vs 20.0 MiB | 1.25× | **no** |");
        assert!(issue < literal && literal < durability);
        assert!(durability < durable && durable < evidence);
        assert!(evidence < layers);
        let json = report.json();
        let origins: Vec<&str> = json["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|target| target["origin"].as_str().unwrap())
            .collect();
        assert_eq!(
            origins,
            [
                "issue-7",
                "issue-7",
                "like-for-like-durability",
                "further-evidence"
            ]
        );
    }
}
