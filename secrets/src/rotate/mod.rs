//! Secret rotation (`coffer rotate NAME`): a new value is staged, pushed to the system that
//! uses it, tested, and only then promoted, with the previous value kept for a rollback.
//!
//! 1. The new value is generated ([`generate`], `--generate SPEC`) or read (stdin or
//!    `--value-file`) and written as a new version labelled `pending`.
//! 2. The set hook, then the test hook, run with the new value on stdin and
//!    `COFFER_ROTATE_NAME`, `COFFER_ROTATE_VERSION` (new) and `COFFER_ROTATE_OLD_VERSION` in
//!    the environment ([`hook`]); each has a time limit.
//! 3. On success one transaction points `current` at the new version and `previous` at the
//!    old one, and removes `pending` ([`crate::params::ParamStore::promote`]). `get NAME`
//!    (and `exec`) read the version labelled `current`; the first rotation of a parameter
//!    labels its old value `current` before anything else, and a plain `put` moves
//!    `current` to the version it writes.
//!
//! A failed or hung hook, or a crash, leaves `current` where it was and the new version
//! labelled `pending`. The next `rotate NAME` resumes that version: it runs the hooks again
//! with the same value (hooks must bear being run twice, as a crash can come after a hook
//! did its work) and promotes it. `--discard-pending` drops it instead and starts over.

pub mod generate;
pub mod hook;
mod lease;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Advice, Error};
use crate::params::{
    Expect, Label, ParamName, Params, PutRequest, RotationPlan, SecretValue, Selector, ValueSource,
    VersionMeta, Which,
};
use crate::store::Prompt;

pub use crate::error::{Busy, HookFailed};
pub use generate::GenSpec;
use hook::{Ended, HookEnv, HookRun, Step};
pub use lease::holder;
use lease::{claim, release};

pub use crate::params::{CURRENT, PENDING, PREVIOUS};

/// The type a rotation writes: a rotated value is a secret, encrypted whatever type the
/// store's rows claim for the versions before it.
const STAGED_TYPE: crate::params::ParamType = crate::params::ParamType::SecureString;

/// The default time limit of each hook.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(300);

/// What `rotate NAME` does.
#[derive(Debug, Clone)]
pub struct RotateRequest {
    /// The parameter.
    pub name: ParamName,
    /// `--generate SPEC`; `None`: the value is read.
    pub generate: Option<GenSpec>,
    /// `--value-file`; `None`: stdin (when not generating).
    pub value_file: Option<PathBuf>,
    /// `--set-hook CMD`.
    pub set_hook: Option<String>,
    /// `--test-hook CMD`.
    pub test_hook: Option<String>,
    /// `--hook-timeout`.
    pub hook_timeout: Duration,
    /// `--discard-pending`: drop a pending version left by an earlier run.
    pub discard_pending: bool,
    /// Whether the value source or a hook was given (else a stored plan is used).
    pub explicit: bool,
    /// Whether a value was given (stdin with `--value-file -`, or a file): a resume, which
    /// keeps its pending value, refuses it.
    pub value_given: bool,
    /// The directory the hooks run in (where `rotate` was typed; a stored plan keeps it).
    pub workdir: PathBuf,
    /// Asks for the value when it is read and there is a person to ask (the CLI, when stdin
    /// is a terminal); else stdin is read.
    pub prompt: Option<Arc<dyn Prompt>>,
}

/// A rotation done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The parameter.
    pub name: ParamName,
    /// The version now labelled `current`.
    pub version: u32,
    /// The version now labelled `previous` (none for a parameter with no earlier value).
    pub previous: Option<u32>,
    /// Whether a pending version of an earlier run was resumed.
    pub resumed: bool,
    /// The hooks that ran.
    pub hooks: Vec<&'static str>,
}

fn label(name: &str) -> Result<Label, Error> {
    Ok(Label::parse(name)?)
}

fn has_label(v: &VersionMeta, l: &str) -> bool {
    v.labels.iter().any(|x| x == l)
}

