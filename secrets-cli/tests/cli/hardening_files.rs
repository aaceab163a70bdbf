//! Every output path: special files are written in place and never replaced, a killed process
//! leaves nothing behind, nothing is created through a link in an output tree, and
//! `--metadata-output` never lands in the input or the output.

use super::*;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{FileTypeExt as _, symlink};
use std::process::{Child, Command as StdCommand, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
}

/// Reads the FIFO `path` to its end on a thread.
fn drain(path: PathBuf) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut got = Vec::new();
        fs::File::open(path).unwrap().read_to_end(&mut got).unwrap();
        got
    })
}

fn is_fifo(path: &Path) -> bool {
    fs::symlink_metadata(path).unwrap().file_type().is_fifo()
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).unwrap().is_symlink()
}

#[test]
fn fifos_and_devices_are_written_in_place_never_replaced() {
    let env = Env::new();
    env.sh("encrypt --key aes:k32.bin -i plain -o ct").success();
    mkfifo(&env.path("fifo"));
    symlink("fifo", env.path("fifo-link")).unwrap();
    for target in ["fifo", "fifo-link"] {
        for force in [false, true] {
            let reader = drain(env.path("fifo"));
            let mut args = vec!["decrypt", "--key", "aes:k32.bin", "-i", "ct", "-o", target];
            if force {
                args.push("--force");
            }
            env.run(&args).success();
            assert_eq!(
                reader.join().unwrap(),
                env.read("plain"),
                "{target} {force}"
            );
            assert!(is_fifo(&env.path("fifo")), "{target} {force}");
            assert!(is_symlink(&env.path("fifo-link")));
        }
    }
    // Ciphertext too, through the FIFO and back.
    let reader = drain(env.path("fifo"));
    env.sh("encrypt --key aes:k32.bin -i plain -o fifo --force")
        .success();
    let ct = reader.join().unwrap();
    env.cmd()
        .args(words("decrypt --key aes:k32.bin -i -"))
        .write_stdin(ct)
        .assert()
        .success()
        .stdout(predicate::function(|s: &[u8]| s == env.read("plain")));
    assert!(is_fifo(&env.path("fifo")));

    // A character device: /dev/null itself (no --force needed), and through a link (--force).
    env.sh("decrypt --key aes:k32.bin -i ct -o /dev/null")
        .success();
    symlink("/dev/null", env.path("null")).unwrap();
    env.sh("decrypt --key aes:k32.bin -i ct -o null --force")
        .success();
    assert!(is_symlink(&env.path("null")));
    assert!(
        fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    env.assert_no_temp_files();
}

/// `coffer WORDS…` in the scratch directory, as a std command (whose stdout can be a file).
fn std_cmd(env: &Env, args: &str) -> StdCommand {
    let mut c = StdCommand::new(env!("CARGO_BIN_EXE_coffer"));
    c.current_dir(env.dir.path())
        .env_remove("RUST_LOG")
        .env("COFFER_HOME", env.path("no-coffer-home"))
        .args(words(args));
    c
}

#[test]
fn a_path_to_stdout_is_stdout() {
    let env = Env::new();
    env.sh("encrypt --key aes:k32.bin -i plain -o ct").success();
    let plain = env.read("plain");
    let is_plain = |s: &[u8]| s == plain.as_slice();
    // stdout a pipe.
    env.sh("decrypt --key aes:k32.bin -i ct -o /dev/stdout")
        .success()
        .stdout(predicate::function(is_plain));
    // JSON mode: the record is not mixed into the data, as with -o -.
    env.sh("--output json decrypt --key aes:k32.bin -i ct -o /dev/stdout")
        .success()
        .stdout(predicate::function(is_plain));
    // A link of one's own to this process's stdout, with --force: written through, kept.
    symlink("/proc/self/fd/1", env.path("out-link")).unwrap();
    env.sh("decrypt --key aes:k32.bin -i ct -o out-link --force")
        .success()
        .stdout(predicate::function(is_plain));
    assert!(is_symlink(&env.path("out-link")));
    // stdout a regular file the shell opened (`> captured`, `>> log`).
    for (args, expected) in [
        (
            "decrypt --key aes:k32.bin -i ct -o /dev/stdout",
            plain.clone(),
        ),
        (
            "decrypt --key aes:k32.bin -i ct -o out-link --force",
            [plain.as_slice(), plain.as_slice()].concat(),
        ),
    ] {
        let captured = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(env.path("captured"))
            .unwrap();
        let status = std_cmd(&env, args)
            .stdout(Stdio::from(captured))
            .status()
            .unwrap();
        assert!(status.success(), "{args}");
        assert_eq!(env.read("captured"), expected, "{args}");
    }
    assert!(is_symlink(&env.path("out-link")));
    assert!(is_symlink(Path::new("/dev/stdout")));
    // The input itself, reached through stdout: refused.
    let input = fs::OpenOptions::new()
        .append(true)
        .open(env.path("ct"))
        .unwrap();
    let before = env.read("ct");
    let out = std_cmd(&env, "decrypt --key aes:k32.bin -i ct -o /dev/stdout")
        .stdout(Stdio::from(input))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("same file"), "{stderr}");
    assert_eq!(env.read("ct"), before);
}

