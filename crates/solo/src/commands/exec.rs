//! `solo exec <deployment> -- <command>`: any command, run under the deployment's lock.
//!
//! The lock is taken first (at once, or with `--wait`), the command runs as a child with
//! `SOLO_DEPLOYMENT` and `SOLO_LOCK_EPOCH` set while the lock renews in the background, and the
//! lock is released when the child ends. The child runs in a process group of its own: if the lock
//! is lost, the whole group (children it started in the background included) gets SIGTERM, then
//! SIGKILL after a grace period, so work never continues without the lock; when the child ends,
//! what it left running in its group is ended the same way. SIGINT and SIGTERM are passed on to
//! the group, which decides when to stop; solo then releases and exits with the child's code.
//!
//! When the user holds the lock already (`solo lease acquire`), the command runs under that
//! lock, which is renewed while it runs and stays held after it.
//!
//! When the command ends, and before the release, it is recorded in the deployment's history
//! (R10): argv, user, start time, result (`exit N`, `signal N`) and duration, fenced by the lock's
//! epoch. If that record cannot be written, solo says so and exits non-zero (the command's effect
//! stays). A run that lost the lock is not recorded: nothing is written without the lock.

use super::{session, write};
use crate::cli::{ExecArgs, Global};
use crate::render::{Failure, Out};
use solo_core::lock::Epoch;
use solo_kube::{Clusters, HistoryEntry, HistoryStore};
use std::process::Stdio;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// How long the command's process group may take to stop after SIGTERM before it gets SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// Run `solo exec`; the exit code is the child's.
pub fn run(args: &ExecArgs, global: &Global, out: &Out) -> Result<u8, Failure> {
    session::block_on(exec(args, global, out))
}

async fn exec(args: &ExecArgs, global: &Global, out: &Out) -> Result<u8, Failure> {
    let session::Opened {
        mut config,
        mut target,
        clusters,
    } = session::open(&args.deployment, args.state_namespace.as_deref(), global).await?;
    let guard = write::lock(
        &mut target,
        &clusters,
        &mut config,
        global,
        out,
        args.wait.as_deref(),
    )
    .await?;
    let user = guard.user().to_owned();

    let (program, rest) = match args.command.split_first() {
        Some(split) => split,
        None => {
            guard.release().await?;
            return Err(Failure::new("no command to run", "write it after `--`").code(2));
        }
    };
    let started_at = jiff::Timestamp::now();
    let started = std::time::Instant::now();
    let child = tokio::process::Command::new(program)
        .args(rest)
        .env("SOLO_DEPLOYMENT", &target.name)
        .env("SOLO_LOCK_EPOCH", guard.epoch().to_string())
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            guard.release().await?;
            return Err(Failure::new(
                format!("cannot run {program}: {e}"),
                "check the command exists and is executable (it is looked up in PATH)",
            )
            .code(if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            }));
        }
    };
    // The child leads its own group: its pid is the group's id.
    let group = child.id().and_then(|p| libc::pid_t::try_from(p).ok());
    let forward = |sig: libc::c_int| signal_group(group, sig);
    let mut sigint = signal(SignalKind::interrupt()).map_err(signal_failure)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(signal_failure)?;
    let mut lost = None;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            reason = guard.lost(), if lost.is_none() => {
                forward(libc::SIGTERM);
                lost = Some(reason);
            }
            _ = tokio::time::sleep(GRACE), if lost.is_some() => forward(libc::SIGKILL),
            _ = sigint.recv() => forward(libc::SIGINT),
            _ = sigterm.recv() => forward(libc::SIGTERM),
        }
    };
    end_group(group).await;
    use std::os::unix::process::ExitStatusExt;
    let result = match (&lost, &status) {
        (Some(_), _) => "lock lost".to_owned(),
        (None, Ok(s)) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(sig)) => format!("signal {sig}"),
            (None, None) => "ended".to_owned(),
        },
        (None, Err(e)) => format!("unknown: {e}"),
    };
    let entry = HistoryEntry {
        command: args.command.clone(),
        executed_by: user,
        executed_at: started_at,
        result,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        authenticated_as: None,
    };
    if let Some(reason) = lost {
        // Frees the leases still ours; the one taken from us is left to its new holder.
        guard.release_after_loss().await;
        return Err(Failure::new(
            format!(
                "lost the lock of {} while the command ran, so it was stopped: {reason}",
                target.name
            ),
            "nothing more ran without the lock; check `solo state show` and run it again",
        ));
    }
    let recorded = record(&clusters, &target, guard.epoch(), &entry).await;
    let released = guard.release().await;
    let status = status.map_err(|e| Failure::bare(format!("cannot wait for {program}: {e}")))?;
    recorded?;
    released?;
    let code = match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(1),
        (None, None) => 1,
    };
    Ok(code)
}

/// Appends the command's entry to the deployment's history, under the lock still held.
async fn record(
    clusters: &Clusters,
    target: &session::Target,
    epoch: Epoch,
    entry: &HistoryEntry,
) -> Result<(), Failure> {
    let store = HistoryStore::new(clusters.clone(), &target.known.state_namespace);
    store
        .append(epoch, &target.name, &target.known.cluster_refs, entry)
        .await
        .map(|_| ())
        .map_err(|e| {
            Failure::new(
                format!(
                    "the command ended ({}) but its history entry could not be written: {e}",
                    entry.result
                ),
                format!(
                    "the command's effect stays; `solo history {}` does not list this run",
                    target.name
                ),
            )
        })
}

/// Sends `sig` to every process of the command's group.
fn signal_group(group: Option<libc::pid_t>, sig: libc::c_int) {
    if let Some(group) = group.filter(|g| *g > 0) {
        // SAFETY: kill(2) on the process group our own child leads, with a valid signal number.
        unsafe {
            libc::kill(-group, sig);
        }
    }
}

/// Ends what is left of the command's group: SIGTERM, then SIGKILL after the grace period.
async fn end_group(group: Option<libc::pid_t>) {
    let Some(group) = group.filter(|g| *g > 0) else {
        return;
    };
    // SAFETY: kill(2) with signal 0 only asks whether the group still has a process.
    let alive = || unsafe { libc::kill(-group, 0) } == 0;
    if !alive() {
        return;
    }
    signal_group(Some(group), libc::SIGTERM);
    let deadline = tokio::time::Instant::now() + GRACE;
    while alive() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if alive() {
        signal_group(Some(group), libc::SIGKILL);
    }
}

fn signal_failure(e: std::io::Error) -> Failure {
    Failure::bare(format!("cannot listen for signals: {e}"))
}
