//! `kms:` keys through the CLI, against the local KMS endpoint (moto) that `scripts/test.sh`
//! starts (`AWS_ENDPOINT_URL`, dummy credentials). Keys and aliases are made through the KMS
//! API. Without an endpoint the tests skip, except under `CI=true`.

use super::*;

/// A new KMS key: its ARN, and the alias made for it.
fn new_key() -> Option<(String, String)> {
    if std::env::var("COFFER_TEST_KMS_ENDPOINT").map_or(true, |v| v.is_empty()) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "COFFER_TEST_KMS_ENDPOINT is not set: CI runs the KMS tests (scripts/test.sh \
             starts moto)"
        );
        eprintln!("skipped: no COFFER_TEST_KMS_ENDPOINT (scripts/test.sh starts moto)");
        return None;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    Some(rt.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let c = aws_sdk_kms::Client::new(&config);
        let meta = c
            .create_key()
            .send()
            .await
            .unwrap()
            .key_metadata()
            .unwrap()
            .clone();
        let alias = format!(
            "alias/cli-{}-{}",
            std::process::id(),
            meta.key_id().chars().take(8).collect::<String>()
        );
        c.create_alias()
            .alias_name(&alias)
            .target_key_id(meta.key_id())
            .send()
            .await
            .unwrap();
        (meta.arn().unwrap().to_owned(), alias)
    }))
}

#[test]
fn encrypt_and_decrypt_under_kms_keys() {
    let Some((arn, alias)) = new_key() else {
        return;
    };
    let env = Env::new();
    env.write("plain.txt", b"attack at dawn");
    for key in [format!("kms:{arn}"), format!("kms:{alias}")] {
        env.cmd()
            .args([
                "encrypt",
                "-i",
                "plain.txt",
                "-o",
                "msg",
                "--force",
                "--key",
                &key,
            ])
            .assert()
            .success();
        // Decrypt by ARN, by alias (resolved to the ARN), and by discovery.
        for dkey in [
            format!("kms:{arn}"),
            format!("kms:{alias}"),
            "kms:discovery".to_owned(),
            "kms:discovery?partition=aws&account=123456789012".to_owned(),
        ] {
            let out = env
                .cmd()
                .args(["decrypt", "-i", "msg", "-o", "-", "--key", &dkey])
                .assert()
                .success();
            assert_eq!(out.get_output().stdout, b"attack at dawn", "{key} / {dkey}");
        }
        env.cmd()
            .args([
                "decrypt",
                "-i",
                "msg",
                "-o",
                "back",
                "--key",
                "kms:discovery?account=111122223333",
            ])
            .assert()
            .code(1)
            .stderr(contains("outside the discovery filter"));
        assert!(!env.path("back").exists());
    }
    // Discovery never encrypts.
    env.cmd()
        .args([
            "encrypt",
            "-i",
            "plain.txt",
            "-o",
            "m2",
            "--key",
            "kms:discovery",
        ])
        .assert()
        .code(2)
        .stderr(contains("only decrypts"));
}

#[test]
fn kms_and_raw_aes_in_one_message() {
    let Some((arn, _)) = new_key() else { return };
    let env = Env::new();
    env.write("plain.txt", b"two keys");
    env.cmd()
        .args(["encrypt", "-i", "plain.txt", "-o", "msg", "--key"])
        .arg(format!("kms:{arn}"))
        .args(["--key", "aes:k32.bin"])
        .assert()
        .success();
    for key in [format!("kms:{arn}"), "aes:k32.bin".to_owned()] {
        let out = env
            .cmd()
            .args(["decrypt", "-i", "msg", "-o", "-", "--key", &key])
            .assert()
            .success();
        assert_eq!(out.get_output().stdout, b"two keys");
    }
}

