//! The Web API client of the async middleware tests: a
//! `reqwest_middleware::ClientWithMiddleware` with
//! `asynchronous::WebApiMiddleware`, on a client following redirects.

use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest_middleware::ClientWithMiddleware;
use spotify_auth::asynchronous::{TokenSource, WebApiMiddleware};
use spotify_auth::middleware::WebApiPolicy;

use super::web_api::{Failed, Reply};

pub struct Api {
    client: ClientWithMiddleware,
}

impl Api {
    pub fn new(auth: impl TokenSource + 'static, policy: &WebApiPolicy) -> Api {
        // Plain HTTP on loopback: a TLS config without roots, given to the
        // client (nothing process-wide).
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .unwrap();
        let middleware = WebApiMiddleware::with_policy(auth, policy).unwrap();
        Api {
            client: reqwest_middleware::ClientBuilder::new(client)
                .with(middleware)
                .build(),
        }
    }

    pub async fn get(&self, url: &str) -> Result<Reply, Failed> {
        answer(self.client.get(url).send().await).await
    }

    pub async fn get_as(&self, url: &str, authorization: &str) -> Result<Reply, Failed> {
        answer(
            self.client
                .get(url)
                .header(AUTHORIZATION, authorization)
                .send()
                .await,
        )
        .await
    }

    /// A POST whose body can be sent again (bytes in memory).
    pub async fn post_json(&self, url: &str, json: &str) -> Result<Reply, Failed> {
        let request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(json.to_owned());
        answer(request.send().await).await
    }

    /// A POST whose body cannot be sent again: a stream.
    pub async fn post_streamed(&self, url: &str, json: &str) -> Result<Reply, Failed> {
        let request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(reqwest::Body::wrap(json.to_owned()));
        answer(request.send().await).await
    }
}

async fn answer(sent: reqwest_middleware::Result<reqwest::Response>) -> Result<Reply, Failed> {
    match sent {
        Ok(response) => Ok(Reply {
            status: response.status().as_u16(),
            body: response.text().await.unwrap_or_default(),
        }),
        Err(reqwest_middleware::Error::Middleware(e)) => {
            match e.downcast::<spotify_auth::Error>() {
                Ok(flow) => Err(Failed::Flow(flow)),
                Err(other) => Err(Failed::Http(other.to_string())),
            }
        }
        Err(e) => Err(Failed::Http(e.to_string())),
    }
}
