//! Timing whole processes: wall time from the harness's clock; user and system CPU and peak RSS
//! from GNU time (`/usr/bin/time -f`, which reads them from `wait4`); the registry's CPU from
//! `/proc/PID/stat` before and after.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, File};
#[cfg(unix)]
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// GNU time, whose `-f` output the harness parses.
const GNU_TIME: &str = "/usr/bin/time";
/// How often a running command is polled for completion.
const POLL: Duration = Duration::from_millis(2);

/// One command to time.
#[derive(Debug, Clone)]
pub struct Invocation {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(String, OsString)>,
    stdout: Option<PathBuf>,
}

impl Invocation {
    /// `program` with no arguments.
    pub fn new(program: impl Into<OsString>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            stdout: None,
        }
    }

    /// Adds one argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    #[must_use]
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// Sends standard output to a new file at `path` (instead of capturing it).
    #[must_use]
    pub fn stdout_to(mut self, path: PathBuf) -> Self {
        self.stdout = Some(path);
        self
    }

    /// The command as a shell would show it.
    pub fn describe(&self) -> String {
        let mut text = self.program.to_string_lossy().into_owned();
        for arg in &self.args {
            text.push(' ');
            text.push_str(&arg.to_string_lossy());
        }
        if let Some(path) = &self.stdout {
            let _ = write!(text, " > {}", path.display());
        }
        text
    }
}

/// The resources one run used.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Elapsed time, seconds.
    pub wall: f64,
    /// User CPU, seconds (the process and the children it waited for).
    pub user: f64,
    /// System CPU, seconds.
    pub sys: f64,
    /// Peak resident set size, KiB (the largest process).
    pub max_rss_kib: u64,
    /// CPU the registry used meanwhile, seconds.
    pub server_cpu: f64,
}

impl Sample {
    /// Client CPU, user + system.
    pub fn cpu(&self) -> f64 {
        self.user + self.sys
    }

    /// Adds a later step of the same run: times add up, the peak is the larger one.
    fn then(self, next: Self) -> Self {
        Self {
            wall: self.wall + next.wall,
            user: self.user + next.user,
            sys: self.sys + next.sys,
            max_rss_kib: self.max_rss_kib.max(next.max_rss_kib),
            server_cpu: self.server_cpu + next.server_cpu,
        }
    }
}

/// What the harness needs to measure: where to keep GNU time's reports, the registry to watch.
#[derive(Debug)]
pub struct Meter {
    scratch: PathBuf,
    server_pid: u32,
    ticks_per_second: f64,
    timeout: Duration,
}

impl Meter {
    /// A meter writing its reports under `scratch`, watching the registry `server_pid`, killing a
    /// command (and its process group) that runs longer than `timeout`.
    pub fn new(scratch: &Path, server_pid: u32, timeout: Duration) -> Result<Self, String> {
        if !Path::new(GNU_TIME).is_file() {
            return Err(format!(
                "{GNU_TIME} (GNU time) is missing: apt-get install time"
            ));
        }
        let output = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .map_err(|e| format!("cannot run getconf CLK_TCK: {e}"))?;
        let ticks_per_second = String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse::<f64>()
            .map_err(|e| format!("getconf CLK_TCK printed no number: {e}"))?;
        fs::create_dir_all(scratch)
            .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
        Ok(Self {
            scratch: scratch.to_path_buf(),
            server_pid,
            ticks_per_second,
            timeout,
        })
    }

    /// Runs `steps` one after the other and returns their summed sample and each step's stdout
    /// (empty for a step whose stdout went to a file). Fails if a step fails.
    pub fn run(&self, steps: &[Invocation]) -> Result<(Sample, Vec<String>), String> {
        let mut total = Sample::default();
        let mut outputs = Vec::new();
        for step in steps {
            let (sample, stdout) = self.run_one(step)?;
            total = total.then(sample);
            outputs.push(stdout);
        }
        Ok((total, outputs))
    }

