//! `spotify-auth profiles [--json]`: every saved profile, and `default`
//! always (it is used when no profile is named, saved or not): its client
//! id, where its login is stored, and whether it is logged in (as `status`
//! decides: no network). The profile in use (`--profile`,
//! `SPOTIFY_AUTH_PROFILE`) is marked `*`; flags and variables that override
//! settings (`--cache`, `--client-id`) apply to it alone.
//!
//! JSON: an array of `{"name", "current" (bool), "saved" (bool),
//! "client_id" (string or null), "client_type" ("public", "confidential" or
//! null), "store" ({"type", "path", "mode", "service", "user",
//! "keychain_unavailable"}, as `status --json`'s, or null), "logged_in" (bool or
//! null when unknown), "error" (string or null)}`.
//!
//! A malformed profile or an unreadable store is listed with its error, and
//! the command then fails (exit 2) naming the first one.

use serde_json::json;

use crate::args::{GlobalArgs, ProfilesArgs};
use crate::exit::Failure;
use crate::paths;
use crate::profile;
use crate::profile_name::ProfileName;
use crate::settings::{self, Need};
use crate::status::Report;

/// One profile's line.
struct Row {
    /// Its name.
    name: ProfileName,
    /// Whether it is the one this command was run with.
    current: bool,
    /// Whether its settings file exists.
    saved: bool,
    /// Its client id, when known.
    client_id: Option<String>,
    /// `public` or `confidential`, when saved.
    client_type: Option<&'static str>,
    /// What its store holds, when the profile could be read.
    report: Option<Report>,
    /// Why the profile or its store could not be read.
    error: Option<Failure>,
}

impl Row {
    /// The row of profile `name`, read as the command would with
    /// `--profile NAME` (the overriding flags only for the current one).
    fn of(name: ProfileName, global: &GlobalArgs, current: bool) -> Self {
        let overrides;
        let global = if current {
            global
        } else {
            overrides = GlobalArgs {
                profile: name.to_string(),
                cache: None,
                client_id: None,
                redirect_uri: None,
            };
            &overrides
        };
        let mut row = Row {
            name,
            current,
            saved: false,
            client_id: None,
            client_type: None,
            report: None,
            error: None,
        };
        match settings::setup(global, Need::AnyProfile) {
            Ok(setup) => {
                row.saved = setup.saved.is_some();
                row.client_id = setup.client_id_or_none(global);
                row.client_type = setup.saved.as_ref().map(|p| p.client_type.as_str());
                let (report, error) = Report::read(&setup);
                row.report = Some(report);
                row.error = error.map(|e| Failure::from_error(&e));
            }
            Err(failure) => row.error = Some(failure),
        }
        row
    }

    /// Logged in, not, or `None` when that cannot be told.
    fn logged_in(&self) -> Option<bool> {
        match (&self.report, &self.error) {
            (Some(report), None) => Some(report.logged_in()),
            _ => None,
        }
    }

    /// The row for `--json`.
    fn to_json(&self) -> serde_json::Value {
        json!({
            "name": self.name.as_str(),
            "current": self.current,
            "saved": self.saved,
            "client_id": self.client_id,
            "client_type": self.client_type,
            "store": self.report.as_ref().map(Report::store_json),
            "logged_in": self.logged_in(),
            "error": self.error.as_ref().map(|f| f.message.clone()),
        })
    }

    /// The cells of the text table.
    fn cells(&self) -> [String; 5] {
        let mark = if self.current { "*" } else { " " };
        let name = format!("{mark} {}", self.name);
        let mut id = self.client_id.clone().unwrap_or_else(|| "-".to_owned());
        if !self.saved && self.error.is_none() {
            id.push_str(" (not saved)");
        }
        let kind = self.client_type.unwrap_or("-").to_owned();
        let store = self
            .report
            .as_ref()
            .map(Report::store_description)
            .unwrap_or_else(|| "-".to_owned());
        let logged_in = match self.logged_in() {
            Some(true) => "yes".to_owned(),
            Some(false) => "no".to_owned(),
            None => "unknown (error)".to_owned(),
        };
        [name, id, kind, logged_in, store]
    }
}

/// Runs `profiles`.
pub fn run(global: &GlobalArgs, args: &ProfilesArgs) -> Result<(), Failure> {
    let current = ProfileName::parse(global.profile.trim())?;
    let config = paths::require_config_dir()?;
    let mut names = profile::saved_names(&paths::profiles_dir(&config))?;
    for always in [ProfileName::default_profile(), current.clone()] {
        if !names.contains(&always) {
            names.push(always);
        }
    }
    names.sort();
    let rows: Vec<Row> = names
        .into_iter()
        .map(|name| {
            let is_current = name == current;
            Row::of(name, global, is_current)
        })
        .collect();

    if args.json {
        let list: Vec<_> = rows.iter().map(Row::to_json).collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        print_table(&rows);
    }
    match rows.into_iter().find_map(|row| row.error) {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

/// The rows as an aligned table with a header line.
fn print_table(rows: &[Row]) {
    let header = [
        "  PROFILE".to_owned(),
        "CLIENT ID".to_owned(),
        "TYPE".to_owned(),
        "LOGGED IN".to_owned(),
        "STORED IN".to_owned(),
    ];
    let cells: Vec<[String; 5]> = std::iter::once(header)
        .chain(rows.iter().map(Row::cells))
        .collect();
    let mut widths = [0usize; 5];
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in &cells {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        println!("{line}");
    }
}