/// The endpoint is gone: a bounded wait, a clear error, no output file.
#[test]
fn an_unreachable_endpoint_fails_cleanly() {
    let Some((arn, _)) = new_key() else { return };
    let env = Env::new();
    env.write("plain.txt", b"x");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start = std::time::Instant::now();
    env.cmd()
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_MAX_ATTEMPTS", "2")
        .args(["encrypt", "-i", "plain.txt", "-o", "msg", "--key"])
        .arg(format!("kms:{arn}"))
        .assert()
        .code(1)
        .stderr(contains("AWS KMS GenerateDataKey"));
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
    assert!(!env.path("msg").exists());
    assert!(temp_files(env.dir.path()).is_empty());
    // No Region at all (and no key ARN to take one from: see a_key_arn_gives_its_region).
    env.cmd()
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", env.path("no-config"))
        .args(["encrypt", "-i", "plain.txt", "-o", "msg", "--key"])
        .arg("kms:alias/any")
        .assert()
        .code(1)
        .stderr(contains("no AWS Region"));
}

/// A KMS key as the root of the key hierarchy: branch keys wrapped by KMS, one KMS unwrap per
/// branch key version and process for 10,000 files, `key rotate --root --to` between KMS keys
/// and from a local root.
#[test]
fn a_kms_root_for_the_key_hierarchy() {
    let Some((_, alias)) = new_key() else { return };
    let Some((other, _)) = new_key() else { return };
    let env = Env::new();
    let home = env.path("home");
    let cmd = || {
        let mut c = env.cmd();
        c.env("COFFER_HOME", &home);
        c
    };
    // Refused before anything is made.
    cmd()
        .args(["init", "--root", "kms:alias/no-such-key"])
        .assert()
        .code(1)
        .stderr(contains("DescribeKey"));
    assert!(!home.exists());
    cmd()
        .args(["init", "--passphrase", "--root", &format!("kms:{alias}")])
        .assert()
        .code(2);
    cmd()
        .args(["init", "--root", &format!("kms:{alias}")])
        .assert()
        .success()
        .stdout(contains("the AWS KMS key arn:aws:kms:"));
    cmd().args(["key", "create", "app"]).assert().success();
    fs::create_dir_all(env.path("in")).unwrap();
    for i in 0..10_000 {
        env.write(&format!("in/f{i}"), format!("file {i}").as_bytes());
    }
    let out = cmd()
        .env("RUST_LOG", "coffer=debug")
        .args([
            "encrypt", "-r", "-i", "in", "-o", "out", "--key", "app", "--suite", "0478",
        ])
        .assert()
        .success();
    let log = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(log.contains("1 root unwrap(s) in this process"), "{log}");
    cmd()
        .args(["put", "/kms/secret"])
        .write_stdin("s3")
        .assert()
        .success();
    // Another KMS key becomes the root; everything still opens.
    cmd()
        .args(["key", "rotate", "--root"])
        .assert()
        .code(2)
        .stderr(contains("--to kms:KEY"));
    cmd()
        .args(["key", "rotate", "--root", "--to", &format!("kms:{other}")])
        .assert()
        .success();
    cmd()
        .args(["decrypt", "-r", "-i", "out", "-o", "back"])
        .assert()
        .success();
    assert_eq!(tree_files(&env.path("in")), tree_files(&env.path("back")));
    let got = cmd().args(["get", "/kms/secret"]).assert().success();
    assert_eq!(got.get_output().stdout, b"s3\n");
    cmd()
        .args(["key", "rotate", "--root", "--to", &format!("kms:{other}")])
        .assert()
        .code(2)
        .stderr(contains("already"));
    // A local root moves to KMS.
    let local = env.path("local");
    let lcmd = || {
        let mut c = env.cmd();
        c.env("COFFER_HOME", &local);
        c
    };
    lcmd().arg("init").assert().success();
    lcmd().args(["key", "create", "k"]).assert().success();
    lcmd()
        .args(["encrypt", "-i", "in/f0", "-o", "m", "--key", "k"])
        .assert()
        .success();
    lcmd()
        .args(["key", "rotate", "--root", "--to", &format!("kms:{alias}")])
        .assert()
        .success();
    let back = lcmd()
        .args(["decrypt", "-i", "m", "-o", "-"])
        .assert()
        .success();
    assert_eq!(back.get_output().stdout, b"file 0");
}