/// Rotates `req.name` (see the module docs), holding its rotation lease: a parameter with a
/// schedule and no settings in `req` is rotated as its stored plan says. Hooks run under the
/// supervisor `launcher` starts ([`hook::Launcher`]). `say` is told of each step.
///
/// # Errors
/// Another run holds the lease ([`Busy`]); no such parameter, deleted; the value cannot be
/// read or written; a hook failed ([`HookFailed`], the new version stays pending); the
/// labels moved meanwhile.
pub async fn rotate(
    params: &Params,
    req: &RotateRequest,
    launcher: &hook::Launcher,
    say: impl FnMut(&str),
) -> Result<Rotated, Error> {
    let holder = holder();
    let name = &req.name;
    // Below a path whose key this home cannot use, nothing is staged, not even a lease (and
    // its rows are not read: they cannot be checked here).
    params.check_root(name).await?;
    // A missing or deleted parameter is reported as such, before any lease row is made.
    params
        .unlocked_store()
        .await?
        .history(name)
        .await
        .map_err(not_found)?;
    let plan = claim(params, name, &holder, false, req.hook_timeout)
        .await?
        .flatten();
    let done = async {
        let pending_run = plan.as_ref().and_then(|p| p.pending_run.clone());
        let req = match plan {
            Some(plan) if !req.explicit && plan.every_secs.is_some() => {
                params.check_plan(&plan).await?;
                let mut from = from_plan(&plan)?;
                from.discard_pending = req.discard_pending;
                if from.hook_timeout > req.hook_timeout {
                    // The lease must outlast the plan's hooks: taken again (it is ours).
                    claim(params, name, &holder, false, from.hook_timeout).await?;
                }
                from
            }
            _ => req.clone(),
        };
        rotate_leased(params, &req, launcher, &holder, pending_run.as_deref(), say).await
    }
    .await;
    release(params, name, &holder, &done).await;
    done
}

fn not_found(e: Error) -> Error {
    match e {
        Error::NotFound(n) => {
            Error::missing(format!("no parameter named {n}")).advice(Advice::PutFirst(n.clone()))
        }
        other => other,
    }
}

/// The request a stored plan makes.
///
/// # Errors
/// The plan has no generator (scheduled rotations read no stdin), or a bad one.
pub fn from_plan(plan: &RotationPlan) -> Result<RotateRequest, Error> {
    let Some(spec) = &plan.generate else {
        return Err(Error::backend(format!(
            "the rotation plan of {} has no generator: a scheduled rotation needs one",
            plan.name
        ))
        .advice(Advice::ScheduleWithGenerator(plan.name.clone())));
    };
    Ok(RotateRequest {
        name: plan.name.clone(),
        generate: Some(GenSpec::parse(spec).map_err(|e| Error::backend(e.to_string()))?),
        value_file: None,
        set_hook: plan.set_hook.clone(),
        test_hook: plan.test_hook.clone(),
        hook_timeout: Duration::from_secs(plan.hook_timeout_secs).min(hook::MAX_TIMEOUT),
        discard_pending: false,
        explicit: true,
        value_given: false,
        // A plan stored before coffer recorded the directory runs its hooks here.
        workdir: match &plan.workdir {
            Some(dir) => PathBuf::from(dir),
            None => std::env::current_dir()
                .map_err(|e| Error::backend("cannot read the working directory").caused_by(e))?,
        },
        prompt: None,
    })
}

/// The settings of the run that staged a `pending` version, sealed with it
/// ([`Params::seal_run`]): a resumed rotation runs the same hooks, in the same directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct RunSettings {
    /// The generator SPEC (`None`: the value was given).
    generate: Option<String>,
    set_hook: Option<String>,
    test_hook: Option<String>,
    hook_timeout_secs: u64,
    workdir: String,
    /// The type the pending version was written with, and the SHA-256 of its value (hex):
    /// a resume runs the hooks with that value only, whatever the rows say meanwhile.
    param_type: String,
    value_sha256: String,
}

/// The SHA-256 of `value`, in hex.
fn value_digest(value: &SecretValue) -> String {
    hex::encode(coffer_core::sha256(&[value.expose().as_bytes()]))
}

