//! The variables the store may not set: those that change how a program is found, loaded or
//! started, or what it trusts and where it writes its secrets.
//!
//! Anyone who can write one row of a store (no key needed for a `string`) chooses the
//! environment of every `coffer exec` of that path, and of every shell that sources an
//! `export`. That is the trust boundary glibc draws for set-user-ID programs (a less trusted
//! party choosing a more trusted program's environment), so its list of "unsecure" variables
//! is the start, and the rest of each family follows: shells, interpreters, the programs that
//! other programs run, and the libraries that load modules named by a variable. A name here
//! is set from the store only when the user allows it by name (`--allow-var NAME`).
//!
//! Names are matched exactly (coffer's variables are upper-case `[A-Z0-9_]`, see
//! [`super::var_name`]); a prefix ends with `_` or covers a whole namespace (`PYTHON`).

/// One family: its names, its prefixes, and what it does (for messages).
struct Group {
    /// Why the store may not set it: completes "NAME …".
    why: &'static str,
    names: &'static [&'static str],
    prefixes: &'static [&'static str],
}

const GROUPS: &[Group] = &[
    // Finding programs: the command itself and everything it runs by name. (The command
    // `exec` runs is found with coffer's own PATH whatever the store says.)
    Group {
        why: "decides which programs run",
        names: &["PATH", "JAVA_HOME", "DOTNET_ROOT"],
        prefixes: &[],
    },
    // Programs that other programs start by the name in a variable: a shell, an editor, a
    // pager, a password prompt.
    Group {
        why: "names a program that other programs run",
        names: &[
            "SHELL",
            "EDITOR",
            "VISUAL",
            "FCEDIT",
            "PAGER",
            "MANPAGER",
            "SYSTEMD_PAGER",
            "SYSTEMD_EDITOR",
            "BROWSER",
            "SSH_ASKPASS",
            "SSH_ASKPASS_REQUIRE",
            "SUDO_ASKPASS",
            "SUDO_EDITOR",
            "LESSOPEN",
            "LESSCLOSE",
            "LESSEDIT",
            "LESS",
            "LESSKEY",
            "LESSKEYIN",
        ],
        prefixes: &[],
    },
    // The dynamic loader: every LD_* of glibc and musl (LD_PRELOAD, LD_LIBRARY_PATH,
    // LD_AUDIT, LD_DEBUG_OUTPUT, LD_PROFILE, …; Solaris' LD_CONFIG, LD_LIBRARY_PATH_64),
    // glibc's tunables, macOS' DYLD_*, AIX's LDR_* and LIBPATH, HP-UX's SHLIB_PATH, IRIX'
    // _RLD*.
    Group {
        why: "changes which libraries the dynamic loader loads into a program",
        names: &["GLIBC_TUNABLES", "LIBPATH", "SHLIB_PATH"],
        prefixes: &["LD_", "DYLD_", "LDR_", "_RLD"],
    },
    // The C library (glibc's list of variables removed for set-user-ID programs): character
    // set converters (shared objects, GCONV_PATH), locale and message catalogs, resolver
    // settings, the allocator (MALLOC_TRACE writes a file; jemalloc's MALLOC_CONF can
    // too), and where temporary files and time zone files are.
    Group {
        why: "makes the C library load modules or settings from where it says, or write \
              files there",
        names: &[
            "GCONV_PATH",
            "GETCONF_DIR",
            "HOSTALIASES",
            "LOCALDOMAIN",
            "LOCPATH",
            "NIS_PATH",
            "NLSPATH",
            "PATH_LOCALE",
            "RESOLV_HOST_CONF",
            "RES_OPTIONS",
            "TMPDIR",
            "TZDIR",
        ],
        prefixes: &["MALLOC_"],
    },
    // Where programs read their startup files and configuration, which can run commands
    // (~/.bashrc, ~/.gitconfig, ~/.ssh/config, Python's user site-packages).
    Group {
        why: "decides where programs read their startup files and configuration",
        names: &[
            "HOME",
            "XDG_CONFIG_HOME",
            "XDG_CONFIG_DIRS",
            "XDG_DATA_HOME",
            "XDG_DATA_DIRS",
        ],
        prefixes: &[],
    },
    // Shells: files they source (BASH_ENV, ENV, ZDOTDIR), options, prompts and traces that
    // are expanded (PS0–PS4, PROMPT_COMMAND), word splitting and search paths (IFS,
    // CDPATH, FPATH), loadable builtins, and exported functions (BASH_FUNC_NAME%%).
    Group {
        why: "makes a shell run code or change how it reads commands",
        names: &[
            "BASH_ENV",
            "ENV",
            "SHELLOPTS",
            "BASHOPTS",
            "BASH_XTRACEFD",
            "BASH_LOADABLES_PATH",
            "PS0",
            "PS1",
            "PS2",
            "PS3",
            "PS4",
            "PROMPT_COMMAND",
            "IFS",
            "CDPATH",
            "FPATH",
            "GLOBIGNORE",
            "EXECIGNORE",
            "INPUTRC",
            "ZDOTDIR",
            "NULLCMD",
            "READNULLCMD",
            "TMPPREFIX",
        ],
        prefixes: &["BASH_FUNC_"],
    },
    // Python: the whole PYTHON* namespace is the interpreter's options (PYTHONPATH,
    // PYTHONHOME, PYTHONSTARTUP, PYTHONINSPECT, PYTHONWARNINGS and PYTHONBREAKPOINT import
    // modules, PYTHONPYCACHEPREFIX, PYTHON_* of 3.13+, …).
    Group {
        why: "changes which code Python loads or how it starts",
        names: &[],
        prefixes: &["PYTHON"],
    },
    // Perl (PERL5LIB, PERL5OPT, PERLLIB, PERL5DB, PERLIO, PERL_MM_OPT, …) and Ruby (RUBYOPT,
    // RUBYLIB, RUBYSHELL, RUBY_*; gems and the Gemfile Bundler evaluates).
    Group {
        why: "changes which code Perl or Ruby loads or how it starts",
        names: &["GEM_HOME", "GEM_PATH", "BUNDLE_GEMFILE"],
        prefixes: &["PERL", "RUBY"],
    },
    // Node.js and npm (npm reads any npm_config_* setting from the environment, such as
    // script-shell and node-options).
    Group {
        why: "changes which code Node.js or npm loads or how it starts",
        names: &["NODE_OPTIONS", "NODE_PATH", "NODE_REPL_EXTERNAL_MODULE"],
        prefixes: &["NPM_CONFIG_"],
    },
    // The JVM (options that add -javaagent:, the class path) and .NET (startup hooks,
    // profilers loaded into the process).
    Group {
        why: "changes which code the Java or .NET runtime loads or how it starts",
        names: &[
            "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS",
            "JDK_JAVA_OPTIONS",
            "JAVA_OPTS",
            "CLASSPATH",
            "DOTNET_STARTUP_HOOKS",
            "DOTNET_ADDITIONAL_DEPS",
            "DOTNET_SHARED_STORE",
        ],
        prefixes: &["CORECLR_"],
    },
    // Other interpreters and tool chains: PHP's ini files (auto_prepend_file), Lua
    // (LUA_INIT runs code), Tcl, R's profiles and libraries, the go command's flags
    // (-toolexec).
    Group {
        why: "changes which code an interpreter or build tool loads or how it starts",
        names: &[
            "PHPRC",
            "PHP_INI_SCAN_DIR",
            "TCLLIBPATH",
            "R_PROFILE",
            "R_PROFILE_USER",
            "R_ENVIRON",
            "R_ENVIRON_USER",
            "R_LIBS",
            "R_LIBS_USER",
            "R_LIBS_SITE",
            "GOFLAGS",
        ],
        prefixes: &["LUA_"],
    },
    // Build tools and editors that run what a variable says: make's compiler and flag
    // variables (`$(CC)` is a command line), Cargo's wrappers, vi's and vim's start-up
    // commands (EXINIT, VIMINIT, `:!cmd`).
    Group {
        why: "is a command line that build tools or editors run",
        names: &[
            "CC",
            "CXX",
            "CPP",
            "LD",
            "AR",
            "AS",
            "MAKE",
            "MAKEFLAGS",
            "MFLAGS",
            "GNUMAKEFLAGS",
            "MAKEFILES",
            "RUSTC",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
            "RUSTDOC",
            "EXINIT",
            "VIMINIT",
            "GVIMINIT",
            "MYVIMRC",
            "VIMRUNTIME",
        ],
        prefixes: &["CARGO_TARGET_", "CARGO_BUILD_"],
    },
    // Clients that run plugins or send the user's credentials where a file or a socket says:
    // kubectl's exec credential plugins, Docker's daemon and credential helpers, the SSH and
    // GnuPG agents, pip's package index, the PostgreSQL client's (and coffer's) server and
    // trust settings.
    Group {
        why: "makes a client run plugins, or send credentials or trust a server, where it says",
        names: &[
            "KUBECONFIG",
            "DOCKER_HOST",
            "DOCKER_CONFIG",
            "DOCKER_CERT_PATH",
            "DOCKER_TLS_VERIFY",
            "SSH_AUTH_SOCK",
            "GNUPGHOME",
            "GPG_AGENT_INFO",
            "PGHOST",
            "PGHOSTADDR",
            "PGPORT",
            "PGSSLMODE",
            "PGSSLROOTCERT",
            "PGSSLCERT",
            "PGSSLKEY",
            "PGPASSFILE",
            "PGSERVICE",
            "PGSERVICEFILE",
            "PGSYSCONFDIR",
        ],
        prefixes: &["PIP_"],
    },
    // Git: its variables run programs (GIT_SSH_COMMAND, GIT_EXEC_PATH, GIT_PAGER,
    // GIT_ASKPASS), load configuration that does (GIT_CONFIG_*, GIT_DIR, GIT_TEMPLATE_DIR),
    // turn off TLS checks (GIT_SSL_NO_VERIFY) or log credentials (GIT_TRACE_CURL).
    Group {
        why: "makes Git run programs, load configuration or log credentials",
        names: &[],
        prefixes: &["GIT_"],
    },
    // Libraries that load shared objects named in a configuration file or a variable:
    // OpenSSL engines and providers, Kerberos plugins, SASL plugins, GTK, GIO, Qt and
    // GStreamer modules; terminal capability databases (sudo's list).
    Group {
        why: "makes a library load modules or settings from where it says",
        names: &[
            "OPENSSL_CONF",
            "OPENSSL_CONF_INCLUDE",
            "OPENSSL_ENGINES",
            "OPENSSL_MODULES",
            "KRB5_CONFIG",
            "KRB5_KDC_PROFILE",
            "KRB5_KTNAME",
            "SASL_PATH",
            "GTK_MODULES",
            "GTK_PATH",
            "GIO_EXTRA_MODULES",
            "GIO_MODULE_DIR",
            "QT_PLUGIN_PATH",
            "TERMINFO",
            "TERMINFO_DIRS",
            "TERMPATH",
            "TERMCAP",
        ],
        prefixes: &["GST_PLUGIN_"],
    },
    // Whom TLS clients trust, and where they write their session keys: with these a store
    // writer reads the traffic that carries the secrets.
    Group {
        why: "decides which servers TLS clients trust, or makes them write their session keys \
              to a file",
        names: &[
            "SSLKEYLOGFILE",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "CURL_CA_BUNDLE",
            "REQUESTS_CA_BUNDLE",
            "NODE_EXTRA_CA_CERTS",
            "NODE_TLS_REJECT_UNAUTHORIZED",
            "AWS_CA_BUNDLE",
        ],
        prefixes: &[],
    },
    // Credentials and endpoints of the AWS SDKs that a command (or a coffer it runs) uses:
    // the config files' credential_process runs a command, an endpoint receives the
    // plaintext of KMS calls. (AWS_ACCESS_KEY_ID and the like stay allowed.)
    Group {
        why: "makes the AWS SDKs run a command for credentials or send requests elsewhere",
        names: &["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"],
        prefixes: &["AWS_ENDPOINT_URL"],
    },
    // coffer's own settings: a store must not point a coffer that the command runs in turn
    // at another store, home or passphrase.
    Group {
        why: "is a setting of coffer itself",
        names: &[],
        prefixes: &["COFFER_"],
    },
];

