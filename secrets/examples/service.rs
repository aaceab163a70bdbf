//! A service that reads its secrets from a coffer store through the caching client.
//!
//! ```text
//! coffer init && printf s3cret | coffer put /app/db-password
//! cargo run -p coffer --example service -- "$COFFER_HOME" /app/db-password
//! COFFER_HOME=/etc/coffer cargo run -p coffer --features postgres --example service -- postgres://app@db/coffer
//! ```
//!
//! The store is the first argument, else `COFFER_STORE`, else `COFFER_HOME`: a `COFFER_HOME`
//! directory, `sqlite:///PATH/coffer.db`, or `postgres://…` (its root key is the one in
//! `COFFER_HOME`). The name is the second argument (default `/app/db-password`). A root key
//! with a passphrase needs `COFFER_PASSPHRASE_FILE`. An optional parameter beside it,
//! `feature-flags`, shows how a service tells "not set" from a failure: by the error's kind.
//! The test command runs this example against an SQLite and a PostgreSQL store.

use std::process::ExitCode;
use std::time::Duration;

use coffer::client::{CachingClient, Secrets};
use coffer::error::Error;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let store = args
        .next()
        .or_else(|| std::env::var("COFFER_STORE").ok())
        .or_else(|| std::env::var("COFFER_HOME").ok())
        .filter(|s| !s.is_empty());
    let Some(store) = store else {
        eprintln!("usage: service STORE [NAME]   (STORE: a COFFER_HOME or sqlite:///PATH)");
        return ExitCode::from(2);
    };
    let name = args.next().unwrap_or_else(|| "/app/db-password".to_owned());
    // The library starts no runtime: the service brings its own. An SQLite store answers
    // on any executor (`futures::executor::block_on` would do); a PostgreSQL connection is
    // driven by tokio.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&store, &name)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The causes, without repeating a message that a wrapper passed through.
            eprintln!("error: {}", coffer::error::chain_text(&e));
            ExitCode::FAILURE
        }
    }
}

/// The store `store` names: PostgreSQL with the root key of `COFFER_HOME`, else SQLite.
async fn open(store: &str) -> Result<Secrets, Error> {
    #[cfg(feature = "postgres")]
    if store.starts_with("postgres://") || store.starts_with("postgresql://") {
        let home = std::env::var_os("COFFER_HOME").unwrap_or_default();
        return Secrets::connect(store, home).await;
    }
    Secrets::open(store)
}

async fn run(store: &str, name: &str) -> Result<(), Error> {
    let cache =
        CachingClient::new(open(store).await?, Duration::from_secs(5 * 60)).max_entries(100);

    // The first read goes to the store; the second, within 5 minutes, is answered from memory.
    let first = cache.get(name).await?;
    let again = cache.get(name).await?;
    println!(
        "{name}: version {} ({} bytes; cached read is the same value: {})",
        first.meta.version,
        first.value.len(),
        std::sync::Arc::ptr_eq(&first, &again)
    );

    // After a rotation (`coffer put NAME --overwrite`), refresh rather than wait for the TTL.
    let fresh = cache.refresh(name).await?;
    println!("{name}: version {} after refresh", fresh.meta.version);

    // Everything under the parent path, in one query, cached under (path, recursive).
    let parent = name
        .rsplit_once('/')
        .map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });

    // An optional parameter: "not set" is a kind of error the service expects, and handles;
    // any other error (a damaged store, a key that does not decrypt) is a failure.
    let flags = format!("{}/feature-flags", parent.trim_end_matches('/'));
    match cache.get(&flags).await {
        Ok(p) => println!("{flags}: {} bytes", p.value.len()),
        Err(Error::NotFound(_)) => println!("{flags}: not set, using the defaults"),
        Err(e) => return Err(e),
    }

    let all = cache.get_by_path(parent, true).await?;
    for p in all.iter() {
        println!(
            "{} (version {}, {})",
            p.meta.name, p.meta.version, p.meta.param_type
        );
    }
    Ok(())
}