/// What the fault proxy does with each request.
#[derive(Clone, Copy)]
enum Fault {
    /// Answer `ThrottlingException` to the first N requests, then forward.
    Throttle(usize),
    /// Answer `AccessDeniedException` (not retried).
    Deny,
    /// Wait this long, then forward.
    Slow(std::time::Duration),
    /// Never answer.
    Hang,
    /// Forward the first N requests, then stop listening (the endpoint dies).
    StopAfter(usize),
}

/// An HTTP proxy in front of the KMS endpoint that injects `fault`; returns its URL and the
/// count of requests it received. One request per connection (`Connection: close`).
fn fault_proxy(fault: Fault) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let upstream = std::env::var("AWS_ENDPOINT_URL")
        .unwrap()
        .trim_start_matches("http://")
        .to_owned();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();

    fn read_message(r: &mut BufReader<std::net::TcpStream>) -> Option<Vec<u8>> {
        let mut head = Vec::new();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().ok()?;
                }
                if k.eq_ignore_ascii_case("connection") {
                    continue;
                }
            }
            let end = line == "\r\n";
            if end {
                head.extend_from_slice(b"Connection: close\r\n\r\n");
                break;
            }
            head.extend_from_slice(line.as_bytes());
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).ok()?;
        head.extend_from_slice(&body);
        Some(head)
    }

    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            if let Fault::StopAfter(k) = fault {
                if n >= k {
                    // Dropping the listener: every later connection is refused.
                    return;
                }
            }
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let Some(request) = read_message(&mut reader) else {
                    return;
                };
                let mut conn = conn;
                let error = |kind: &str, status: &str| {
                    let body = format!("{{\"__type\":\"{kind}\",\"message\":\"injected {kind}\"}}");
                    format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\n\
                         x-amzn-ErrorType: {kind}\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                match fault {
                    Fault::Throttle(k) if n < k => {
                        let _ = conn
                            .write_all(error("ThrottlingException", "400 Bad Request").as_bytes());
                        return;
                    }
                    Fault::Deny => {
                        let _ = conn.write_all(
                            error("AccessDeniedException", "400 Bad Request").as_bytes(),
                        );
                        return;
                    }
                    Fault::Slow(d) => std::thread::sleep(d),
                    Fault::Hang => {
                        std::thread::sleep(std::time::Duration::from_secs(60));
                        return;
                    }
                    Fault::Throttle(_) | Fault::StopAfter(_) => {}
                }
                let Ok(up) = std::net::TcpStream::connect(&upstream) else {
                    return;
                };
                let mut up_w = up.try_clone().unwrap();
                if up_w.write_all(&request).is_err() {
                    return;
                }
                let mut up_r = BufReader::new(up);
                if let Some(response) = read_message(&mut up_r) {
                    let _ = conn.write_all(&response);
                }
            });
        }
    });
    (url, count)
}

