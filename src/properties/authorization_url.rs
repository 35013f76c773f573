//! The authorization URL the crate builds parses back to its parts,
//! whatever they hold.

use proptest::prelude::*;
use url::Url;

use super::generators::{Gen, text};
use crate::Scopes;
use crate::authorize::AuthorizationRequest;

proptest! {
    #![proptest_config(super::config())]

    #[test]
    fn the_authorization_url_parses_back_to_its_parts(input in super::input()) {
        let mut g = Gen::new(&input);
        let endpoint = Url::parse(g.pick(&[
            "https://accounts.spotify.com/authorize",
            "http://127.0.0.1:9/authorize?tenant=a%20b",
        ]))
        .unwrap();
        let client_id = g.text(20);
        let redirect_uri = text::redirect_uri(&mut g, false);
        let scope = Scopes::from(text::scopes(&mut g));
        let state = g.chance(3, 4).then(|| g.text(20));
        let show_dialog = g.chance(1, 2);
        let challenge = g.chance(1, 2).then(|| g.text(43));
        let request = AuthorizationRequest {
            endpoint: &endpoint,
            client_id: &client_id,
            redirect_uri: &redirect_uri,
            scope: &scope,
            state: state.as_deref(),
            show_dialog,
            code_challenge: challenge.as_deref(),
        };
        let url = Url::parse(&request.url()).expect("the crate's URL parses");
        prop_assert_eq!(url.path(), endpoint.path());
        prop_assert_eq!(url.host_str(), endpoint.host_str());
        let mut expected: Vec<(String, String)> = endpoint.query_pairs().into_owned().collect();
        let mut add = |k: &str, v: &str| expected.push((k.to_owned(), v.to_owned()));
        add("client_id", &client_id);
        add("response_type", "code");
        add("redirect_uri", &redirect_uri);
        if !scope.is_empty() {
            add("scope", scope.as_str());
        }
        if let Some(state) = &state {
            add("state", state);
        }
        if show_dialog {
            add("show_dialog", "true");
        }
        if let Some(challenge) = &challenge {
            add("code_challenge_method", "S256");
            add("code_challenge", challenge);
        }
        let got: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        prop_assert_eq!(got, expected);
    }
}
