//! `FileTokenCache`: round trips, permissions, corrupt files, failed writes, the
//! cross-thread and cross-process lock, and crash safety under SIGKILL.
//!
//! Tests that need another process re-run this test binary
//! (`std::env::current_exe()`) with `--exact <child test> --nocapture` and the
//! environment variable [`CHILD_ROLE`] set; the child tests (`child_*`) do
//! nothing when it is absent, so they pass trivially in a normal run.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use spotify_auth::{Error, FileTokenCache, TokenCache, TokenInfo};

/// Which child role the re-executed test binary plays.
const CHILD_ROLE: &str = "SPOTIFY_AUTH_FILE_CACHE_TEST_CHILD";
/// The cache path the child works on.
const CHILD_PATH: &str = "SPOTIFY_AUTH_FILE_CACHE_TEST_PATH";
/// A number the child needs (the first token index for the writer).
const CHILD_ARG: &str = "SPOTIFY_AUTH_FILE_CACHE_TEST_ARG";

const ACCESS_MARKER: &str = "SECRETACCESS";
const REFRESH_MARKER: &str = "SECRETREFRESH";

fn token(access: &str, refresh: &str) -> TokenInfo {
    TokenInfo::new(access, 1_900_000_000)
        .with_refresh_token(refresh)
        .with_scope("user-read-private user-read-email")
}

fn secret_token() -> TokenInfo {
    token(
        &format!("{ACCESS_MARKER}-BQDr1xCNqvT8f3k9"),
        &format!("{REFRESH_MARKER}-AQBz7s9dKe2L"),
    )
}

/// Token number `i`, with a length that varies with `i` so that a torn write
/// could not pass for a complete one.
fn numbered_token(i: u64) -> TokenInfo {
    let pad = "x".repeat((i as usize * 37) % 3000);
    TokenInfo::new(format!("access-{i}-{pad}"), 1_700_000_000 + i)
        .with_refresh_token(format!("refresh-{i}"))
        .with_scope(format!("scope-{i}"))
}

/// The index of a token made by [`numbered_token`].
fn token_index(t: &TokenInfo) -> u64 {
    let s = t.access_token.secret();
    let rest = s.strip_prefix("access-").expect("a numbered token");
    rest[..rest.find('-').expect("a numbered token")]
        .parse()
        .expect("a numbered token")
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// The temporary files `set` may leave in `dir` (it must not, except when killed).
fn temp_files(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.contains(".tmp."))
        .collect()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Checks that `err` is an `Error::Cache` for `path` whose texts name the path
/// and quote no secret.
fn assert_cache_error(err: &Error, path: &Path) {
    match err {
        Error::Cache { path: Some(p), .. } => assert_eq!(p, path),
        other => panic!(
            "expected Error::Cache for {}, got {other:?}",
            path.display()
        ),
    }
    let display = err.to_string();
    let debug = format!("{err:?}");
    assert!(
        display.contains(&path.display().to_string()),
        "the message names the path: {display}"
    );
    for text in [&display, &debug] {
        assert!(
            !text.contains(ACCESS_MARKER) && !text.contains(REFRESH_MARKER),
            "the error quotes the file's content: {text}"
        );
    }
}

/// Writes `content` at the cache path, checks that `get` is an error naming the
/// problem (and not the content), that the file is left as it was, and that a
/// later `set` replaces it.
fn assert_corrupt(content: &[u8], expected_in_message: &str) {
    let dir = temp_dir();
    let path = dir.path().join("token.json");
    fs::write(&path, content).unwrap();
    let cache = FileTokenCache::new(&path);

    for _ in 0..2 {
        let err = cache
            .get()
            .expect_err("a corrupt file is an error, not None");
        assert_cache_error(&err, &path);
        assert!(
            err.to_string().contains(expected_in_message),
            "message should contain {expected_in_message:?}: {err}"
        );
        assert_eq!(
            fs::read(&path).unwrap(),
            content,
            "the corrupt file is left as it is"
        );
    }

    let fresh = token("fresh-access", "fresh-refresh");
    cache.set(&fresh).expect("set replaces a corrupt file");
    assert_eq!(cache.get().unwrap(), Some(fresh));
    assert_eq!(names(dir.path()), ["token.json", "token.json.lock"]);
}

/// How long a child may take to reach a point it announces: a bound against
/// hangs, never a timing assertion.
const CHILD_LIMIT: Duration = Duration::from_secs(30);

/// A child process whose stdout lines arrive on a channel (so that every wait
/// is bounded), killed and reaped when dropped so that a failing test leaves no
/// process behind.
struct ChildProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ChildProcess {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn a child");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildProcess { child, lines }
    }

    /// Waits for a stdout line containing `marker` (libtest may print
    /// `test name ... ` before it on the same line).
    fn expect_line(&mut self, marker: &str) {
        let deadline = Instant::now() + CHILD_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(marker) => return,
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the child did not print {marker} (hung?)")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().expect("wait");
                    panic!("the child ended ({status}) before printing {marker}");
                }
            }
        }
    }

    /// Waits for the child to exit, for at most [`CHILD_LIMIT`].
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + CHILD_LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the child process hung");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This test binary, re-run as the child test `test_name` in `role`.
fn child_command(test_name: &str, role: &str, path: &Path) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    child_args(&mut cmd, test_name, role, path);
    cmd
}