impl RunSettings {
    fn of(req: &RotateRequest, value: &SecretValue) -> Result<Self, Error> {
        Ok(Self {
            param_type: STAGED_TYPE.as_str().to_owned(),
            value_sha256: value_digest(value),
            generate: req.generate.as_ref().map(ToString::to_string),
            set_hook: req.set_hook.clone(),
            test_hook: req.test_hook.clone(),
            hook_timeout_secs: req.hook_timeout.as_secs().max(1),
            workdir: req
                .workdir
                .to_str()
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "the working directory {} is not UTF-8: hooks cannot be recorded to run there",
                        req.workdir.display()
                    ))
                })?
                .to_owned(),
        })
    }

    /// Why `req` (given on the command line, or a schedule's plan) may not resume a version
    /// staged with these settings, if it may not: a resume keeps the pending value and
    /// runs the hooks it was staged with.
    fn conflict(&self, req: &RotateRequest) -> Option<String> {
        if !req.explicit {
            return None;
        }
        let was = |g: &Option<String>| match g {
            Some(spec) => format!("the generator {spec}"),
            None => "a value given by the caller".to_owned(),
        };
        if req.value_given {
            return Some(format!(
                "a resume keeps the pending value, and a new one was given (it was staged \
                 with {})",
                was(&self.generate)
            ));
        }
        if let Some(spec) = &req.generate {
            let spec = spec.to_string();
            if self.generate.as_deref() != Some(spec.as_str()) {
                return Some(format!(
                    "it was staged with {}, not the generator {spec}",
                    was(&self.generate)
                ));
            }
        }
        let given = req.set_hook.is_some() || req.test_hook.is_some();
        if given && (req.set_hook != self.set_hook || req.test_hook != self.test_hook) {
            let show =
                |h: &Option<String>| h.as_deref().map_or("none".to_owned(), |c| format!("`{c}`"));
            return Some(format!(
                "it was staged with set hook {} and test hook {}, not {} and {}",
                show(&self.set_hook),
                show(&self.test_hook),
                show(&req.set_hook),
                show(&req.test_hook)
            ));
        }
        None
    }

    fn apply(&self, req: &RotateRequest) -> RotateRequest {
        let mut out = req.clone();
        out.set_hook.clone_from(&self.set_hook);
        out.test_hook.clone_from(&self.test_hook);
        out.hook_timeout = Duration::from_secs(self.hook_timeout_secs).min(hook::MAX_TIMEOUT);
        out.workdir = PathBuf::from(&self.workdir);
        out
    }
}

