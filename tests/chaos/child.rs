//! Child processes: this test binary run again with a spec in
//! [`CHILD_VAR`](super::CHILD_VAR). A child runs its actors, takes commands
//! on stdin (`go`, `settle`, `final N`, `done`) and reports on stdout.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::actor::{Actors, Setup};
use super::caches::{CacheSpec, SharedCache};
use super::plan::{ActorPlan, Settings};
use super::report::{self, Report, Reporter};

/// What a child is told to run.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChildSpec {
    pub process: usize,
    pub accounts: String,
    pub cache: CacheSpec,
    pub settings: Settings,
    pub actors: Vec<ActorPlan>,
}

/// The child's side.
pub fn run(spec: &str) {
    let spec: ChildSpec = serde_json::from_str(spec).expect("a child spec");
    super::trace::install();
    let reporter = Reporter::Stdout;
    let cache = SharedCache::new(spec.cache.clone());
    reporter.send(Report::Ready {
        process: spec.process,
    });
    let mut actors = None;
    // A closed stdin (the parent gave up) ends the child like `done`.
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("go"), None) => {
                let setup = Setup {
                    process: spec.process,
                    accounts: &spec.accounts,
                    settings: &spec.settings,
                    cache: &cache,
                    reporter: reporter.clone(),
                };
                actors = Some(Actors::start(&spec.actors, &setup));
            }
            (Some("settle"), None) => actors.as_ref().expect("go first").settle(),
            (Some("final"), Some(round)) => actors
                .as_ref()
                .expect("go first")
                .final_round(round.parse().unwrap()),
            (Some("done"), None) => break,
            _ => panic!("a child got a bad command: {line}"),
        }
    }
    if let Some(actors) = actors {
        actors.finish(&reporter);
    }
    std::io::stdout().flush().unwrap();
}

/// A running child, from the parent's side.
pub struct ChildProcess {
    pub process: usize,
    child: Child,
    stdin: Option<ChildStdin>,
    reader: Option<JoinHandle<String>>,
    errors: Option<JoinHandle<String>>,
}

impl ChildProcess {
    /// Spawns a child for `spec`; its reports go to `reports`.
    pub fn spawn(spec: &ChildSpec, reports: Sender<Report>) -> ChildProcess {
        let mut child = crate::common::spawn_child_with_stdin(
            super::CHILD_VAR,
            serde_json::to_string(spec).unwrap(),
        );
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        // Reports go on; anything else (the test harness's lines) is kept
        // for a failure message.
        let reader = std::thread::spawn(move || {
            let mut other = String::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match report::parse_line(&line) {
                    Some(report) => {
                        let _ = reports.send(report);
                    }
                    None => {
                        other.push_str(&line);
                        other.push('\n');
                    }
                }
            }
            other
        });
        ChildProcess {
            process: spec.process,
            child,
            stdin,
            reader: Some(reader),
            errors: Some(errors),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a command; a child that is gone is noticed at [`wait`](Self::wait).
    pub fn command(&mut self, command: &str) {
        if let Some(stdin) = &mut self.stdin {
            let _ = writeln!(stdin, "{command}").and_then(|()| stdin.flush());
        }
    }

    /// Waits (up to `limit`) for the child to exit after `done`; an error
    /// with its output when it failed or hung (then it is killed).
    pub fn wait(mut self, limit: Duration) -> Result<(), String> {
        drop(self.stdin.take());
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let stdout = self.reader.take().unwrap().join().unwrap_or_default();
        let stderr = self.errors.take().unwrap().join().unwrap_or_default();
        match status {
            Some(s) if s.success() => Ok(()),
            Some(s) => Err(format!(
                "child {} exited with {s}:\n{stdout}\n{stderr}",
                self.process
            )),
            None => Err(format!(
                "child {} did not exit within {limit:?} (killed):\n{stdout}\n{stderr}",
                self.process
            )),
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        // On a failure before `wait`: never leave a child behind.
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
