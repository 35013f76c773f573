//! Settings checked by `build()`.

use super::*;

flow_test! {
    async fn a_refresh_margin_of_a_token_lifetime_or_more_is_refused() {
        for margin in [3600, 3601, 86_400] {
            let built = builder("http://127.0.0.1:9").refresh_margin(Duration::from_secs(margin)).build();
            match built {
                Err(Error::Config { setting: "refresh_margin", message, .. }) => {
                    assert!(message.contains("3600 s"), "says why: {message}");
                    assert!(message.contains("every call"), "says why: {message}");
                }
                Err(e) => panic!("{margin} s: {e:?}"),
                Ok(_) => panic!("{margin} s accepted"),
            }
        }
        for margin in [0, 30, 3599] {
            let built = builder("http://127.0.0.1:9").refresh_margin(Duration::from_secs(margin)).build();
            assert!(built.is_ok(), "{margin} s: {:?}", built.err());
        }
    }
}

flow_test! {
    async fn client_credentials_refuse_the_same_margin() {
        let built = mode::ClientCredentials::builder()
            .read_environment(false)
            .client_id(CLIENT_ID)
            .client_secret(CLIENT_SECRET)
            .refresh_margin(Duration::from_secs(3600))
            .build();
        assert!(matches!(built, Err(Error::Config { setting: "refresh_margin", .. })), "{:?}", built.err());
    }
}
