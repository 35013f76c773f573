//! The logins in progress, in a store every replica shares: what `/login`
//! keeps for `/callback` (the PKCE verifier, a secret), under the user who
//! started the login and the attempt's state, for 10 minutes, taken out
//! once. A callback finds it only with both: the state from its URL (checked
//! against the login cookie) and the user from its session cookie.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use spotify_auth::PkceVerifier;

/// How long a login may take, from `/login` to `/callback`.
pub const LIFETIME: Duration = Duration::from_secs(10 * 60);

/// What `/callback` needs from `/login`.
#[derive(Serialize, Deserialize)]
pub struct Attempt {
    /// The verifier whose challenge the authorization URL carried; `None`
    /// for a confidential client without PKCE.
    pub pkce_verifier: Option<PkceVerifier>,
    /// Unix seconds after which the attempt is void.
    expires_at: u64,
}

impl Attempt {
    /// An attempt, void after [`LIFETIME`].
    pub fn new(pkce_verifier: Option<PkceVerifier>) -> Self {
        Self {
            pkce_verifier,
            expires_at: unix_now() + LIFETIME.as_secs(),
        }
    }
}

/// Whether `state` can be an attempt's state (the library makes 43
/// base64url characters): anything else is refused before it is used in a
/// file name or a key.
pub fn is_valid_state(state: &str) -> bool {
    (16..=128).contains(&state.len()) && is_base64url(state)
}

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The name of `user`'s attempt with `state`: `{user}.{state}`, when both
/// are well-formed.
fn name(user: &str, state: &str) -> Option<String> {
    let valid = is_valid_state(state) && !user.is_empty() && is_base64url(user);
    valid.then(|| format!("{user}.{state}"))
}

/// The store of attempts.
pub enum Attempts {
    /// A file per attempt, `{user}.{state}`, mode 0600.
    Directory(PathBuf),
    /// A key per attempt, `spotify:login:{user}.{state}`, expiring with it.
    #[cfg(feature = "redis")]
    Redis(redis::Client),
}

impl Attempts {
    /// A store in `dir` (created 0700 if missing).
    pub fn in_directory(dir: PathBuf) -> io::Result<Self> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        Ok(Attempts::Directory(dir))
    }

    /// A store on the Redis server at `url`. Logins are rare (once per user
    /// per six months), so each operation opens a connection of its own.
    #[cfg(feature = "redis")]
    pub fn in_redis(url: &str) -> redis::RedisResult<Self> {
        Ok(Attempts::Redis(redis::Client::open(url)?))
    }

    /// Keeps `user`'s `attempt` under `state`.
    pub async fn put(&self, user: &str, state: &str, attempt: &Attempt) -> io::Result<()> {
        let Some(name) = name(user, state) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a user and state",
            ));
        };
        let json = serde_json::to_vec(attempt)?;
        match self {
            Attempts::Directory(dir) => {
                let dir = dir.clone();
                blocking(move || put_file(&dir, &name, &json)).await
            }
            #[cfg(feature = "redis")]
            Attempts::Redis(client) => {
                let (client, key) = (client.clone(), redis_key(&name));
                blocking(move || {
                    let mut connection = connect(&client)?;
                    redis::cmd("SET")
                        .arg(key)
                        .arg(json)
                        .arg("EX")
                        .arg(LIFETIME.as_secs())
                        .query::<()>(&mut connection)
                        .map_err(io::Error::other)
                })
                .await
            }
        }
    }

    /// Takes `user`'s attempt with `state` out of the store: `None` when
    /// there is none (never made, expired, already taken, or another
    /// user's).
    pub async fn take(&self, user: &str, state: &str) -> io::Result<Option<Attempt>> {
        let Some(name) = name(user, state) else {
            return Ok(None);
        };
        let json = match self {
            Attempts::Directory(dir) => {
                let dir = dir.clone();
                blocking(move || take_file(&dir, &name)).await?
            }
            #[cfg(feature = "redis")]
            Attempts::Redis(client) => {
                let (client, key) = (client.clone(), redis_key(&name));
                blocking(move || {
                    let mut connection = connect(&client)?;
                    redis::cmd("GETDEL")
                        .arg(key)
                        .query::<Option<Vec<u8>>>(&mut connection)
                        .map_err(io::Error::other)
                })
                .await?
            }
        };
        let Some(json) = json else { return Ok(None) };
        let attempt: Attempt = serde_json::from_slice(&json)?;
        Ok((attempt.expires_at > unix_now()).then_some(attempt))
    }
}

/// Writes the attempt to a temporary file, then renames it into place (a
/// reader never sees half of it); drops expired attempts on the way.
fn put_file(dir: &Path, name: &str, json: &[u8]) -> io::Result<()> {
    remove_expired(dir);
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(json)?;
    file.sync_all()?;
    std::fs::rename(&temporary, dir.join(name))
}

/// Takes the attempt's file: renamed away first, so that of two replicas
/// taking it at once only one gets it.
fn take_file(dir: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let taken = dir.join(format!(".{name}.taken"));
    match std::fs::rename(dir.join(name), &taken) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let json = std::fs::read(&taken);
    std::fs::remove_file(&taken)?;
    json.map(Some)
}

/// Removes the files of attempts older than [`LIFETIME`].
fn remove_expired(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| at.elapsed().is_ok_and(|age| age > LIFETIME));
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(feature = "redis")]
fn redis_key(name: &str) -> String {
    format!("spotify:login:{name}")
}

#[cfg(feature = "redis")]
fn connect(client: &redis::Client) -> io::Result<redis::Connection> {
    let timeout = Duration::from_secs(3);
    let connection = client
        .get_connection_with_timeout(timeout)
        .map_err(io::Error::other)?;
    connection
        .set_read_timeout(Some(timeout))
        .map_err(io::Error::other)?;
    connection
        .set_write_timeout(Some(timeout))
        .map_err(io::Error::other)?;
    Ok(connection)
}

/// Runs file or Redis I/O off the async runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