fn child_args(cmd: &mut Command, test_name: &str, role: &str, path: &Path) {
    cmd.args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE, role)
        .env(CHILD_PATH, path)
        .stdin(Stdio::null());
}

/// In a child started by [`child_command`] with `role`, the cache path;
/// otherwise `None` (the child test then returns at once).
fn child_path(role: &str) -> Option<PathBuf> {
    if std::env::var(CHILD_ROLE).ok()? != role {
        return None;
    }
    Some(std::env::var_os(CHILD_PATH).expect("child path").into())
}

fn child_print(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

// ---------------------------------------------------------------------------
// Round trips, paths, permissions

#[test]
fn round_trip() {
    let dir = temp_dir();
    let cache = FileTokenCache::new(dir.path().join("token.json"));
    let t = secret_token();
    cache.set(&t).unwrap();
    assert_eq!(cache.get().unwrap(), Some(t.clone()));

    // A second set replaces the first.
    let t2 = token("access-2", "refresh-2");
    cache.set(&t2).unwrap();
    assert_eq!(cache.get().unwrap(), Some(t2.clone()));

    // Another handle on the same path sees it too.
    assert_eq!(FileTokenCache::new(cache.path()).get().unwrap(), Some(t2));

    // The file is in the documented format.
    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(cache.path()).unwrap()).expect("the file is JSON");
    assert_eq!(json["access_token"], "access-2");
    assert_eq!(json["refresh_token"], "refresh-2");
    assert_eq!(json["expires_at"], 1_900_000_000u64);
}

#[test]
fn default_path_and_debug() {
    let cache = FileTokenCache::default();
    assert_eq!(cache.path(), Path::new(".spotify_sdk_token.json"));
    assert_eq!(cache.lock_path(), Path::new(".spotify_sdk_token.json.lock"));

    let cache = FileTokenCache::new("/some/dir/token.json");
    assert_eq!(cache.path(), Path::new("/some/dir/token.json"));
    assert_eq!(
        format!("{cache:?}"),
        r#"FileTokenCache { path: "/some/dir/token.json", lock_wait: 180s }"#
    );
}