#[test]
fn signed_messages_streamed_in_place_say_so_or_wait_with_buffer() {
    let env = Env::new();
    env.sh("encrypt --key aes:k32.bin --frame-size 256 -i plain -o ct")
        .success();
    let mut ct = env.read("ct");
    let last = ct.len() - 1;
    ct[last] ^= 1; // breaks the signature only
    env.write("bad", &ct);
    mkfifo(&env.path("fifo"));
    let reader = drain(env.path("fifo"));
    env.sh("decrypt --key aes:k32.bin -i bad -o fifo")
        .code(1)
        .stderr(contains("already written to fifo").and(contains("do not use them")));
    assert!(!reader.join().unwrap().is_empty());
    let reader = drain(env.path("fifo"));
    env.sh("decrypt --key aes:k32.bin -i bad -o fifo --buffer")
        .code(1);
    assert!(reader.join().unwrap().is_empty());
    assert!(is_fifo(&env.path("fifo")));
}

/// Whether process `pid` has a regular file with data in it open below `dir` (an unnamed
/// temporary output shows as `DIR/#INODE (deleted)`).
pub(super) fn has_partial_open(pid: u32, dir: &Path) -> bool {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path()).is_ok_and(|t| t.starts_with(&dir))
            && fs::metadata(fd.path()).is_ok_and(|m| m.is_file() && m.len() > 0)
    })
}

