//! The Web API client of the blocking middleware tests: a `ureq::Agent`
//! with `blocking::WebApiMiddleware`, following redirects.

use spotify_auth::blocking::{TokenSource, WebApiMiddleware};
use spotify_auth::middleware::WebApiPolicy;
use ureq::http::header::{AUTHORIZATION, CONTENT_TYPE};

use super::web_api::{Failed, Reply};

/// Bodies larger than this are streamed, and not sent again.
const REPLAY_BODY_LIMIT: usize = 256;

pub struct Api {
    agent: ureq::Agent,
}

impl Api {
    pub fn new(auth: impl TokenSource + 'static, policy: &WebApiPolicy) -> Api {
        let middleware = WebApiMiddleware::with_policy(auth, policy)
            .unwrap()
            .replay_body_limit(REPLAY_BODY_LIMIT);
        // Statuses as responses for every request, as the middleware makes
        // them for those it authorizes.
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(5)
            .middleware(middleware)
            .build()
            .into();
        Api { agent }
    }

    pub fn get(&self, url: &str) -> Result<Reply, Failed> {
        answer(self.agent.get(url).call())
    }

    pub fn get_as(&self, url: &str, authorization: &str) -> Result<Reply, Failed> {
        answer(
            self.agent
                .get(url)
                .header(AUTHORIZATION, authorization)
                .call(),
        )
    }

    /// A POST whose body can be sent again (kept in memory).
    pub fn post_json(&self, url: &str, json: &str) -> Result<Reply, Failed> {
        assert!(json.len() <= REPLAY_BODY_LIMIT);
        answer(
            self.agent
                .post(url)
                .header(CONTENT_TYPE, "application/json")
                .send(json),
        )
    }

    /// A POST whose body cannot be sent again: here, one over the
    /// middleware's replay limit (padded with JSON whitespace).
    pub fn post_streamed(&self, url: &str, json: &str) -> Result<Reply, Failed> {
        let padded = format!("{json}{}", " ".repeat(REPLAY_BODY_LIMIT + 1));
        let mut reader = std::io::Cursor::new(padded.into_bytes());
        answer(
            self.agent
                .post(url)
                .header(CONTENT_TYPE, "application/json")
                .send(ureq::SendBody::from_reader(&mut reader)),
        )
    }
}

fn answer(sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Reply, Failed> {
    match sent {
        Ok(mut response) => Ok(Reply {
            status: response.status().as_u16(),
            body: response.body_mut().read_to_string().unwrap_or_default(),
        }),
        Err(ureq::Error::Other(e)) => match e.downcast::<spotify_auth::Error>() {
            Ok(flow) => Err(Failed::Flow(*flow)),
            Err(other) => Err(Failed::Http(other.to_string())),
        },
        Err(e) => Err(Failed::Http(e.to_string())),
    }
}