/// Rotates with the lease held. `recorded`: the sealed settings of the run that staged the
/// pending version, if the store has them.
async fn rotate_leased(
    params: &Params,
    req: &RotateRequest,
    launcher: &hook::Launcher,
    holder: &str,
    recorded: Option<&[u8]>,
    mut say: impl FnMut(&str),
) -> Result<Rotated, Error> {
    let name = &req.name;
    let (state, versions) = params
        .store()
        .await?
        .history(name)
        .await
        .map_err(not_found)?;
    if let Some(at) = state.deleted_at {
        return Err(Error::Deleted {
            name: name.clone(),
            at,
        });
    }
    let live = |v: &&VersionMeta| v.destroyed_at.is_none();
    // The version `current` labels (its value may have been destroyed: then there is no
    // old value for the hooks, and no `previous` to keep).
    let current = versions.iter().find(|v| has_label(v, CURRENT));
    let current_version = current.map(|v| v.version);
    let old = current.filter(live);
    let old_version = old.map(|v| v.version);
    let pending = versions.iter().filter(live).find(|v| has_label(v, PENDING));
    let resumable = pending.filter(|p| current_version.is_none_or(|o| p.version > o));
    let resume = resumable.filter(|_| !req.discard_pending);

    let (version, value, resumed, req) = match resume {
        Some(p) => {
            let run = resumed_settings(params, name, p.version, recorded).await?;
            if let Some(why) = run.conflict(req) {
                return Err(Error::Resume {
                    name: name.clone(),
                    version: p.version,
                    why,
                    new_value: req.value_given,
                });
            }
            say(&format!(
                "resuming the rotation of {name} to version {} (left pending by an earlier run)",
                p.version
            ));
            let got = params
                .get(&Selector {
                    name: name.clone(),
                    which: Which::Version(p.version),
                })
                .await?;
            // The pending row must hold what was staged: a value or a type changed in the
            // store meanwhile is never pushed to the system by the hooks.
            let digest = value_digest(&got.value);
            if got.meta.param_type.as_str() != run.param_type
                || !coffer_core::ct_eq(digest.as_bytes(), run.value_sha256.as_bytes())
            {
                return Err(Error::Resume {
                    name: name.clone(),
                    version: p.version,
                    why: "its value or type is not what the run that staged it wrote (changed \
                          outside coffer?): refused, and no hook ran"
                        .into(),
                    new_value: false,
                });
            }
            let resumed = run.apply(req);
            // The lease must outlast the recorded hooks' time limit: taken again (it is ours).
            if resumed.hook_timeout > req.hook_timeout {
                claim(params, name, holder, false, resumed.hook_timeout).await?;
            }
            (p.version, got.value, true, resumed)
        }
        None => {
            // A new value is read (or made) before anything is written.
            let value = new_value(req)?;
            let version = state
                .latest
                .checked_add(1)
                .ok_or_else(|| Error::backend(format!("{name} has no version numbers left")))?;
            // The settings are recorded (sealed) before the version they stage exists, so a
            // pending version is never left without them.
            let settings = serde_json::to_vec(&RunSettings::of(req, &value)?).map_err(|e| {
                Error::backend("cannot encode the rotation's settings").caused_by(e)
            })?;
            let sealed = params.seal_run(name, version, &settings).await?;
            params
                .store()
                .await?
                .set_pending_run(name, holder, Some(&sealed))
                .await?;
            if let Some(p) = resumable {
                params
                    .writable_store()
                    .await?
                    .unlabel(name, &[label(PENDING)?])
                    .await?;
                say(&format!("discarded pending version {}", p.version));
            }
            let template = current.or_else(|| versions.last());
            let meta = params
                .put_with(
                    PutRequest {
                        name: name.clone(),
                        param_type: STAGED_TYPE,
                        value: value.clone(),
                        expect: Expect::Version(state.latest),
                        labels: vec![label(PENDING)?],
                        description: template.and_then(|v| v.description.clone()),
                        tags: template.map(|v| v.tags.clone()).unwrap_or_default(),
                        expires_at: None,
                        author: crate::params::os_user(),
                    },
                    // Always encrypted, whatever type the store's rows claim.
                    crate::params::TypeRule::Change,
                )
                .await
                .map_err(|e| match e {
                    Error::VersionMismatch { actual, .. } => Error::conflict(format!(
                        "{name} was written meanwhile (version {}): nothing was rotated",
                        actual.unwrap_or(0)
                    ))
                    .advice(Advice::AnotherRotation),
                    other => other,
                })?;
            say(&format!(
                "wrote version {} of {name} as `pending`",
                meta.version
            ));
            (meta.version, value, false, req.clone())
        }
    };

    let env = HookEnv {
        name: name.to_string(),
        version,
        old_version,
    };
    let mut hooks = Vec::new();
    for (step, command) in [(Step::Set, &req.set_hook), (Step::Test, &req.test_hook)] {
        let Some(command) = command else { continue };
        say(&format!("running the {} hook", step.as_str()));
        let cannot = |e: std::io::Error| {
            Error::backend(format!(
                "cannot run the {} hook in {}",
                step.as_str(),
                req.workdir.display()
            ))
            .caused_by(e)
        };
        if !req.workdir.is_dir() {
            return Err(cannot(std::io::Error::from(std::io::ErrorKind::NotFound)));
        }
        // The lease is renewed for this hook's time limit (a slow key or prompt before it
        // must not leave it short), and a run that lost it stops here.
        claim(params, name, holder, false, req.hook_timeout).await?;
        let running = hook::start(
            launcher,
            command,
            step,
            value.expose().as_bytes(),
            &env,
            &req.workdir,
            req.hook_timeout,
        )
        .map_err(cannot)?;
        // Recorded with the lease: should this run die, its lease is taken over only once
        // this group is gone.
        let noted = params
            .store()
            .await?
            .set_rotation_hook(name, holder, Some(running.group()))
            .await;
        let run = running.wait().map_err(cannot)?;
        noted?;
        params
            .writable_store()
            .await?
            .set_rotation_hook(name, holder, None)
            .await?;
        if !run.succeeded() {
            return Err(Error::Hook(Box::new(failed(
                name,
                step,
                version,
                old_version,
                run,
            ))));
        }
        hooks.push(step.as_str());
    }
    params
        .writable_store()
        .await?
        .promote(name, version, current_version)
        .await?;
    Ok(Rotated {
        name: name.clone(),
        version,
        previous: old_version,
        resumed,
        hooks,
    })
}

