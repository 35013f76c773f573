//! `RedisTokenCache` (in progress).
