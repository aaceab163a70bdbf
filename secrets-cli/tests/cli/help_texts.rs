//! The help says what this build does: `kms:` and `pkcs11:` keys are described, not called
//! unsupported, in every verb's help and in the man pages, which hold a page per subcommand.

use super::*;

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

#[cfg(all(feature = "kms", feature = "pkcs11"))]
#[test]
fn key_references_are_described_as_they_are() {
    let env = Env::new();
    for verb in ["encrypt", "decrypt"] {
        let help = stdout(&env.run(&[verb, "--help"]).success());
        for part in [
            "kms:KEY",
            "kms:discovery",
            "else the Region from the key ARN",
            "pkcs11:token=T;object=O",
            "COFFER_PKCS11_PIN_FILE",
        ] {
            assert!(help.contains(part), "{verb} --help lacks {part}:\n{help}");
        }
    }
    let top = stdout(&env.run(&["--help"]).success());
    let verbs: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|v| v != "help")
        .collect();
    assert!(verbs.len() > 10, "{top}");
    for verb in &verbs {
        let help = stdout(&env.run(&[verb.as_str(), "--help"]).success());
        assert!(!help.contains("in this build"), "{verb} --help:\n{help}");
    }
}

#[test]
fn the_man_pages_hold_every_subcommand_page_they_list() {
    let env = Env::new();
    let man = stdout(&env.run(&["man"]).success());
    for page in [
        "coffer",
        "coffer-encrypt",
        "coffer-decrypt",
        "coffer-key-create",
        "coffer-rotate",
    ] {
        assert!(man.contains(&format!(".TH {page} 1")), "no page {page}");
    }
    assert!(
        man.contains("Key references (KEYREF)"),
        "the verbs' full help is there"
    );
    assert!(!man.contains("in this build"));
}
