//! `solo exec <deployment> -- <command>`: any command, run under the deployment's lock.
//!
//! The lock is taken first (at once, or with `--wait`), the command runs as a child with
//! `SOLO_DEPLOYMENT` and `SOLO_LOCK_EPOCH` set while the lock renews in the background, and the
//! lock is released when the child ends. If the lock is lost, the child is killed: work never
//! continues without the lock. SIGINT and SIGTERM are passed on to the child, which decides when
//! to stop; solo then releases and exits with the child's code.
//!
//! When the user holds the lock already (`solo lease acquire`), the command runs under that
//! lock, which is renewed while it runs and stays held after it.
//!
//! When the command ends, and before the release, it is recorded in the deployment's history
//! (R10): argv, user, start time, result (`exit N`, `signal N`, `lock lost`) and duration. If
//! that record cannot be written, solo says so and exits non-zero (the command's effect stays).

use super::{session, write};
use crate::cli::{ExecArgs, Global};
use crate::render::{Failure, Out};
use solo_core::lock::Epoch;
use solo_kube::{Clusters, HistoryEntry, HistoryStore};
use std::process::Stdio;
use tokio::signal::unix::{SignalKind, signal};

/// Run `solo exec`; the exit code is the child's.
pub fn run(args: &ExecArgs, global: &Global, out: &Out) -> Result<u8, Failure> {
    session::block_on(exec(args, global, out))
}

async fn exec(args: &ExecArgs, global: &Global, out: &Out) -> Result<u8, Failure> {
    let session::Opened {
        mut config,
        target,
        clusters,
    } = session::open(&args.deployment, args.state_namespace.as_deref(), global).await?;
    let guard = write::lock(
        &target,
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
    let pid = child.id();
    let forward = |sig: libc::c_int| {
        if let Some(pid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: kill(2) with our own child's pid and a valid signal number.
            unsafe {
                libc::kill(pid, sig);
            }
        }
    };
    let mut sigint = signal(SignalKind::interrupt()).map_err(signal_failure)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(signal_failure)?;
    let mut lost = None;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            reason = guard.lost(), if lost.is_none() => {
                let _ = child.start_kill();
                lost = Some(reason);
            }
            _ = sigint.recv() => forward(libc::SIGINT),
            _ = sigterm.recv() => forward(libc::SIGTERM),
        }
    };
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
    let recorded = record(&clusters, &target, guard.epoch(), &entry).await;
    if let Some(reason) = lost {
        // Frees the leases still ours; the one taken from us is left to its new holder.
        guard.release_after_loss().await;
        let mut failure = Failure::new(
            format!(
                "lost the lock of {} while the command ran, so it was stopped: {reason}",
                target.name
            ),
            "nothing more ran without the lock; check `solo state show` and run it again",
        );
        if let Err(e) = recorded {
            failure = failure.details([e.message]);
        }
        return Err(failure);
    }
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

fn signal_failure(e: std::io::Error) -> Failure {
    Failure::bare(format!("cannot listen for signals: {e}"))
}
