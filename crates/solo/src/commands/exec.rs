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
use solo_kube::{Gathered, HistoryEntry, HistoryError, HistoryStore};
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
    let (
        session::Opened {
            mut config,
            mut target,
            clusters,
        },
        before,
    ) = session::open_to_lock_read(&args.deployment, args.state_namespace.as_deref(), global)
        .await?;
    // The archives the state listed before the lock: where the history entry's reads look first.
    let listed = before
        .as_ref()
        .and_then(session::newest_document)
        .map(|doc| doc.cli.history)
        .unwrap_or_default();
    let history = HistoryStore::new(clusters.clone(), &target.known.state_namespace);
    // The history entry's reads (every copy of the state among them) are the reads under the
    // lock: made beside the claim when the lock is free after a clean release.
    let gather = |target: &session::Target| {
        let (name, refs) = (target.name.clone(), target.known.cluster_refs.clone());
        let (history, listed) = (&history, &listed);
        async move { history.gather(&name, &refs, listed).await }
    };
    let (guard, gathered) = write::lock_and_read_with(
        &mut target,
        &clusters,
        &mut config,
        global,
        out,
        args.wait.as_deref(),
        gather,
        Gathered::state,
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
    let foreground = in_foreground();
    let mut command = tokio::process::Command::new(program);
    command
        .args(rest)
        .env("SOLO_DEPLOYMENT", &target.name)
        .env("SOLO_LOCK_EPOCH", guard.epoch().to_string())
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .process_group(0);
    if foreground {
        // SAFETY: between fork and exec the child only makes async-signal-safe calls on its own
        // process group and the terminal on fd 0 (as a shell's job control does).
        unsafe {
            command.pre_exec(|| {
                take_terminal(libc::getpgrp());
                Ok(())
            });
        }
    }
    let child = command.spawn();
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
    let terminal = group.filter(|_| foreground).map(Terminal::hand_to);
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
    drop(terminal);
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
    let recorded = record(&history, &target, guard.epoch(), &entry, gathered).await;
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

/// Appends the command's entry to the deployment's history, under the lock still held, from
/// the reads gathered when the lock was taken. If another command under the same kept lock
/// appended meanwhile, the append reads again once.
async fn record(
    history: &HistoryStore,
    target: &session::Target,
    epoch: Epoch,
    entry: &HistoryEntry,
    gathered: Gathered<'_>,
) -> Result<(), Failure> {
    let listed = session::newest_document(gathered.state())
        .map(|doc| doc.cli.history)
        .unwrap_or_default();
    let appended = match gathered.prepare(epoch) {
        Ok(prepared) => prepared.append(entry).await,
        Err(e) => Err(e),
    };
    let appended = match appended {
        Err(HistoryError::Conflict { .. }) => {
            history
                .append_listed(
                    epoch,
                    &target.name,
                    &target.known.cluster_refs,
                    entry,
                    &listed,
                )
                .await
        }
        other => other,
    };
    appended.map(|_| ()).map_err(|e| {
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

/// Whether solo runs in the foreground of a terminal on its standard input: then the command's
/// own process group must get the terminal, or an interactive command stops on its first read.
fn in_foreground() -> bool {
    // SAFETY: isatty, tcgetpgrp and getpgrp only read the state of fd 0 and of this process.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// Makes `group` the terminal's foreground group, as a shell does for a job it starts.
///
/// SAFETY (callers): async-signal-safe calls only, so it may run between fork and exec.
unsafe fn take_terminal(group: libc::pid_t) {
    // SAFETY: SIGTTOU is ignored around tcsetpgrp, which a background group may then call.
    unsafe {
        let before = libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        libc::tcsetpgrp(0, group);
        libc::signal(libc::SIGTTOU, before);
    }
}

/// The terminal, handed to the command's group while it runs and given back to solo's when
/// dropped (so solo's own messages and prompts after the command reach the terminal).
struct Terminal {
    ours: libc::pid_t,
}

impl Terminal {
    fn hand_to(group: libc::pid_t) -> Self {
        // SAFETY: getpgrp reads this process's group; take_terminal is safe in any context.
        let ours = unsafe { libc::getpgrp() };
        unsafe { take_terminal(group) };
        Terminal { ours }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // SAFETY: gives the terminal back to solo's own process group.
        unsafe { take_terminal(self.ours) };
    }
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
