//! One code, one exchange: the coordinator's exchange logins sometimes
//! exchange their code twice at once and again moments later (a callback
//! delivered twice); the fake's records must show one request per code,
//! and every caller the same token.

use std::collections::HashMap;
use std::time::Duration;

use spotify_auth::testing::{FakeSpotify, Fault};
use spotify_auth::{Error, TokenInfo};

use super::auth::{Auth, Expected, expected};
use super::plan::Double;
use super::watcher::short;

/// How a login by exchange went.
pub struct Exchange {
    /// The login's result: a token any of the exchanges returned, else the
    /// last error.
    pub result: spotify_auth::Result<TokenInfo>,
    /// An exchange of the code failed for a passing reason before the
    /// last one: the code may be spent, and a later exchange refused.
    pub retried: bool,
    /// Callers of one code that were told different things.
    pub disagreements: Vec<String>,
}

/// A login by exchange, the code exchanged as `double` says.
pub fn login(auth: &Auth, double: Double, pause: Duration) -> Exchange {
    let code = match auth.authorize() {
        Ok(code) => code,
        Err(e) => {
            return Exchange {
                result: Err(e),
                retried: false,
                disagreements: Vec::new(),
            };
        }
    };
    let mut results: Vec<spotify_auth::Result<TokenInfo>> = match double {
        Double::Once | Double::Later => vec![auth.exchange(code.clone())],
        Double::Concurrent | Double::Both => auth.exchange_twice_at_once(code.clone()).into(),
    };
    let mut disagreements = Vec::new();
    if let [Ok(a), Ok(b)] = &results[..]
        && a.access_token != b.access_token
    {
        disagreements.push(format!(
            "two exchanges of one code at once returned different tokens ({} and {})",
            short(a.access_token.secret()),
            short(b.access_token.secret())
        ));
    }
    if matches!(double, Double::Later | Double::Both) {
        std::thread::sleep(pause);
        let later = auth.exchange(code);
        let earlier = results.iter().find_map(|r| r.as_ref().ok());
        match (earlier, &later) {
            (Some(a), Ok(b)) if a.access_token != b.access_token => disagreements.push(format!(
                "the same code exchanged again moments later returned another token ({} after {})",
                short(b.access_token.secret()),
                short(a.access_token.secret())
            )),
            (Some(_), Err(e)) => disagreements.push(format!(
                "the same code exchanged again moments later failed ({e:?}) after it succeeded"
            )),
            _ => {}
        }
        results.push(later);
    }
    let retried = results.len() > 1
        && results[..results.len() - 1]
            .iter()
            .any(|r| r.as_ref().is_err_and(passing));
    let result = match results.iter().position(Result::is_ok) {
        Some(i) => results.swap_remove(i),
        None => results.pop().unwrap(),
    };
    Exchange {
        result,
        retried,
        disagreements,
    }
}

/// A failure after which the library may send the code again.
fn passing(e: &Error) -> bool {
    expected(e, false) == Expected::Transient || matches!(e, Error::InvalidTokenResponse { .. })
}

/// The fake's side: every code sent once, or again only after an answer
/// that failed (a fault the library saw).
pub fn check(server: &FakeSpotify, timeout: Duration) -> Vec<String> {
    let mut by_code: HashMap<String, Vec<Option<Fault>>> = HashMap::new();
    for request in server.requests() {
        if request.path != "/api/token"
            || request.form_param("grant_type") != Some("authorization_code")
        {
            continue;
        }
        let Some(code) = request.form_param("code") else {
            continue;
        };
        by_code
            .entry(code.to_owned())
            .or_default()
            .push(request.fault.clone());
    }
    let mut violations = Vec::new();
    for (code, faults) in by_code {
        for (i, _) in faults.iter().enumerate().skip(1) {
            let failed_before = faults[..i].iter().any(|f| seen_as_failure(f, timeout));
            if !failed_before {
                violations.push(format!(
                    "one code, one exchange: code {} was sent {} times, the {} time after \
                     answers that did not fail ({:?})",
                    short(&code),
                    faults.len(),
                    i + 1,
                    &faults[..i]
                ));
                break;
            }
        }
    }
    violations
}

/// Whether the library saw this answer as a failure.
fn seen_as_failure(fault: &Option<Fault>, timeout: Duration) -> bool {
    match fault {
        None => false,
        Some(Fault::Delay(d) | Fault::DelayResponse(d)) => *d >= timeout,
        Some(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use spotify_auth::testing::{FakeSpotify, Fault};

    use super::super::{ID, REDIRECT, SECRET};
    use super::check;

    /// The check finds a code sent twice after an answer that did not
    /// fail, and takes one sent again after a failure.
    #[test]
    fn the_exchange_check_counts_the_requests_of_each_code() {
        let server = FakeSpotify::builder()
            .client(ID, Some(SECRET))
            .redirect_uri(REDIRECT)
            .start()
            .unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let post = |code: &str| {
            agent
                .post(server.token_url())
                .send_form([("grant_type", "authorization_code"), ("code", code)])
                .unwrap();
        };
        post("sent-once");
        post("sent-twice");
        post("sent-twice");
        server.inject(Fault::Status(503), 1);
        post("retried-after-a-503");
        post("retried-after-a-503");
        let violations = check(&server, Duration::from_secs(1));
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].contains("sent-twice"), "{violations:?}");
    }
}
