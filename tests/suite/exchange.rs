//! Exchanging the authorization code.

use super::*;
use mockito::Matcher;
use std::sync::Mutex;

flow_test! {
    async fn exchange_sends_exact_form_with_basic_auth_and_caches() {
        let mut server = support::server().await;
        let mock = support::create(
            token_mock(&mut server, token_body("acc-1", Some("ref-1")))
                .match_header("authorization", BASIC)
                .match_header("content-type", "application/x-www-form-urlencoded")
                .match_body(Matcher::Exact(
                    "grant_type=authorization_code&code=the-code&redirect_uri=http%3A%2F%2F127.0.0.1%3A8888%2Fcallback".into(),
                ))
                .expect(1),
        )
        .await;
        let cache = Arc::new(InMemoryTokenCache::new());
        let auth = builder(&server.url()).token_cache(cache.clone()).build().unwrap();
        let token = auth.exchange_code("the-code").await.unwrap();
        support::assert(&mock).await;
        assert_eq!(token.access_token.secret(), "acc-1");
        assert_eq!(token.refresh_token.as_ref().unwrap().secret(), "ref-1");
        assert_eq!(token.scope.as_deref(), Some("user-read-email user-read-private"));
        assert!(token.expires_at >= now() + 3590 && token.expires_at <= now() + 3600);
        assert_eq!(cache.get().unwrap(), Some(token.clone()), "stored in the cache");
        // The exchanged token serves get_access_token without a request.
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "acc-1");
        support::assert(&mock).await;
    }
}

flow_test! {
    async fn exchange_without_refresh_token_is_an_error() {
        let mut server = support::server().await;
        let _mock = support::create(token_mock(&mut server, token_body("acc-1", None))).await;
        let cache = Arc::new(InMemoryTokenCache::new());
        let auth = builder(&server.url()).token_cache(cache.clone()).build().unwrap();
        let e = auth.exchange_code("the-code").await.unwrap_err();
        assert!(matches!(e, Error::InvalidTokenResponse { .. }), "{e:?}");
        assert!(e.to_string().contains("refresh_token"), "{e}");
        assert_eq!(cache.get().unwrap(), None, "nothing stored");
    }
}

flow_test! {
    async fn exchange_error_carries_spotify_error() {
        let mut server = support::server().await;
        let body = r#"{"error":"invalid_grant","error_description":"Invalid authorization code"}"#;
        let mock = support::create(
            server.mock("POST", "/api/token").with_status(400).with_body(body).expect(1),
        )
        .await;
        let auth = builder(&server.url()).build().unwrap();
        match auth.exchange_code("bad").await.unwrap_err() {
            Error::TokenEndpoint { status, error, description, body: b, .. } => {
                assert_eq!(status, 400);
                assert_eq!(error.as_deref(), Some("invalid_grant"));
                assert_eq!(description.as_deref(), Some("Invalid authorization code"));
                assert_eq!(b.as_str(), body);
            }
            other => panic!("{other:?}"),
        }
        support::assert(&mock).await;
    }
}

flow_test! {
    async fn pkce_exchange_sends_client_id_and_matching_verifier() {
        let mut server = support::server().await;
        let seen = Arc::new(Mutex::new(String::new()));
        let seen2 = seen.clone();
        let mock = support::create(
            server
                .mock("POST", "/api/token")
                .match_header("authorization", Matcher::Missing)
                .match_body(Matcher::AllOf(vec![
                    Matcher::UrlEncoded("grant_type".into(), "authorization_code".into()),
                    Matcher::UrlEncoded("code".into(), "c2".into()),
                    Matcher::UrlEncoded("client_id".into(), CLIENT_ID.into()),
                    Matcher::Regex("code_verifier=[A-Za-z0-9_-]{43,128}(&|$)".into()),
                ]))
                .with_body_from_request(move |req| {
                    *seen2.lock().unwrap() = String::from_utf8_lossy(req.body().unwrap()).into_owned();
                    token_body("acc", Some("ref")).into_bytes()
                })
                .expect(1),
        )
        .await;
        let auth = builder(&server.url()).client_secret("").build().unwrap();
        // Two attempts in flight; the callback of the second comes back.
        let url1 = auth.get_authorization_url(Some("s1"), None, false).unwrap();
        let url2 = auth.get_authorization_url(Some("s2"), None, false).unwrap();
        let code = auth.parse_response_url("code=c2&state=s2", Some("s2")).unwrap();
        auth.exchange_code(code).await.unwrap();
        support::assert(&mock).await;
        let body = seen.lock().unwrap().clone();
        let verifier = url::form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "code_verifier")
            .unwrap()
            .1
            .into_owned();
        let challenge_of = |u: &str| {
            url::Url::parse(u).unwrap().query_pairs().find(|(k, _)| k == "code_challenge").unwrap().1.into_owned()
        };
        assert_eq!(spotify_auth::pkce_challenge(&verifier), challenge_of(&url2), "the second attempt's verifier");
        assert_ne!(spotify_auth::pkce_challenge(&verifier), challenge_of(&url1));
    }
}

flow_test! {
    async fn pkce_exchange_without_an_attempt_is_an_error() {
        let auth = builder("http://127.0.0.1:9").client_secret("").build().unwrap();
        let e = auth.exchange_code("c").await.unwrap_err();
        assert!(matches!(e, Error::UnknownAttempt), "{e:?}");
        assert!(e.to_string().contains("authorization_attempt"), "names the stateless flow: {e}");
    }
}