#[test]
fn set_creates_parent_directories() {
    let dir = temp_dir();
    let path = dir.path().join("a/b/c/token.json");
    let cache = FileTokenCache::new(&path);
    assert_eq!(
        cache.get().unwrap(),
        None,
        "a missing directory is a missing file"
    );
    cache.set(&secret_token()).unwrap();
    assert_eq!(cache.get().unwrap(), Some(secret_token()));
    #[cfg(unix)]
    {
        for d in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&dir.path().join(d)), 0o700, "{d} is created 0700");
        }
        assert_eq!(mode(&path), 0o600);
    }
}

#[test]
fn relative_bare_file_name() {
    // A bare file name lives in the current directory: run that in a child
    // whose current directory is a temporary one, not the crate root.
    let dir = temp_dir();
    let mut cmd = child_command("child_bare_name", "bare", Path::new("token.json"));
    cmd.current_dir(dir.path());
    let out = cmd.output().expect("run the child");
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(names(dir.path()), ["token.json", "token.json.lock"]);
    let cache = FileTokenCache::new(dir.path().join("token.json"));
    assert_eq!(cache.get().unwrap(), Some(secret_token()));
}

/// Child of [`relative_bare_file_name`].
#[test]
fn child_bare_name() {
    let Some(path) = child_path("bare") else {
        return;
    };
    assert_eq!(path, Path::new("token.json"));
    let cache = FileTokenCache::new(&path);
    assert_eq!(cache.get().unwrap(), None);
    drop(cache.lock().unwrap());
    cache.set(&numbered_token(5)).unwrap();
    cache.set(&secret_token()).unwrap();
    assert_eq!(cache.get().unwrap(), Some(secret_token()));
}

