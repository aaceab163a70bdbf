//! A service that reads its secrets from a coffer store through the caching client.
//!
//! ```text
//! coffer init && printf s3cret | coffer put /app/db-password
//! cargo run -p coffer --example service -- "$COFFER_HOME" /app/db-password
//! ```
//!
//! The store is the first argument, else `COFFER_STORE`, else `COFFER_HOME`: a `COFFER_HOME`
//! directory or `sqlite:///PATH/coffer.db`. The name is the second argument (default
//! `/app/db-password`). A root key with a passphrase needs `COFFER_PASSPHRASE_FILE`.

use std::process::ExitCode;
use std::time::Duration;

use coffer::client::{CachingClient, Secrets};
use coffer::params::ParamError;

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
    // The library starts no runtime: any executor will do; this one runs on this thread.
    match futures::executor::block_on(run(&store, &name)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The causes, without repeating a message that a wrapper passed through.
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                let text = cause.to_string();
                if !msg.ends_with(&text) {
                    msg = format!("{msg}: {text}");
                }
                source = cause.source();
            }
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

async fn run(store: &str, name: &str) -> Result<(), ParamError> {
    let cache =
        CachingClient::new(Secrets::open(store)?, Duration::from_secs(5 * 60)).max_entries(100);

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
    let all = cache.get_by_path(parent, true).await?;
    for p in all.iter() {
        println!(
            "{} (version {}, {})",
            p.meta.name, p.meta.version, p.meta.param_type
        );
    }
    Ok(())
}