    fn run_one(&self, step: &Invocation) -> Result<(Sample, String), String> {
        let report = self.scratch.join("time.txt");
        let captured = self.scratch.join("stdout.txt");
        let errors = self.scratch.join("stderr.txt");
        let stdout_path = step.stdout.clone().unwrap_or_else(|| captured.clone());
        let open = |path: &Path| {
            File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
        };
        let mut command = Command::new(GNU_TIME);
        // Every case talks to the registry on 127.0.0.1 only.
        crate::shell::without_proxy(&mut command)
            .args(["-f", "%U %S %M", "-o"])
            .arg(&report)
            .arg("--")
            .arg(&step.program)
            .args(&step.args)
            .envs(step.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(open(&stdout_path)?)
            .stderr(open(&errors)?);
        // Its own process group, so that a timeout can stop the command and its children.
        #[cfg(unix)]
        command.process_group(0);
        let server_before = self.server_cpu();
        let start = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {GNU_TIME}: {e}"))?;
        let status = loop {
            if let Some(status) = child
                .try_wait()
                .map_err(|e| format!("waiting for `{}`: {e}", step.describe()))?
            {
                break status;
            }
            if start.elapsed() > self.timeout {
                stop(&mut child);
                return Err(format!(
                    "`{}` ran longer than {:?}; killed",
                    step.describe(),
                    self.timeout
                ));
            }
            sleep(POLL);
        };
        let wall = start.elapsed().as_secs_f64();
        let server_cpu = self.server_cpu() - server_before;
        let stderr = fs::read_to_string(&errors).unwrap_or_default();
        if !status.success() {
            return Err(format!(
                "`{}` failed ({status}): {}",
                step.describe(),
                stderr.trim()
            ));
        }
        let text = fs::read_to_string(&report)
            .map_err(|e| format!("cannot read {}: {e}", report.display()))?;
        let (user, sys, max_rss_kib) = parse_time_report(&text).ok_or_else(|| {
            format!(
                "cannot parse GNU time's report {text:?} for `{}`",
                step.describe()
            )
        })?;
        let stdout = if step.stdout.is_some() {
            String::new()
        } else {
            fs::read_to_string(&captured).unwrap_or_default()
        };
        let sample = Sample {
            wall,
            user,
            sys,
            max_rss_kib,
            server_cpu,
        };
        Ok((sample, stdout))
    }

    /// The registry's user + system CPU so far, seconds (0 if it cannot be read).
    fn server_cpu(&self) -> f64 {
        let stat =
            fs::read_to_string(format!("/proc/{}/stat", self.server_pid)).unwrap_or_default();
        parse_proc_cpu_ticks(&stat).map_or(0.0, |ticks| ticks as f64 / self.ticks_per_second)
    }
}

/// Kills a timed-out command: on Unix its whole process group (whose id is the PID of GNU time,
/// which we started), so that the command under GNU time stops too; then reaps it.
fn stop(child: &mut std::process::Child) {
    #[cfg(unix)]
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status();
    #[cfg(not(unix))]
    let _ = child.kill();
    let _ = child.wait();
}

/// Parses the last line of GNU time's `-f "%U %S %M"` report (earlier lines may note a failure).
fn parse_time_report(text: &str) -> Option<(f64, f64, u64)> {
    let mut fields = text.lines().last()?.split_whitespace();
    let user = fields.next()?.parse().ok()?;
    let sys = fields.next()?.parse().ok()?;
    let rss = fields.next()?.parse().ok()?;
    fields.next().is_none().then_some((user, sys, rss))
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line, in clock ticks.
fn parse_proc_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: count from its closing one.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Median, minimum and maximum of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median (the mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`, `None` when there are none.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut values: Vec<f64> = values.into_iter().collect();
        values.sort_by(f64::total_cmp);
        let (&min, &max) = (values.first()?, values.last()?);
        let middle = values.len() / 2;
        let median = if values.len().is_multiple_of(2) {
            f64::midpoint(values[middle - 1], values[middle])
        } else {
            values[middle]
        };
        Some(Self { median, min, max })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// GNU time is there (Linux with the `time` package), and end-to-end tools are not skipped
    /// (`cargo xtask test --unit` on macOS and Windows sets IMGPULL_SKIP_E2E).
    fn meter(name: &str, timeout: Duration) -> Option<(Meter, PathBuf)> {
        if std::env::var_os("IMGPULL_SKIP_E2E").is_some() {
            return None;
        }
        if !Path::new(GNU_TIME).is_file() {
            crate::test::skipped(
                &format!("xtask bench measure test {name}"),
                &format!("needs GNU time at {GNU_TIME}"),
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!("xtask-meter-{name}-{}", std::process::id()));
        let meter = Meter::new(&dir, std::process::id(), timeout).unwrap();
        Some((meter, dir))
    }

    #[test]
    fn measures_commands_and_captures_or_redirects_their_stdout() {
        let Some((meter, dir)) = meter("run", Duration::from_secs(60)) else {
            return;
        };
        let copy = dir.join("copy");
        let steps = [
            Invocation::new("sh").args(["-c", "echo hello; head -c 3000000 /dev/zero | wc -c"]),
            Invocation::new("echo")
                .arg("to a file")
                .stdout_to(copy.clone()),
        ];
        let (sample, stdouts) = meter.run(&steps).unwrap();
        assert_eq!(stdouts, ["hello\n3000000\n", ""]);
        assert_eq!(fs::read_to_string(&copy).unwrap(), "to a file\n");
        assert!(sample.wall > 0.0 && sample.max_rss_kib > 0, "{sample:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failing_command_is_an_error_naming_it() {
        let Some((meter, dir)) = meter("fail", Duration::from_secs(60)) else {
            return;
        };
        let error = meter
            .run(&[Invocation::new("sh").args(["-c", "echo broken >&2; exit 3"])])
            .unwrap_err();
        assert!(
            error.contains("sh -c echo broken >&2; exit 3") && error.contains("broken"),
            "{error}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_command_running_past_the_timeout_is_killed() {
        let Some((meter, dir)) = meter("timeout", Duration::from_millis(300)) else {
            return;
        };
        let error = meter
            .run(&[Invocation::new("sleep").arg("60")])
            .unwrap_err();
        assert!(error.contains("killed"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_gnu_time_reports_including_failures() {
        assert_eq!(
            parse_time_report("1.25 0.40 23456\n"),
            Some((1.25, 0.40, 23456))
        );
        assert_eq!(
            parse_time_report("Command exited with non-zero status 3\n0.01 0.00 4000\n"),
            Some((0.01, 0.0, 4000))
        );
        assert_eq!(parse_time_report("Command terminated by signal 9\n"), None);
        assert_eq!(parse_time_report(""), None);
    }

    #[test]
    fn reads_cpu_ticks_even_with_odd_command_names() {
        let stat =
            "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 0 0";
        assert_eq!(parse_proc_cpu_ticks(stat), Some(325));
        assert_eq!(parse_proc_cpu_ticks("garbage"), None);
    }

    #[test]
    fn spreads_are_median_min_max() {
        let odd = Spread::of([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((odd.median, odd.min, odd.max), (2.0, 1.0, 3.0));
        let even = Spread::of([4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!((even.median, even.min, even.max), (2.5, 1.0, 4.0));
        assert_eq!(Spread::of([]), None);
    }

    #[test]
    fn steps_add_up_and_keep_the_larger_peak() {
        let first = Sample {
            wall: 1.0,
            user: 0.5,
            sys: 0.25,
            max_rss_kib: 100,
            server_cpu: 0.5,
        };
        let second = Sample {
            wall: 2.0,
            user: 1.0,
            sys: 0.5,
            max_rss_kib: 50,
            server_cpu: 0.0,
        };
        let total = first.then(second);
        assert_eq!(
            (total.wall, total.cpu(), total.max_rss_kib, total.server_cpu),
            (3.0, 2.25, 100, 0.5)
        );
    }
}
