//! Path policies (`coffer policy`, `coffer::params::policy`): which key protects a path, how
//! `put` and every read apply it, and what a database writer without keys can do to the
//! policies themselves (`coffer::store::policy_seal`): nothing that a read believes.

use super::*;

/// `policy set` makes `put` below the path encrypt under the policy's key, refuses another
/// `--key`, and every read refuses a secure version under another key; `policy ls` and `rm`
/// show and undo it.
#[test]
fn a_path_policy_chooses_the_key_and_reads_refuse_any_other() {
    Site::each(|s| {
        s.sh("a", "key create prod").success();
        s.put("a", "put /app/prod/old", "old-value").success();
        s.put("a", "put /app/prod/flag --type string", "on")
            .success();
        s.put("a", "put /app/dev/x", "dev-value").success();

        // A parameter below the path under another key is in the way, and named.
        let e = s.refused(
            "a",
            "policy set /app/prod --key prod",
            "a parameter at or below /app/prod is under another key than the policies would give it",
        );
        assert!(
            e.contains("/app/prod/old (local:params, not local:prod)"),
            "{e}"
        );
        assert!(e.contains("no policy was changed"), "{e}");
        assert!(e.contains("hint: "), "{e}");
        s.refused(
            "a",
            "policy set /app/prod --key nosuch",
            "no key named `nosuch`",
        );
        s.sh("a", "policy set /app/prod --key kms:discovery")
            .code(2)
            .stderr(contains("discovery only decrypts"));
        s.sh("a", "policy set /app/../prod --key prod").code(2);
        s.sh("a", "policy ls")
            .success()
            .stdout("")
            .stderr(contains("no path policies"));

        s.put(
            "a",
            "put /app/prod/old --overwrite --key prod",
            "old-value-2",
        )
        .success();
        s.sh("a", "policy set /app/prod --key prod")
            .success()
            .stdout("/app/prod is now protected by key local:prod\n");
        s.sh("a", "policy set /app/prod --key local:prod")
            .success()
            .stdout("/app/prod was already protected by key local:prod\n");
        let ls = s.sh("a", "policy ls").success();
        let out = String::from_utf8_lossy(&ls.get_output().stdout).into_owned();
        assert!(out.starts_with("PATH "), "{out}");
        assert!(out.contains("/app/prod  local:prod"), "{out}");
        let ls = s.sh("a", "--output json policy ls").success();
        let line: Value = serde_json::from_slice(&ls.get_output().stdout).unwrap();
        assert_eq!(line["type"], "policy");
        assert_eq!(line["path"], "/app/prod");
        assert_eq!(line["key"], "local:prod");
        assert!(
            line["author"].as_str().is_some_and(|a| !a.is_empty()),
            "{line}"
        );
        assert!(
            line["created_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );

        // A put below the path takes the policy's key; another is refused, nothing written.
        s.put("a", "put /app/prod/new", "new-value").success();
        let h = s.sh("a", "--output json history /app/prod/new").success();
        let first = String::from_utf8_lossy(&h.get_output().stdout)
            .lines()
            .next()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .unwrap();
        assert_eq!(first["key"], "local:prod", "{first}");
        let e = s.put("a", "put /app/prod/other --key params", "x").code(1);
        let e = stderr(&e);
        assert!(
            e.contains(
                "the policy of /app/prod names key local:prod, but the write names local:params"
            ),
            "{e}"
        );
        s.refused(
            "a",
            "get /app/prod/other",
            "no parameter named /app/prod/other",
        );
        // Below the path at any depth; not beside it.
        s.put("a", "put /app/prod/db/password", "deep").success();
        s.put("a", "put /app/production/x --key params", "beside")
            .success();
        s.put("a", "put /app/dev/x --overwrite --key params", "dev-2")
            .success();

        // The version written before the policy, under the store key, is not read.
        let e = s.refused(
            "a",
            "get /app/prod/old:1",
            "parameter /app/prod/old version 1: the policy of /app/prod names key local:prod, \
             but it was written under local:params",
        );
        assert!(e.contains("hint: "), "{e}");
        assert_eq!(s.get("a", "/app/prod/old"), "old-value-2\n");
        assert_eq!(s.get("a", "/app/prod/flag"), "on\n");
        let env = s.sh("a", "exec --path /app/prod -r -- env").success();
        let env = String::from_utf8_lossy(&env.get_output().stdout).into_owned();
        for var in [
            "OLD=old-value-2",
            "NEW=new-value",
            "FLAG=on",
            "DB_PASSWORD=deep",
        ] {
            assert!(env.lines().any(|l| l == var), "{var} in {env}");
        }

        // The policy's changes are in the audit log, keyed like every entry.
        let verbs: Vec<String> = s
            .entries("a")
            .iter()
            .filter(|e| e["verb"].as_str().unwrap().starts_with("policy-"))
            .map(|e| format!("{} {} {}", e["verb"], e["name"], e["detail"]))
            .collect();
        // (The policy set again with the same key changed nothing and logged nothing.)
        assert_eq!(
            verbs,
            [r#""policy-set" "/app/prod" "key local:prod""#],
            "{verbs:?}"
        );

        // A policy of one parameter, and one of a path inside another's: the longest decides,
        // and a change that would leave a value under another key than it is refused.
        s.sh("a", "key create db").success();
        s.refused(
            "a",
            "policy set /app/prod/db --key db",
            "/app/prod/db/password (local:prod, not local:db)",
        );
        s.sh("a", "policy set /app/prod/flag --key db").success();
        s.put("a", "put /app/prod/flag --type string --overwrite", "off")
            .success();
        s.refused(
            "a",
            "put /app/prod/old --overwrite --key db",
            "the policy of /app/prod names key local:prod",
        );
        s.sh("a", "policy rm /app/prod/flag").success();

        // Removed, the path takes any key again.
        s.sh("a", "policy rm /app/prod").success().stdout(
            "removed the policy of /app/prod (key local:prod); its values stay under the keys \
             they were written with\n",
        );
        s.refused(
            "a",
            "policy rm /app/prod",
            "no policy for the path /app/prod",
        );
        assert_eq!(s.get("a", "/app/prod/old:1"), "old-value\n");
        s.put("a", "put /app/prod/other --key params", "x")
            .success();
        s.sh("a", "audit verify").success();
    });
}

/// A writer without keys cannot add, change, remove or roll back a policy: each is refused by
/// the next read that needs the policies (a secure get or put, `exec`, `policy ls`), naming
/// the tables, and nothing is served; put back, the store reads again.
#[test]
fn policies_changed_in_the_database_are_refused() {
    Site::each(|s| {
        s.sh("a", "key create prod").success();
        s.sh("a", "policy set /app/prod --key prod").success();
        s.put("a", "put /app/prod/db", "secret").success();
        let both = |sql: &str| s.sql(sql, sql);
        let refused_everywhere = |needle: &str| {
            for args in [
                "get /app/prod/db",
                "exec --path /app/prod -- true",
                "export --path /app/prod",
                "policy ls",
            ] {
                let e = s.refused("a", args, needle);
                assert!(e.contains("tables policies, policy_seal"), "{e}");
            }
            let e = s.put("a", "put /app/prod/db --overwrite", "mine").code(1);
            assert!(stderr(&e).contains(needle), "{}", stderr(&e));
        };
        both(
            "CREATE TABLE saved_policies AS SELECT * FROM policies;
              CREATE TABLE saved_seal AS SELECT * FROM policy_seal",
        );
        let put_back = || {
            both(
                "DELETE FROM policies; DELETE FROM policy_seal;
                 INSERT INTO policies SELECT * FROM saved_policies;
                 INSERT INTO policy_seal SELECT * FROM saved_seal",
            );
            assert_eq!(s.get("a", "/app/prod/db"), "secret\n");
        };

        // The key of the path changed to one the writer's machines hold.
        both("UPDATE policies SET key_ref = 'local:params'");
        refused_everywhere("do not match their MAC");
        put_back();
        // The policy removed, so that any key goes below the path.
        both("DELETE FROM policies");
        refused_everywhere("do not match their MAC");
        put_back();
        // Both tables emptied: the log still holds the change that set it.
        both("DELETE FROM policies; DELETE FROM policy_seal");
        refused_everywhere("their MAC is gone, though audit entry");
        put_back();
        // The change hidden from the log (its verb edited) and both tables emptied: the log's
        // authenticated head still names the change.
        both(
            "UPDATE audit SET verb = 'hidden' WHERE verb = 'policy-set';
             DELETE FROM policies; DELETE FROM policy_seal",
        );
        refused_everywhere("their MAC is gone, though audit entry");
        // And the head's record of it removed too: the head no longer matches its MAC.
        both(
            "CREATE TABLE saved_mark AS SELECT * FROM meta WHERE key = 'audit_policies';
             DELETE FROM meta WHERE key = 'audit_policies'",
        );
        s.refused("a", "get /app/prod/db", "does not match its MAC");
        s.refused("a", "policy ls", "does not match its MAC");
        s.put("a", "put /app/prod/db --overwrite --key params", "mine")
            .code(1);
        both(
            "INSERT INTO meta SELECT * FROM saved_mark;
             UPDATE audit SET verb = 'policy-set' WHERE verb = 'hidden'",
        );
        put_back();

        // A policy planted for another path.
        both(
            "INSERT INTO policies (path, key_ref, created_at, author)
             VALUES ('/app/dev', 'local:params', 1, 'x')",
        );
        refused_everywhere("do not match their MAC");
        both("DELETE FROM policies WHERE path = '/app/dev'");
        assert_eq!(s.get("a", "/app/prod/db"), "secret\n");

        // An older copy of both tables put back after a change (the policy removed, so that
        // the path takes any key): older than their last change.
        s.sh("a", "policy rm /app/prod").success();
        both(
            "CREATE TABLE now_policies AS SELECT * FROM policies;
              CREATE TABLE now_seal AS SELECT * FROM policy_seal",
        );
        both(
            "DELETE FROM policies; DELETE FROM policy_seal;
             INSERT INTO policies SELECT * FROM saved_policies;
             INSERT INTO policy_seal SELECT * FROM saved_seal",
        );
        let e = s.refused("a", "policy ls", "put back from an older copy");
        assert!(e.contains("not to their last change (audit entry"), "{e}");
        s.refused("a", "get /app/prod/db", "put back from an older copy");
        s.refused(
            "a",
            "policy set /app/prod --key prod",
            "put back from an older copy",
        );
        both(
            "DELETE FROM policies; DELETE FROM policy_seal;
             INSERT INTO policies SELECT * FROM now_policies;
             INSERT INTO policy_seal SELECT * FROM now_seal",
        );
        s.sh("a", "policy ls").success().stdout("");
        s.sh("a", "policy set /app/prod --key prod").success();
        assert_eq!(s.get("a", "/app/prod/db"), "secret\n");
        s.sh("a", "audit verify").success();
    });
}

/// A store with policy rows but no seal and no policy change in its log (rows planted in a
/// store that never had a policy) is refused, not taken for one without policies.
#[test]
fn policies_planted_in_a_store_without_any_are_refused() {
    Site::each(|s| {
        s.put("a", "put /app/prod/db", "secret").success();
        s.sql(
            "INSERT INTO policies (path, key_ref, created_at, author)
             VALUES ('/app/prod', 'local:params', 1, 'x')",
            "INSERT INTO policies (path, key_ref, created_at, author)
             VALUES ('/app/prod', 'local:params', 1, 'x')",
        );
        s.refused("a", "get /app/prod/db", "they have no MAC");
        s.refused("a", "policy ls", "they have no MAC");
    });
}

/// A policy write seals the set it checked with its change applied: a policy edited by a
/// trigger while another is set fails the seal, and is refused by the next read.
#[test]
fn an_edit_made_during_a_policy_write_is_not_sealed() {
    Site::each(|s| {
        s.sh("a", "key create prod").success();
        s.sh("a", "key create dev").success();
        s.sh("a", "policy set /app/prod --key prod").success();
        s.put("a", "put /app/prod/db", "secret").success();
        s.sql(
            "CREATE TRIGGER evil AFTER INSERT ON audit
             BEGIN UPDATE policies SET key_ref = 'local:dev' WHERE path = '/app/prod'; END",
            "CREATE FUNCTION evil() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN UPDATE policies SET key_ref = 'local:dev' WHERE path = '/app/prod';
             RETURN NULL; END $$;
             CREATE TRIGGER evil AFTER INSERT ON audit FOR EACH ROW EXECUTE FUNCTION evil()",
        );
        s.sh("a", "policy set /app/dev --key dev").success();
        s.sql(
            "DROP TRIGGER evil",
            "DROP TRIGGER evil ON audit; DROP FUNCTION evil()",
        );
        s.refused("a", "get /app/prod/db", "do not match their MAC");
        s.put("a", "put /app/prod/db --overwrite --key dev", "planted")
            .code(1);
        s.sql(
            "UPDATE policies SET key_ref = 'local:prod' WHERE path = '/app/prod'",
            "UPDATE policies SET key_ref = 'local:prod' WHERE path = '/app/prod'",
        );
        assert_eq!(s.get("a", "/app/prod/db"), "secret\n");
        s.sh("a", "policy ls").success();
    });
}