/// Why the store may not set the variable `var`, completing "VAR …" (`None`: it may).
#[must_use]
pub fn guarded(var: &str) -> Option<&'static str> {
    GROUPS
        .iter()
        .find(|g| g.names.contains(&var) || g.prefixes.iter().any(|p| var.starts_with(p)))
        .map(|g| g.why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_families_are_guarded() {
        for var in [
            "CC",
            "MAKEFLAGS",
            "EXINIT",
            "VIMINIT",
            "RUSTC_WRAPPER",
            "KUBECONFIG",
            "DOCKER_HOST",
            "SSH_AUTH_SOCK",
            "GNUPGHOME",
            "PIP_INDEX_URL",
            "PGSSLROOTCERT",
            "PATH",
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "LD_AUDIT",
            "LD_DEBUG_OUTPUT",
            "DYLD_INSERT_LIBRARIES",
            "GLIBC_TUNABLES",
            "GCONV_PATH",
            "MALLOC_TRACE",
            "TMPDIR",
            "HOME",
            "BASH_ENV",
            "ENV",
            "SHELLOPTS",
            "PS4",
            "IFS",
            "BASH_FUNC_X",
            "ZDOTDIR",
            "PROMPT_COMMAND",
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PYTHON_HISTORY",
            "PERL5OPT",
            "PERL5LIB",
            "RUBYOPT",
            "NODE_OPTIONS",
            "NPM_CONFIG_SCRIPT_SHELL",
            "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS",
            "CLASSPATH",
            "DOTNET_STARTUP_HOOKS",
            "CORECLR_PROFILER_PATH",
            "LUA_INIT",
            "GIT_SSH_COMMAND",
            "GIT_CONFIG_COUNT",
            "GIT_EXEC_PATH",
            "LESSOPEN",
            "PAGER",
            "SSH_ASKPASS",
            "OPENSSL_CONF",
            "SSLKEYLOGFILE",
            "SSL_CERT_FILE",
            "AWS_CONFIG_FILE",
            "AWS_ENDPOINT_URL_KMS",
            "COFFER_STORE",
        ] {
            assert!(guarded(var).is_some(), "{var}");
        }
    }

    #[test]
    fn ordinary_variables_are_not() {
        for var in [
            "DB_PASSWORD",
            "DATABASE_URL",
            "LDAP_URL",
            "LOG_LEVEL",
            "NODE_ENV",
            "RAILS_ENV",
            "GITHUB_TOKEN",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
            "HTTP_PORT",
            "PATH_PREFIX",
            "API_PATH",
            "LANG",
            "TZ",
            "_9LIVES",
        ] {
            assert_eq!(guarded(var), None, "{var}");
        }
    }

    #[test]
    fn every_entry_is_a_name_coffer_can_make() {
        // An entry coffer can never produce would be dead: names are upper-case
        // [A-Z0-9_], not starting with a digit.
        for g in GROUPS {
            assert!(!g.why.is_empty());
            for n in g.names.iter().chain(g.prefixes) {
                assert!(
                    !n.is_empty()
                        && !n.starts_with(|c: char| c.is_ascii_digit())
                        && n.chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                    "{n}"
                );
            }
        }
    }
}
