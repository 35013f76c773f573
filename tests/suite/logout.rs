//! logout(): the login ends here and for every sharer of the cache.

use super::lifecycle::{follow_authorize, rotating, short_lived};
use super::*;
use spotify_auth::FileTokenCache;

flow_test! {
    async fn logout_clears_memory_and_cache_and_sticks() {
        let (server, stale) = rotating();
        let cache = cache_with(stale);
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        let token = auth.get_access_token().await;
        assert!(token.is_ok());
        let out = auth.logout().await;
        assert!(out.is_ok(), "{out:?}");
        assert_eq!(cache.get().unwrap(), None);
        let requests = server.token_request_count();
        for _ in 0..2 {
            let got = auth.get_access_token().await;
            assert!(matches!(got, Err(Error::NotAuthorized)), "{got:?}");
        }
        let header = auth.get_authorization_header().await;
        assert!(matches!(header, Err(Error::NotAuthorized)), "{header:?}");
        assert_eq!(server.token_request_count(), requests, "nothing sent after the logout");
        assert_eq!(cache.get().unwrap(), None, "nothing written back");
    }
}

flow_test! {
    async fn logout_forgets_the_bootstrap_refresh_token() {
        let (server, stale) = rotating();
        let refresh = stale.refresh_token.unwrap();
        let auth = builder(server.url()).refresh_token(refresh.secret()).build().unwrap();
        let out = auth.logout().await;
        assert!(out.is_ok());
        let got = auth.get_access_token().await;
        assert!(matches!(got, Err(Error::NotAuthorized)), "{got:?}");
        assert_eq!(server.token_request_count(), 0);
    }
}

flow_test! {
    async fn a_login_after_a_logout_works() {
        let (server, stale) = rotating();
        let auth = builder(server.url()).token_cache(cache_with(stale)).build().unwrap();
        let out = auth.logout().await;
        assert!(out.is_ok());
        let url = auth.get_authorization_url(Some("st"), None, false).unwrap();
        let token = auth.exchange_code(follow_authorize(&url)).await.unwrap();
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), token.access_token.secret());
    }
}

flow_test! {
    async fn a_logout_ends_the_login_of_every_instance_sharing_a_file_cache() {
        // Tokens stale as soon as issued: every call goes to the cache.
        let (server, stale) = short_lived();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.json");
        FileTokenCache::new(&path).set(&stale).unwrap();
        // Two instances, as two processes would have: each its own cache object.
        let a = builder(server.url()).token_cache(FileTokenCache::new(&path)).build().unwrap();
        let b = builder(server.url()).token_cache(FileTokenCache::new(&path)).build().unwrap();
        let token = a.get_access_token().await;
        assert!(token.is_ok(), "{token:?}");
        let seen = b.get_access_token().await;
        assert!(seen.is_ok(), "{seen:?}");
        let out = a.logout().await;
        assert!(out.is_ok());
        assert!(!path.exists() || FileTokenCache::new(&path).get().unwrap().is_none());
        let requests = server.token_request_count();
        // b's next call goes to the cache, finds it empty, and takes that as
        // the logout it is.
        let got = b.get_access_token().await;
        assert!(matches!(got, Err(Error::NotAuthorized)), "{got:?}");
        assert_eq!(server.token_request_count(), requests, "nothing sent");
        assert!(FileTokenCache::new(&path).get().unwrap().is_none(), "nothing written back");
    }
}
