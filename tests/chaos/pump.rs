//! The harness's inbox: every report, from this process's actors and from
//! the children's stdout, goes through the [`Pump`].

use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use super::coordinator::Command;
use super::ledger::{self, Ledger};
use super::report::Report;

/// Takes the reports in, records them, and passes login requests to the
/// coordinator.
pub struct Pump {
    pub reports: Receiver<Report>,
    pub ledger: ledger::Shared,
    pub coordinator: Option<Sender<Command>>,
}

impl Pump {
    fn take(&self, report: Report) {
        if let (Report::Relogin { .. }, Some(coordinator)) = (&report, &self.coordinator) {
            let _ = coordinator.send(Command::Relogin);
        }
        ledger::lock(&self.ledger).record(report);
    }

    pub fn run_for(&self, duration: Duration) {
        let _ = self.until(duration, |_| false);
    }

    /// Takes reports until `done` holds (true) or `limit` passed (false).
    pub fn until(&self, limit: Duration, done: impl Fn(&Ledger) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if done(&ledger::lock(&self.ledger)) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self
                .reports
                .recv_timeout(left.min(Duration::from_millis(50)))
            {
                Ok(report) => self.take(report),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return done(&ledger::lock(&self.ledger));
                }
            }
        }
    }

    /// Takes what is left, once every reporter has stopped.
    pub fn drain(&self) {
        while let Ok(report) = self.reports.try_recv() {
            self.take(report);
        }
    }
}