/// The settings recorded for the pending version `version`, checked.
///
/// # Errors
/// [`Error::Resume`]: none are recorded (a store written before coffer recorded
/// them, or a row changed outside coffer), or they do not verify.
async fn resumed_settings(
    params: &Params,
    name: &ParamName,
    version: u32,
    recorded: Option<&[u8]>,
) -> Result<RunSettings, Error> {
    let refused = |why: &str| Error::Resume {
        name: name.clone(),
        version,
        why: why.to_owned(),
        new_value: false,
    };
    let Some(sealed) = recorded else {
        return Err(refused(
            "the settings of the run that staged it (its hooks) are not recorded, so they cannot \
             be run again",
        ));
    };
    let bytes = params.open_run(name, version, sealed).await?;
    serde_json::from_slice(&bytes).map_err(|_| refused("its recorded settings cannot be read"))
}

/// The new value: generated, or read from `--value-file` or stdin (not empty).
fn new_value(req: &RotateRequest) -> Result<SecretValue, Error> {
    if let Some(spec) = &req.generate {
        return Ok(SecretValue::new(spec.generate().map_err(|e| {
            Error::backend("cannot generate the new value").caused_by(e)
        })?));
    }
    let source = match (&req.value_file, &req.prompt) {
        (Some(p), _) => ValueSource::File(p),
        (None, Some(prompt)) => ValueSource::Prompt(prompt.as_ref()),
        (None, None) => ValueSource::Stdin,
    };
    let value = crate::params::read_value(&source, crate::params::max_value_bytes_from_env()?)?;
    if value.expose().is_empty() {
        return Err(Error::invalid(format!(
            "the new value of {} is empty: nothing was rotated",
            req.name
        ))
        .advice(Advice::GiveValue));
    }
    Ok(value)
}

fn failed(
    name: &ParamName,
    step: Step,
    version: u32,
    old: Option<u32>,
    run: HookRun,
) -> HookFailed {
    let how = match run.ended {
        Ended::Exited(s) => match s.code() {
            Some(code) => format!("exited with status {code}"),
            None => format!("was killed ({s})"),
        },
        Ended::TimedOut(t) => format!(
            "ran past its time limit of {}s and was killed",
            t.as_secs_f64()
        ),
    };
    HookFailed {
        name: name.clone(),
        step: step.as_str(),
        how,
        version,
        current: match old {
            Some(v) => format!("`current` is still version {v}"),
            None => "nothing is `current`".to_owned(),
        },
        output: run.output,
    }
}

/// What `rotate --due` did.
#[derive(Debug, Default, serde::Serialize)]
pub struct DueReport {
    /// Rotated.
    pub rotated: Vec<DueRotated>,
    /// Failed (the next run tries again).
    pub failed: Vec<DueFailed>,
    /// Left alone: not due any more, or being rotated by another run.
    pub skipped: Vec<DueSkipped>,
}

