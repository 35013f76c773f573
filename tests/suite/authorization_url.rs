//! The authorization URL, and parsing the callback.

use super::*;
use spotify_auth::Scopes;

fn params(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn get<'a>(p: &'a [(String, String)], key: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

flow_test! {
    async fn url_carries_every_parameter() {
        let auth = builder("https://accounts.example").scope("user-read-email,user-read-private").build().unwrap();
        let url = auth.get_authorization_url(Some("xyz"), None, true).unwrap();
        assert!(url.starts_with("https://accounts.example/authorize?"), "{url}");
        let p = params(&url);
        assert_eq!(get(&p, "client_id"), Some(CLIENT_ID));
        assert_eq!(get(&p, "response_type"), Some("code"));
        assert_eq!(get(&p, "redirect_uri"), Some(REDIRECT));
        assert_eq!(get(&p, "scope"), Some("user-read-email user-read-private"));
        assert_eq!(get(&p, "state"), Some("xyz"));
        assert_eq!(get(&p, "show_dialog"), Some("true"));
        assert_eq!(get(&p, "code_challenge"), None, "confidential client without PKCE");
    }
}

flow_test! {
    async fn url_scope_forms_and_override() {
        for (given, expected) in [
            (Scopes::from("a b"), "a b"),
            (Scopes::from("a,b, c"), "a b c"),
            (Scopes::from(vec!["a", "b"]), "a b"),
            (Scopes::from(["a", "", "b"]), "a b"),
        ] {
            let auth = builder("https://x.example").scope(given).build().unwrap();
            let p = params(&auth.get_authorization_url(None, None, false).unwrap());
            assert_eq!(get(&p, "scope"), Some(expected));
            assert_eq!(get(&p, "state"), None);
            assert_eq!(get(&p, "show_dialog"), None, "only when asked");
            let p = params(&auth.get_authorization_url(None, Some(&Scopes::from("z")), false).unwrap());
            assert_eq!(get(&p, "scope"), Some("z"), "override");
        }
        let auth = builder("https://x.example").build().unwrap();
        let p = params(&auth.get_authorization_url(None, None, false).unwrap());
        assert_eq!(get(&p, "scope"), None, "no scope, no parameter");
    }
}

flow_test! {
    async fn pkce_client_sends_a_challenge() {
        let auth = builder("https://x.example").client_secret("").build().unwrap();
        let p = params(&auth.get_authorization_url(Some("s1"), None, false).unwrap());
        assert_eq!(get(&p, "code_challenge_method"), Some("S256"));
        let challenge = get(&p, "code_challenge").unwrap();
        assert_eq!(challenge.len(), 43);
        let p2 = params(&auth.get_authorization_url(Some("s2"), None, false).unwrap());
        assert_ne!(get(&p2, "code_challenge").unwrap(), challenge, "one verifier per attempt");
        // A confidential client can opt in.
        let auth = builder("https://x.example").pkce(true).build().unwrap();
        let p = params(&auth.get_authorization_url(None, None, false).unwrap());
        assert_eq!(get(&p, "code_challenge_method"), Some("S256"));
    }
}

flow_test! {
    async fn parse_response_url_forms_and_errors() {
        let auth = builder("https://x.example").build().unwrap();
        let code = auth.parse_response_url(&format!("{REDIRECT}?code=abc&state=s"), Some("s")).unwrap();
        assert_eq!(code.secret(), "abc");
        assert_eq!(auth.parse_response_url("code=abc&state=s", Some("s")).unwrap().secret(), "abc");
        assert_eq!(auth.parse_response_url("code=abc", None).unwrap().secret(), "abc");
        match auth.parse_response_url("error=access_denied&error_description=User+said+no&state=s", Some("s")) {
            Err(Error::AuthorizationDenied { error, description, .. }) => {
                assert_eq!(error, "access_denied");
                assert_eq!(description.as_deref(), Some("User said no"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(auth.parse_response_url("code=abc&state=evil", Some("s")), Err(Error::StateMismatch)));
        assert!(matches!(auth.parse_response_url("code=abc", Some("s")), Err(Error::StateMismatch)));
        assert!(matches!(auth.parse_response_url("state=s", Some("s")), Err(Error::MissingCode)));
    }
}

flow_test! {
    async fn missing_settings_are_named() {
        let e = mode::AuthorizationCode::builder().read_environment(false).redirect_uri(REDIRECT).build().unwrap_err();
        assert!(matches!(e, Error::Config { setting: "client_id", .. }), "{e}");
        assert!(e.to_string().contains("SPOTIFY_SDK_CLIENT_ID"), "{e}");
        let e = mode::AuthorizationCode::builder().read_environment(false).client_id("x").build().unwrap_err();
        assert!(matches!(e, Error::Config { setting: "redirect_uri", .. }), "{e}");
        assert!(e.to_string().contains("SPOTIFY_SDK_REDIRECT_URI"), "{e}");
        let e = builder("https://x.example").redirect_uri("not a url").build().unwrap_err();
        assert!(matches!(e, Error::Config { setting: "redirect_uri", .. }), "{e}");
        let e = builder("ftp://x.example").build().unwrap_err();
        assert!(matches!(e, Error::Config { setting: "authorize_url", .. }), "{e}");
        let e = builder("https://x.example").timeout(Duration::ZERO).build().unwrap_err();
        assert!(matches!(e, Error::Config { setting: "timeout", .. }), "{e}");
    }
}