#[cfg(unix)]
#[test]
fn file_is_0600() {
    let dir = temp_dir();
    let path = dir.path().join("token.json");
    let cache = FileTokenCache::new(&path);
    cache.set(&secret_token()).unwrap();
    assert_eq!(mode(&path), 0o600);
    cache.set(&numbered_token(1)).unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[cfg(unix)]
#[test]
fn replacing_a_0644_file_leaves_0600() {
    let dir = temp_dir();
    let path = dir.path().join("token.json");
    fs::write(&path, secret_token().to_json()).unwrap();
    chmod(&path, 0o644);
    let cache = FileTokenCache::new(&path);
    assert_eq!(
        cache.get().unwrap(),
        Some(secret_token()),
        "an older file is read"
    );
    cache.set(&numbered_token(2)).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(cache.get().unwrap(), Some(numbered_token(2)));
}

/// Runs [`child_umask_writer`] under `umask` and checks the modes it got.
#[cfg(unix)]
fn check_modes_under_umask(umask: &str) {
    let dir = temp_dir();
    let path = dir.path().join("new/dir/token.json");
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(exe);
    child_args(&mut cmd, "child_umask_writer", "umask", &path);
    let out = cmd.output().expect("run sh");
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The probe shows the umask really applied in the child.
    let probe = dir.path().join("probe");
    assert_eq!(
        mode(&probe),
        0o666 & !u32::from_str_radix(umask, 8).unwrap()
    );
    assert_eq!(mode(&path), 0o600, "token file under umask {umask}");
    assert_eq!(
        mode(&dir.path().join("new")),
        0o700,
        "created dir under umask {umask}"
    );
    assert_eq!(
        mode(&dir.path().join("new/dir")),
        0o700,
        "created dir under umask {umask}"
    );
    let lock = FileTokenCache::new(&path).lock_path();
    assert_eq!(mode(&lock), 0o600, "lock file under umask {umask}");
    assert_eq!(
        FileTokenCache::new(&path).get().unwrap(),
        Some(secret_token())
    );
}

#[cfg(unix)]
#[test]
fn umask_is_irrelevant() {
    check_modes_under_umask("000");
    check_modes_under_umask("022");
    check_modes_under_umask("077");
}

/// Child of [`umask_is_irrelevant`]: writes a probe with default permissions,
/// the token, and takes the lock.
#[test]
fn child_umask_writer() {
    let Some(path) = child_path("umask") else {
        return;
    };
    let root = path.parent().unwrap().parent().unwrap().parent().unwrap();
    fs::write(root.join("probe"), b"probe").unwrap();
    let cache = FileTokenCache::new(&path);
    cache.set(&secret_token()).unwrap();
    drop(cache.lock().unwrap());
}

// ---------------------------------------------------------------------------
// Reading: missing and corrupt files

#[test]
fn missing_file_is_none() {
    let dir = temp_dir();
    let cache = FileTokenCache::new(dir.path().join("token.json"));
    assert_eq!(cache.get().unwrap(), None);
    assert!(names(dir.path()).is_empty(), "get creates nothing");
}

#[test]
fn empty_file_is_an_error() {
    assert_corrupt(b"", "empty");
    assert_corrupt(b" \n\t", "empty");
}

#[test]
fn truncated_file_is_an_error() {
    let json = secret_token().to_json();
    for cut in [1, json.len() / 3, json.len() / 2, json.len() - 1] {
        assert_corrupt(&json.as_bytes()[..cut], "not a valid token file");
    }
}

#[test]
fn garbage_is_an_error() {
    let mut garbage = vec![0xff, 0xfe, 0x00, 0x01, b'{', 0x80];
    garbage.extend_from_slice(ACCESS_MARKER.as_bytes());
    garbage.extend_from_slice(&[0xc3, 0x28, b'"', b'}']);
    assert_corrupt(&garbage, "not a valid token file");
    assert_corrupt(
        format!("{ACCESS_MARKER} {REFRESH_MARKER}").as_bytes(),
        "not a valid token file",
    );
    // A valid token followed by more bytes is not a token file either.
    let trailing = format!("{}{ACCESS_MARKER}", secret_token().to_json());
    assert_corrupt(trailing.as_bytes(), "not a valid token file");
}

#[test]
fn wrong_types_are_an_error() {
    let cases = [
        format!(
            r#"{{"access_token": 12345, "expires_at": 1, "refresh_token": "{REFRESH_MARKER}"}}"#
        ),
        format!(r#"{{"access_token": "{ACCESS_MARKER}", "expires_at": "{REFRESH_MARKER}"}}"#),
        format!(r#"{{"access_token": "{ACCESS_MARKER}", "expires_at": -5}}"#),
        format!(
            r#"{{"access_token": "{ACCESS_MARKER}", "expires_at": 1, "refresh_token": ["{REFRESH_MARKER}"]}}"#
        ),
        format!(r#"{{"access_token": "{ACCESS_MARKER}"}}"#),
        format!(r#"["{ACCESS_MARKER}", 1]"#),
        format!(r#""{ACCESS_MARKER}""#),
        "null".to_string(),
    ];
    for case in cases {
        assert_corrupt(case.as_bytes(), "not a valid token file");
    }
}

#[test]
fn file_over_1_mib_is_rejected() {
    // A valid token padded with whitespace past 1 MiB: rejected for its size,
    // whatever it holds.
    let json = secret_token().to_json();
    let mut big = vec![b' '; (1 << 20) + 1 - json.len()];
    big.extend_from_slice(json.as_bytes());
    assert_eq!(big.len(), (1 << 20) + 1);
    assert_corrupt(&big, "too large");

    // Exactly 1 MiB is still read.
    let dir = temp_dir();
    let path = dir.path().join("token.json");
    fs::write(&path, &big[1..]).unwrap();
    assert_eq!(
        FileTokenCache::new(&path).get().unwrap(),
        Some(secret_token())
    );
}

#[test]
fn directory_at_the_path_is_an_error() {
    let dir = temp_dir();
    let path = dir.path().join("token.json");
    fs::create_dir(&path).unwrap();
    fs::write(path.join("inside"), b"keep me").unwrap();
    let cache = FileTokenCache::new(&path);

    let err = cache.get().expect_err("a directory is not a token file");
    assert_cache_error(&err, &path);
    assert!(err.to_string().contains("directory"), "{err}");

    // set cannot replace a directory: it fails cleanly.
    let err = cache
        .set(&secret_token())
        .expect_err("set over a directory");
    assert_cache_error(&err, &path);
    assert!(path.is_dir());
    assert_eq!(fs::read(path.join("inside")).unwrap(), b"keep me");
    assert_eq!(
        temp_files(dir.path()),
        Vec::<String>::new(),
        "no temp file left"
    );

    // Nor can clear.
    let err = cache.clear().expect_err("clear on a directory");
    assert_cache_error(&err, &path);
    assert_eq!(fs::read(path.join("inside")).unwrap(), b"keep me");
}

#[cfg(unix)]
#[test]
fn fifo_at_the_path_is_an_error_not_a_hang() {
    let dir = temp_dir();
    let path = dir.path().join("token.json");
    match Command::new("mkfifo").arg(&path).status() {
        Ok(s) if s.success() => {}
        // No mkfifo on this system: nothing to test.
        _ => return,
    }
    let err = FileTokenCache::new(&path)
        .get()
        .expect_err("a FIFO is not a token file");
    assert_cache_error(&err, &path);
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[cfg(unix)]
#[test]
fn unreadable_file_is_an_error() {
    let dir = temp_dir();
    let path = dir.path().join("token.json");
    fs::write(&path, secret_token().to_json()).unwrap();
    chmod(&path, 0o000);
    let cache = FileTokenCache::new(&path);

    // Root (as in CI containers) reads through mode 000: the error cannot be
    // provoked that way, so only the rest of the test runs then.
    let privileged = fs::read(&path).is_ok();
    if !privileged {
        let err = cache
            .get()
            .expect_err("an unreadable file is an error, not None");
        assert_cache_error(&err, &path);
        assert!(err.to_string().contains("ermission denied"), "{err}");
        assert_eq!(mode(&path), 0o000, "left as it is");
    }

    // set replaces it (the directory is writable) with a readable 0600 file.
    cache.set(&numbered_token(3)).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(cache.get().unwrap(), Some(numbered_token(3)));
}

// ---------------------------------------------------------------------------
// clear

#[test]
fn clear_writes_a_logout_record_naming_the_login() {
    let dir = temp_dir();
    let path = dir.path().join("token.json");
    let cache = FileTokenCache::new(&path);
    cache.set(&secret_token()).unwrap();
    cache.clear().unwrap();
    assert_eq!(cache.get().unwrap(), None, "no token after a logout");
    let record = cache.read().unwrap().and_then(|e| e.ended().cloned());
    let record = record.expect("a logout record, not an empty store");
    assert_eq!(record.reason(), spotify_auth::EndReason::Logout);
    assert!(record.ends(secret_token().refresh_token.as_ref().unwrap()));
    let json = fs::read_to_string(&path).unwrap();
    assert!(
        !json.contains("access_token"),
        "the Python library reads no token: {json}"
    );
    assert!(
        !json.contains(REFRESH_MARKER),
        "no secret in the record: {json}"
    );
    assert_eq!(
        names(dir.path()),
        ["token.json", "token.json.lock"],
        "the lock file stays"
    );
}

#[test]
fn clear_on_missing_is_ok() {
    let dir = temp_dir();
    let cache = FileTokenCache::new(dir.path().join("token.json"));
    cache.clear().unwrap();
    cache.clear().unwrap();
    let cache = FileTokenCache::new(dir.path().join("no/such/dir/token.json"));
    cache.clear().unwrap();
}

#[test]
fn clear_writes_over_a_corrupt_file() {
    let dir = temp_dir();
    let path = dir.path().join("token.json");
    fs::write(&path, b"{corrupt").unwrap();
    let cache = FileTokenCache::new(&path);
    cache.get().unwrap_err();
    cache.clear().unwrap();
    assert_eq!(cache.get().unwrap(), None);
    assert!(cache.read().unwrap().is_some_and(|e| e.ended().is_some()));
}

// ---------------------------------------------------------------------------
// Writing: temp files and failures

#[test]
fn many_sets_leave_no_temp_files() {
    let dir = temp_dir();
    let cache = FileTokenCache::new(dir.path().join("token.json"));
    for i in 0..50 {
        cache.set(&numbered_token(i)).unwrap();
    }
    assert_eq!(cache.get().unwrap(), Some(numbered_token(49)));
    assert_eq!(names(dir.path()), ["token.json", "token.json.lock"]);
}

#[test]
fn set_sweeps_temp_files_a_killed_writer_left_long_ago() {
    let dir = temp_dir();
    let cache = FileTokenCache::new(dir.path().join("token.json"));
    let stale = dir.path().join(".token.json.tmp.4242.00000000deadbeef");
    let fresh = dir.path().join(".token.json.tmp.4243.00000000cafef00d");
    let other = dir.path().join(".other.json.tmp.4242.0000000000000001");
    for path in [&stale, &fresh, &other] {
        fs::write(path, numbered_token(7).to_json()).unwrap();
    }
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    for path in [&stale, &other] {
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    }
    cache.set(&numbered_token(1)).unwrap();
    assert!(
        !stale.exists(),
        "an hour-old leftover of this cache is removed"
    );
    assert!(fresh.exists(), "a recent one may belong to a live writer");
    assert!(other.exists(), "another cache's files are not touched");
}

#[test]
fn readers_never_see_a_partial_write() {
    let dir = temp_dir();
    let path = dir.path().join("token.json");
    let cache = FileTokenCache::new(&path);
    cache.set(&numbered_token(0)).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 1..=60 {
                cache.set(&numbered_token(i)).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let reader = FileTokenCache::new(&path);
        let mut reads = 0u32;
        while !done.load(std::sync::atomic::Ordering::SeqCst) || reads == 0 {
            let t = reader.get().expect("readable").expect("present");
            assert_eq!(t, numbered_token(token_index(&t)));
            reads += 1;
        }
    });
    assert_eq!(names(dir.path()), ["token.json", "token.json.lock"]);
}

#[cfg(unix)]
#[test]
fn failed_set_in_read_only_dir_keeps_the_old_file() {
    let dir = temp_dir();
    let sub = dir.path().join("ro");
    fs::create_dir(&sub).unwrap();
    let path = sub.join("token.json");
    let cache = FileTokenCache::new(&path);
    cache.set(&secret_token()).unwrap();
    let before = fs::read(&path).unwrap();
    chmod(&sub, 0o500);

    // Root writes into read-only directories: this failure cannot be provoked
    // then (set_over_a_directory_fails_cleanly covers the failure path).
    let probe = sub.join("probe");
    if fs::write(&probe, b"").is_ok() {
        let _ = fs::remove_file(&probe);
        chmod(&sub, 0o700);
        return;
    }

    let err = cache
        .set(&numbered_token(4))
        .expect_err("a read-only directory");
    chmod(&sub, 0o700);
    assert_cache_error(&err, &path);
    assert_eq!(fs::read(&path).unwrap(), before, "the old file is intact");
    assert_eq!(
        names(&sub),
        ["token.json", "token.json.lock"],
        "no temp file left"
    );
    assert_eq!(cache.get().unwrap(), Some(secret_token()));
}

#[test]
fn set_over_a_directory_fails_cleanly() {
    // The rename fails after the temporary file was written: it must be
    // removed, and what is at the path left alone.
    let dir = temp_dir();
    let path = dir.path().join("token.json");
    fs::create_dir(&path).unwrap();
    let cache = FileTokenCache::new(&path);
    for _ in 0..3 {
        let err = cache
            .set(&secret_token())
            .expect_err("set over a directory");
        assert_cache_error(&err, &path);
    }
    assert!(path.is_dir());
    assert_eq!(
        names(dir.path()),
        ["token.json", "token.json.lock"],
        "no temp file left (set takes the lock, whose file stays)"
    );
}

#[test]
fn set_with_a_file_as_parent_fails_cleanly() {
    let dir = temp_dir();
    let parent = dir.path().join("not-a-dir");
    fs::write(&parent, b"plain file").unwrap();
    let path = parent.join("token.json");
    let cache = FileTokenCache::new(&path);
    let err = cache.set(&secret_token()).expect_err("parent is a file");
    assert_cache_error(&err, &path);
    assert_eq!(fs::read(&parent).unwrap(), b"plain file");
    assert_eq!(names(dir.path()), ["not-a-dir"]);
}

// ---------------------------------------------------------------------------
// lock

#[test]
fn lock_creates_a_lasting_private_lock_file() {
    let dir = temp_dir();
    let path = dir.path().join("x/y/token.json");
    let cache = FileTokenCache::new(&path);
    let lock_path = dir.path().join("x/y/token.json.lock");
    assert_eq!(cache.lock_path(), lock_path);

    let guard = cache.lock().unwrap();
    assert!(lock_path.is_file());
    #[cfg(unix)]
    {
        assert_eq!(mode(&lock_path), 0o600);
        assert_eq!(mode(&dir.path().join("x/y")), 0o700);
    }
    drop(guard);
    assert!(lock_path.is_file(), "the lock file is never deleted");
    // Released: it can be taken again, and the token file was not created.
    drop(cache.lock().unwrap());
    assert!(!path.exists());
}

#[test]
fn lock_excludes_other_threads() {
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = temp_dir();
    let path = dir.path().join("token.json");
    let first = FileTokenCache::new(&path);
    let second = FileTokenCache::new(&path);
    let released = AtomicBool::new(false);

    let guard = first.lock().unwrap();
    std::thread::scope(|s| {
        let (started_tx, started_rx) = mpsc::channel();
        let (acquired_tx, acquired_rx) = mpsc::channel();
        let released = &released;
        let second = &second;
        s.spawn(move || {
            started_tx.send(()).unwrap();
            let guard = second.lock().unwrap();
            // Only possible once the first guard was dropped, which happens
            // after `released` is set.
            acquired_tx.send(released.load(Ordering::SeqCst)).unwrap();
            drop(guard);
        });
        started_rx.recv().unwrap();
        // A bounded wait: the other thread must still be blocked in lock().
        assert_eq!(
            acquired_rx.recv_timeout(Duration::from_millis(200)),
            Err(mpsc::RecvTimeoutError::Timeout),
            "the second handle took the lock while the first held it"
        );
        released.store(true, Ordering::SeqCst);
        drop(guard);
        let saw_release = acquired_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the second thread gets the lock once it is released");
        assert!(
            saw_release,
            "the second thread got the lock before the release"
        );
    });
    drop(first.lock().unwrap());
}

#[test]
fn lock_excludes_other_processes() {
    let dir = temp_dir();
    let path = dir.path().join("token.json");
    let released = dir.path().join("released");
    let cache = FileTokenCache::new(&path);
    let guard = cache.lock().unwrap();

    let mut child = ChildProcess::spawn(child_command("child_locker", "locker", &path));
    child.expect_line("@WAITING@");

    // A bounded wait: the child must still be blocked in lock().
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.child.try_wait().unwrap().is_none(),
        "the child process took the lock while this one held it"
    );
    fs::write(&released, b"").unwrap();
    drop(guard);

    child.expect_line("@ACQUIRED@");
    let status = child.wait();
    assert!(status.success(), "child: {status}");

    // And the other way round: the child's lock is gone with it.
    drop(cache.lock().unwrap());
}

/// Child of [`lock_excludes_other_processes`]: waits for the lock and checks
/// that the parent had released it.
#[test]
fn child_locker() {
    let Some(path) = child_path("locker") else {
        return;
    };
    let cache = FileTokenCache::new(&path);
    child_print("@WAITING@");
    let guard = cache.lock().unwrap();
    let released = path.parent().unwrap().join("released");
    assert!(
        released.exists(),
        "got the lock before the parent released it"
    );
    child_print("@ACQUIRED@");
    drop(guard);
}

// ---------------------------------------------------------------------------
// Crash safety

/// Kills a writer process with SIGKILL at random moments, many times; the file
/// must always hold one complete token that was written, with mode 0600.
#[cfg(unix)]
#[test]
fn sigkill_during_writes_never_corrupts_the_file() {
    const ROUNDS: u64 = 200;
    /// Token indexes of round `r` start at `r * STRIDE`.
    const STRIDE: u64 = 1_000_000;

    let dir = temp_dir();
    let path = dir.path().join("token.json");
    let cache = FileTokenCache::new(&path);
    let mut leftover_temps = 0;
    let mut writes_seen = 0;

    for round in 1..=ROUNDS {
        let mut cmd = child_command("child_writer", "writer", &path);
        cmd.env(CHILD_ARG, (round * STRIDE).to_string());
        let mut child = ChildProcess::spawn(cmd);
        // READY comes after the child's first complete write, so the kill
        // lands inside its write loop.
        child.expect_line("@READY@");
        std::thread::sleep(Duration::from_micros(fastrand::u64(0..4000)));
        child.child.kill().expect("SIGKILL");
        let status = child.wait();
        assert!(!status.success(), "the writer does not stop by itself");

        let t = cache
            .get()
            .unwrap_or_else(|e| panic!("round {round}: the file is corrupt: {e}"))
            .unwrap_or_else(|| panic!("round {round}: the file is missing"));
        let index = token_index(&t);
        assert_eq!(t, numbered_token(index), "round {round}: a torn token");
        assert!(
            (round * STRIDE..(round + 1) * STRIDE).contains(&index),
            "round {round}: token {index} is not one this round's writer wrote"
        );
        assert_eq!(mode(&path), 0o600, "round {round}");
        writes_seen += index - round * STRIDE + 1;

        // A writer killed mid-write can leave its temporary file (it cannot
        // clean up after SIGKILL); it must be private, and never the target.
        for temp in temp_files(dir.path()) {
            assert_eq!(mode(&dir.path().join(&temp)), 0o600, "temp file {temp}");
            fs::remove_file(dir.path().join(&temp)).unwrap();
            leftover_temps += 1;
        }
    }
    eprintln!(
        "{ROUNDS} writers killed after {writes_seen} completed writes; \
         {leftover_temps} temporary files left by them"
    );
}

/// Child of [`sigkill_during_writes_never_corrupts_the_file`]: writes numbered
/// tokens in a loop until killed.
#[test]
fn child_writer() {
    let Some(path) = child_path("writer") else {
        return;
    };
    let first: u64 = std::env::var(CHILD_ARG).unwrap().parse().unwrap();
    let cache = FileTokenCache::new(&path);
    cache.set(&numbered_token(first)).unwrap();
    child_print("@READY@");
    for i in first + 1.. {
        cache.set(&numbered_token(i)).unwrap();
    }
}

#[test]
fn in_config_dir_is_per_app_and_refuses_a_path_for_a_name() {
    let cache = FileTokenCache::in_config_dir("my-app").expect("a home directory here");
    assert!(
        cache.path().ends_with("my-app/spotify-token.json"),
        "{}",
        cache.path().display()
    );
    assert!(
        cache.path().is_absolute(),
        "not relative to the working directory"
    );
    for bad in ["", ".", "..", "a/b", "a\\b", "nul\0"] {
        match FileTokenCache::in_config_dir(bad) {
            Err(spotify_auth::Error::Config { setting, .. }) => assert_eq!(setting, "token_cache"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}