/// A secret `rotate --due` rotated.
#[derive(Debug, serde::Serialize)]
pub struct DueRotated {
    /// The parameter.
    pub name: String,
    /// The version now `current`.
    pub version: u32,
    /// The version now `previous`.
    pub previous: Option<u32>,
    /// When it is due again (RFC 3339).
    pub next_due: Option<String>,
}

/// A secret whose scheduled rotation failed.
#[derive(Debug, serde::Serialize)]
pub struct DueFailed {
    /// The parameter.
    pub name: String,
    /// Why.
    pub error: String,
    /// The failed hook's output, if a hook failed.
    pub output: Option<String>,
}

/// A secret `rotate --due` left alone.
#[derive(Debug, serde::Serialize)]
pub struct DueSkipped {
    /// The parameter.
    pub name: String,
    /// Why.
    pub reason: String,
}

impl DueReport {
    fn skip(&mut self, name: &ParamName, reason: String) {
        self.skipped.push(DueSkipped {
            name: name.to_string(),
            reason,
        });
    }

    fn fail(&mut self, name: &ParamName, e: &Error) {
        self.failed.push(DueFailed {
            name: name.to_string(),
            error: format!("{e:#}"),
            output: None,
        });
    }
}

/// Every secret whose schedule is due, one at a time, each under its lease (two runs at once
/// rotate a secret once), hooks under `launcher`'s supervisor.
///
/// # Errors
/// The store cannot list the plans. A failed rotation is in the report, not an error.
pub async fn rotate_due(
    params: &Params,
    launcher: &hook::Launcher,
    mut say: impl FnMut(&str),
) -> Result<DueReport, Error> {
    let mut report = DueReport::default();
    let holder = holder();
    let now = crate::time::now_unix();
    for plan in params.store().await?.rotation_plans().await? {
        let due = plan.every_secs.is_some() && plan.next_due.is_some_and(|d| d <= now);
        if !due {
            continue;
        }
        let name = plan.name.clone();
        match params.check_root(&name).await {
            Ok(()) => {}
            // Left to the machines that hold the root, as `key rotate --due` does.
            Err(e) if crate::store::roots::is_missing_root(&e) => {
                report.skip(&name, format!("{e}"));
                continue;
            }
            Err(e) => {
                say(&format!("{name}: {e:#}"));
                report.fail(&name, &e);
                continue;
            }
        }
        let timeout = Duration::from_secs(plan.hook_timeout_secs).min(hook::MAX_TIMEOUT);
        let claimed = match claim(params, &name, &holder, true, timeout).await {
            Ok(Some(Some(plan))) => plan,
            Ok(_) => {
                report.skip(&name, "not due any more (rotated meanwhile)".into());
                continue;
            }
            Err(e) if matches!(e, Error::RotationBusy(_) | Error::Deleted { .. }) => {
                report.skip(&name, format!("{e}"));
                continue;
            }
            Err(e) => {
                say(&format!("{name}: {e:#}"));
                report.fail(&name, &e);
                continue;
            }
        };
        say(&format!("rotating {name} (due)"));
        let done = match params.check_plan(&claimed).await {
            Ok(()) => match from_plan(&claimed) {
                Ok(req) => {
                    rotate_leased(
                        params,
                        &req,
                        launcher,
                        &holder,
                        claimed.pending_run.as_deref(),
                        &mut say,
                    )
                    .await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        release(params, &name, &holder, &done).await;
        match done {
            Ok(r) => report.rotated.push(DueRotated {
                name: name.to_string(),
                version: r.version,
                previous: r.previous,
                next_due: claimed
                    .every_secs
                    .and_then(|e| i64::try_from(e).ok())
                    .map(|e| {
                        crate::time::format_rfc3339(crate::time::now_unix().saturating_add(e))
                    }),
            }),
            Err(e) => {
                let output = match &e {
                    Error::Hook(h) => Some(h.output.clone()),
                    _ => None,
                };
                report.failed.push(DueFailed {
                    name: name.to_string(),
                    error: e.full_message(),
                    output,
                });
            }
        }
    }
    Ok(report)
}