/// Waits (a few seconds at most) until process `pid` is stopped.
fn wait_stopped(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return;
        };
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if matches!(state, Some("T" | "t" | "Z")) {
            return;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// SIGKILLs `child` while it writes an output below `dir`: stopped, it has a file with data
/// in it open there and no finished output exists yet. Returns false if it finished first.
fn kill_mid_write(child: &mut Child, dir: &Path) -> bool {
    let pid = Pid::from_child(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "no partial output appeared");
        rustix::process::kill_process(pid, Signal::STOP).unwrap();
        wait_stopped(child.id());
        let finished = tree_names(dir).iter().any(|n| !n.ends_with(".coffer-tmp"));
        if has_partial_open(child.id(), dir) && !finished {
            rustix::process::kill_process(pid, Signal::KILL).unwrap();
            child.wait().unwrap();
            return true;
        }
        rustix::process::kill_process(pid, Signal::CONT).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn sigkill_while_writing_a_file_leaves_nothing() {
    for verb in ["decrypt", "encrypt"] {
        let env = Env::new();
        let data = pattern(4 << 20, 7);
        let input = if verb == "decrypt" {
            env.write("data", &data);
            env.sh("encrypt --suite 0478 --frame-size 65536 --key aes:k32.bin -i data -o ct")
                .success();
            env.read("ct")
        } else {
            data
        };
        fs::create_dir(env.path("out")).unwrap();
        let mut child = StdCommand::new(env!("CARGO_BIN_EXE_coffer"))
            .current_dir(env.dir.path())
            .args([verb, "--key", "aes:k32.bin", "-i", "-", "-o", "out/result"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Half the input, then nothing: coffer waits for more, mid-output.
        let mut stdin = child.stdin.take().unwrap();
        let half = input[..input.len() / 2].to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&half);
            stdin
        });
        assert!(kill_mid_write(&mut child, &env.path("out")), "{verb}");
        drop(feeder.join().unwrap());
        let left: Vec<_> = fs::read_dir(env.path("out")).unwrap().collect();
        assert!(left.is_empty(), "{verb}: {left:?}");
    }
}

#[test]
fn sigkill_during_a_directory_run_leaves_nothing() {
    let env = Env::new();
    fs::create_dir_all(env.path("src/d")).unwrap();
    // Large enough that the kill lands mid-file; larger again should it not have.
    let mut killed = false;
    for size in [64usize << 20, 256 << 20] {
        env.write("src/d/big", &pattern(size, 8));
        let _ = fs::remove_dir_all(env.path("enc"));
        env.sh("encrypt -r --suite 0478 --key aes:k32.bin -i src -o enc")
            .success();
        let out = env.path("out");
        let _ = fs::remove_dir_all(&out);
        let mut child = StdCommand::new(env!("CARGO_BIN_EXE_coffer"))
            .current_dir(env.dir.path())
            .args(words("decrypt -r -j 1 --key aes:k32.bin -i enc -o out"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if kill_mid_write(&mut child, &out) {
            killed = true;
            break;
        }
    }
    assert!(killed, "every run finished before it could be killed");
    // Directories may remain; no file does, partial or named.
    assert_eq!(tree_names(&env.path("out")), Vec::<String>::new());
}

/// A tree of three files (`a`, `sub/b`, `sub2/c`), encrypted into `enc` too.
fn three_files(env: &Env) {
    fs::create_dir_all(env.path("src/sub")).unwrap();
    fs::create_dir_all(env.path("src/sub2")).unwrap();
    env.write("src/a", b"file a");
    env.write("src/sub/b", b"file b");
    env.write("src/sub2/c", b"file c");
    env.sh("encrypt -r --key aes:k32.bin -i src -o enc")
        .success();
}

#[test]
fn nothing_is_created_through_a_link_in_an_output_tree() {
    for (verb, input, suffix) in [("encrypt", "src", ".coffer"), ("decrypt", "enc", "")] {
        for force in [false, true] {
            let env = Env::new();
            three_files(&env);
            let outside = env.path("outside");
            fs::create_dir_all(&outside).unwrap();
            env.write("outside/c", b"keep");
            fs::create_dir_all(env.path("out/sub2")).unwrap();
            // A planted directory link, and a planted file link (to an existing file).
            symlink("../outside", env.path("out/sub")).unwrap();
            let c = format!("out/sub2/c{suffix}");
            symlink("../../outside/c", env.path(&c)).unwrap();
            let mut args = vec![verb, "-r", "--key", "aes:k32.bin", "-i", input, "-o", "out"];
            if force {
                args.push("--force");
            }
            env.run(&args).code(1).stderr(
                contains("out/sub is a symbolic link")
                    .and(contains(format!("cannot write out/sub/b{suffix}")))
                    .and(contains(format!("{c} is a symbolic link")))
                    .and(contains("2 of 3 files failed")),
            );
            let case = format!("{verb} --force={force}");
            assert_eq!(tree_names(&outside), ["c"], "{case}");
            assert_eq!(env.read("outside/c"), b"keep", "{case}");
            assert!(is_symlink(&env.path("out/sub")), "{case}");
            assert!(is_symlink(&env.path(&c)), "{case}");
            assert!(env.path(&format!("out/a{suffix}")).is_file(), "{case}");
            assert!(temp_files(&env.path("out")).is_empty(), "{case}");
        }
    }
}

#[test]
fn the_output_directory_itself_may_be_a_link() {
    let env = Env::new();
    three_files(&env);
    fs::create_dir_all(env.path("real")).unwrap();
    symlink("real", env.path("out")).unwrap();
    env.sh("decrypt -r --key aes:k32.bin -i enc -o out")
        .success();
    assert_eq!(tree_names(&env.path("real")), ["a", "sub/b", "sub2/c"]);
}

#[test]
fn rewrap_r_never_writes_through_a_link() {
    let env = Env::new();
    three_files(&env);
    env.sh("encrypt -r --suite 0478 --key aes:k32.bin -i src -o unsigned --force")
        .success();
    let outside = env.path("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::create_dir_all(env.path("out")).unwrap();
    symlink("../outside", env.path("out/sub")).unwrap();
    env.sh("rewrap -r --from aes:k32.bin --key aes:other.bin -i unsigned -o out --force")
        .code(1)
        .stderr(contains("out/sub is a symbolic link").and(contains("1 of 3 files failed")));
    assert_eq!(tree_names(&outside), Vec::<String>::new());
    assert!(is_symlink(&env.path("out/sub")));
    assert!(env.path("out/a.coffer").is_file());
}

#[test]
fn rewrap_in_place_through_a_link_rewraps_the_file_it_leads_to() {
    let env = Env::new();
    fs::create_dir_all(env.path("unsigned")).unwrap();
    env.write("a", b"file a");
    env.sh("encrypt --suite 0478 --key aes:k32.bin -i a -o unsigned/a.coffer")
        .success();
    // The link stays, and no copy under the old key is left.
    symlink("unsigned/a.coffer", env.path("a-link")).unwrap();
    env.sh("rewrap --from aes:k32.bin --key aes:other.bin -i a-link -o a-link")
        .success();
    assert!(is_symlink(&env.path("a-link")));
    env.sh("decrypt --key aes:other.bin -i unsigned/a.coffer")
        .success()
        .stdout("file a");
    env.sh("decrypt --key aes:k32.bin -i unsigned/a.coffer")
        .code(1);
}

#[test]
fn metadata_output_never_lands_in_the_input_or_the_output() {
    let env = Env::new();
    env.sh("encrypt --key aes:k32.bin -i plain -o ct").success();
    let (plain, ct) = (env.read("plain"), env.read("ct"));
    symlink("plain", env.path("plain-link")).unwrap();
    for args in [
        "encrypt --key aes:k32.bin -i plain -o ct2 --metadata-output ./plain",
        "encrypt --key aes:k32.bin -i plain -o ct2 --metadata-output plain-link",
        "encrypt --key aes:k32.bin -i plain -o ct2 --metadata-output ./ct2",
        "decrypt --key aes:k32.bin -i ct -o out --metadata-output ./ct",
        "decrypt --key aes:k32.bin -i ct -o out --metadata-output ./out",
        "decrypt --key aes:k32.bin -i ct --metadata-output /dev/stdout",
    ] {
        env.sh(args).code(2).stderr(contains("--metadata-output"));
        assert_eq!(env.read("plain"), plain, "{args}");
        assert_eq!(env.read("ct"), ct, "{args}");
        assert!(!env.path("ct2").exists(), "{args}");
        assert!(!env.path("out").exists(), "{args}");
    }
    // Inside the input tree of a directory run.
    fs::create_dir_all(env.path("src")).unwrap();
    env.write("src/f", b"f");
    env.sh("encrypt -r --key aes:k32.bin -i src -o enc --metadata-output src/meta.jsonl")
        .code(2)
        .stderr(contains("inside the input directory"));
    assert_eq!(tree_names(&env.path("src")), ["f"]);
    // A file of its own is fine.
    env.sh("encrypt --key aes:k32.bin -i plain -o ct2 --metadata-output meta.jsonl")
        .success();
    assert!(env.read("meta.jsonl").ends_with(b"\n"));
}

#[test]
fn names_that_are_not_file_names_are_skipped_by_decrypt_r() {
    let env = Env::new();
    fs::create_dir_all(env.path("enc/x")).unwrap();
    env.sh("encrypt --key aes:k32.bin -i plain -o enc/x/f.coffer")
        .success();
    // `..coffer` would decrypt to `out/x/.`, that is `out/x`; `...coffer` to `out/x/..`.
    fs::copy(env.path("enc/x/f.coffer"), env.path("enc/x/..coffer")).unwrap();
    fs::copy(env.path("enc/x/f.coffer"), env.path("enc/x/...coffer")).unwrap();
    env.sh("decrypt -r --key aes:k32.bin -i enc -o out")
        .success()
        .stderr(contains("skipped"));
    assert_eq!(tree_names(&env.path("out")), ["x/f"]);
    assert!(env.path("out/x").is_dir());
}
