//! The stateless web flow: the URL on one instance, the exchange on another.

use super::lifecycle::follow_authorize_url;
use super::*;
use spotify_auth::PkceVerifier;
use spotify_auth::testing::FakeSpotify;

fn public_fake() -> FakeSpotify {
    FakeSpotify::builder()
        .client(CLIENT_ID, None)
        .redirect_uri(REDIRECT)
        .start()
        .unwrap()
}

/// A public (PKCE) client against `server`.
fn public(server: &FakeSpotify) -> mode::AuthorizationCode {
    builder(server.url()).client_secret("").build().unwrap()
}

flow_test! {
    async fn a_login_started_on_one_instance_completes_on_another() {
        let server = public_fake();
        let replica_a = public(&server);
        let attempt = replica_a.authorization_attempt(None, false).unwrap();
        assert_eq!(attempt.state.len(), 43, "a random 256-bit state");
        let verifier = attempt.pkce_verifier.clone().expect("a public client uses PKCE");
        let url = url::Url::parse(&attempt.url).unwrap();
        let param = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
        assert_eq!(param("state").as_deref(), Some(attempt.state.as_str()));
        assert_eq!(param("code_challenge"), Some(spotify_auth::pkce_challenge(verifier.secret())));
        // What the application kept (e.g. in a cookie), as plain strings.
        let (kept_state, kept_verifier) = (attempt.state.clone(), verifier.secret().to_owned());
        let callback = follow_authorize_url(&attempt.url);
        // Another replica, built with the same settings.
        let replica_b = public(&server);
        let code = replica_b.parse_response_url(&callback, Some(&kept_state)).unwrap();
        let token = replica_b
            .exchange_code_with_verifier(code, Some(&PkceVerifier::new(kept_verifier)))
            .await
            .unwrap();
        let got = replica_b.get_access_token().await;
        assert_eq!(got.unwrap(), token.access_token.secret());
        assert!(format!("{attempt:?}").contains("redacted"), "Debug hides the verifier");
        assert!(!format!("{attempt:?}").contains(verifier.secret()));
        assert!(!format!("{attempt:?}").contains(&attempt.state), "nor the state");
    }
}

flow_test! {
    async fn a_pkce_exchange_without_the_verifier_is_refused_before_sending() {
        let server = public_fake();
        let auth = public(&server);
        let got = auth.exchange_code_with_verifier("a-code", None).await;
        assert!(matches!(got, Err(Error::Config { setting: "pkce_verifier", .. })), "{got:?}");
        assert_eq!(server.token_request_count(), 0);
    }
}

flow_test! {
    async fn the_wrong_verifier_is_refused_by_the_server() {
        let server = public_fake();
        let auth = public(&server);
        let attempt = auth.authorization_attempt(None, false).unwrap();
        let callback = follow_authorize_url(&attempt.url);
        let code = auth.parse_response_url(&callback, Some(&attempt.state)).unwrap();
        let other = auth.authorization_attempt(None, false).unwrap().pkce_verifier.unwrap();
        let got = auth.exchange_code_with_verifier(code, Some(&other)).await;
        assert!(matches!(got, Err(Error::TokenEndpoint { status: 400, .. })), "{got:?}");
    }
}

flow_test! {
    async fn a_confidential_client_needs_no_verifier() {
        let server = FakeSpotify::builder()
            .client(CLIENT_ID, Some(CLIENT_SECRET))
            .redirect_uri(REDIRECT)
            .start()
            .unwrap();
        let auth = builder(server.url()).build().unwrap();
        let attempt = auth.authorization_attempt(None, true).unwrap();
        assert!(attempt.pkce_verifier.is_none());
        assert!(attempt.url.contains("show_dialog=true"));
        let callback = follow_authorize_url(&attempt.url);
        let code = auth.parse_response_url(&callback, Some(&attempt.state)).unwrap();
        let got = auth.exchange_code_with_verifier(code, None).await;
        assert!(got.is_ok(), "{got:?}");
    }
}