/// Throttling is retried with backoff, a bounded number of times; access denied is not; a
/// slow endpoint is waited for, a hung one times out; nothing is left behind.
#[test]
fn kms_faults_are_retried_or_reported() {
    use std::sync::atomic::Ordering;
    let Some((arn, _)) = new_key() else { return };
    let env = Env::new();
    env.write("plain.txt", b"x");
    let encrypt = |url: &str, attempts: &str| {
        env.cmd()
            .env("AWS_ENDPOINT_URL", url)
            .env("AWS_MAX_ATTEMPTS", attempts)
            .args([
                "encrypt",
                "-i",
                "plain.txt",
                "-o",
                "msg",
                "--force",
                "--key",
            ])
            .arg(format!("kms:{arn}"))
            .assert()
    };
    // Two throttled answers, then success: retried.
    let (url, count) = fault_proxy(Fault::Throttle(2));
    encrypt(&url, "5").success();
    assert_eq!(count.load(Ordering::SeqCst), 3);
    fs::remove_file(env.path("msg")).unwrap();
    // Throttled for good: 5 attempts, then a clear error, and no file.
    let (url, count) = fault_proxy(Fault::Throttle(usize::MAX));
    encrypt(&url, "5")
        .code(1)
        .stderr(contains("ThrottlingException"));
    assert_eq!(count.load(Ordering::SeqCst), 5);
    assert!(!env.path("msg").exists());
    // Access denied: one attempt.
    let (url, count) = fault_proxy(Fault::Deny);
    encrypt(&url, "5")
        .code(1)
        .stderr(contains("AccessDeniedException"));
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // Slow but answering: waited for.
    let (url, _) = fault_proxy(Fault::Slow(std::time::Duration::from_millis(1500)));
    encrypt(&url, "1").success();
    fs::remove_file(env.path("msg")).unwrap();
    // Hung: the attempt times out (10 s), reported, nothing written.
    let (url, _) = fault_proxy(Fault::Hang);
    let start = std::time::Instant::now();
    encrypt(&url, "1")
        .code(1)
        .stderr(contains("GenerateDataKey"));
    let took = start.elapsed();
    assert!(took < std::time::Duration::from_secs(25), "{took:?}");
    assert!(!env.path("msg").exists());
    assert!(temp_files(env.dir.path()).is_empty());
}

/// The endpoint dies in the middle of `encrypt -r`: the files done before stay complete and
/// decrypt, the others fail with a clear error, nothing partial is left, the run exits 1.
#[test]
fn the_endpoint_stopping_mid_run_loses_nothing() {
    let Some((arn, _)) = new_key() else { return };
    let env = Env::new();
    fs::create_dir_all(env.path("in")).unwrap();
    for i in 0..10 {
        env.write(&format!("in/f{i}"), format!("file {i}").as_bytes());
    }
    let (url, _) = fault_proxy(Fault::StopAfter(4));
    env.cmd()
        .env("AWS_ENDPOINT_URL", &url)
        .env("AWS_MAX_ATTEMPTS", "2")
        .args(["encrypt", "-r", "-i", "in", "-o", "out", "-j", "1", "--key"])
        .arg(format!("kms:{arn}"))
        .assert()
        .code(1)
        .stderr(contains("AWS KMS GenerateDataKey"));
    let done = tree_names(&env.path("out"));
    assert_eq!(done.len(), 4, "{done:?}");
    assert!(temp_files(&env.path("out")).is_empty());
    env.cmd()
        .args(["decrypt", "-r", "-i", "out", "-o", "back", "--key"])
        .arg(format!("kms:{arn}"))
        .assert()
        .success();
    for name in tree_names(&env.path("back")) {
        assert_eq!(
            fs::read(env.path("back").join(&name)).unwrap(),
            fs::read(env.path("in").join(&name)).unwrap()
        );
    }
}

/// With no Region configured, a key ARN gives the Region, for encrypt and decrypt, and so do
/// the key ARNs in a message for discovery; an alias cannot.
#[test]
fn a_key_arn_gives_its_region() {
    let Some((arn, alias)) = new_key() else {
        return;
    };
    let env = Env::new();
    fs::create_dir_all(env.path("empty-home")).unwrap();
    let no_region = |args: &[&str]| {
        env.cmd()
            .env("HOME", env.path("empty-home"))
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_PROFILE")
            .args(args)
            .assert()
    };
    let key = format!("kms:{arn}");
    no_region(&["encrypt", "--key", &key, "-i", "plain", "-o", "msg"]).success();
    for dkey in [key.as_str(), "kms:discovery"] {
        let out = no_region(&["decrypt", "--key", dkey, "-i", "msg", "-o", "-"]).success();
        assert_eq!(out.get_output().stdout, env.read("plain"), "{dkey}");
    }
    no_region(&[
        "decrypt",
        "--key",
        &format!("kms:{alias}"),
        "-i",
        "msg",
        "-o",
        "-",
    ])
    .code(1)
    .stderr(contains("no AWS Region is configured"));
}
