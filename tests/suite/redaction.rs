//! No secret in any Debug or Display output.

use super::*;

const SECRETS: [&str; 4] = [
    CLIENT_SECRET,
    "acc-SECRET-1",
    "ref-SECRET-1",
    "code-SECRET-1",
];

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} leaks {s}: {text}");
    }
    assert!(
        !text.contains("dGVzdC1jbGllbnQt"),
        "{what} leaks the Basic header: {text}"
    );
}

flow_test! {
    async fn debug_and_display_never_show_secrets() {
        let mut server = support::server().await;
        let _m = support::create(token_mock(&mut server, token_body("acc-SECRET-1", Some("ref-SECRET-1")))).await;
        let b = builder(&server.url()).refresh_token("ref-SECRET-1");
        assert_clean("builder", &format!("{b:?}"));
        let auth = b.build().unwrap();
        let token = auth.exchange_code("code-SECRET-1").await.unwrap();
        assert_clean("AuthorizationCode", &format!("{auth:?}"));
        assert_clean("TokenInfo", &format!("{token:?}"));
        let code = auth.parse_response_url("code=code-SECRET-1", None).unwrap();
        assert_clean("AuthCode", &format!("{code:?}"));
        // Errors, including a token endpoint that echoes the request back.
        let mut server = support::server().await;
        let _m = support::create(
            server
                .mock("POST", "/api/token")
                .with_status(400)
                .with_body_from_request(|req| req.body().unwrap().clone()),
        )
        .await;
        let auth = builder(&server.url()).build().unwrap();
        let e = auth.exchange_code("code-SECRET-1").await.unwrap_err();
        assert_clean("Error Debug", &format!("{e:?}"));
        assert_clean("Error Display", &format!("{e}"));
        // A 200 with a malformed body that holds a token.
        let mut server = support::server().await;
        let _m = support::create(token_mock(&mut server, r#"{"access_token":"acc-SECRET-1","expires_in":"never"}"#.into())).await;
        let auth = builder(&server.url()).build().unwrap();
        let e = auth.exchange_code("code-SECRET-1").await.unwrap_err();
        assert!(matches!(e, Error::InvalidTokenResponse { .. }), "{e:?}");
        assert_clean("Error Debug", &format!("{e:?}"));
        assert_clean("Error Display", &format!("{e}"));
    }
}
