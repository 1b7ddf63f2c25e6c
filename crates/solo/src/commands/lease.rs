//! `solo lease status`: who holds each lease of a deployment's lock, read without taking it;
//! `solo lease break --force`: the audited escape; `acquire|renew|release` are in `kept.rs`.

use super::session;
use crate::cli::{BreakArgs, DeploymentArgs, Global, LeaseCommand, Output};
use crate::render::{Failure, Out};
use serde_json::json;
use solo_core::lock::{HolderField, LeaseKey, Phase, SoloToolHolder, Waiter};

/// Run a `solo lease` command.
pub fn run(cmd: &LeaseCommand, global: &Global, out: &Out) -> Result<(), Failure> {
    match cmd {
        LeaseCommand::Status(args) => session::block_on(status(args, global, out)),
        LeaseCommand::Break(args) => session::block_on(break_lock(args, global, out)),
        LeaseCommand::Acquire(args) => session::block_on(super::kept::acquire(args, global, out)),
        LeaseCommand::Renew(args) => session::block_on(super::kept::renew(args, global, out)),
        LeaseCommand::Release(args) => session::block_on(super::kept::release(args, global, out)),
    }
}

async fn break_lock(args: &BreakArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let name = &args.target.deployment;
    if !args.force {
        return Err(Failure::new(
            format!("refusing to break the lock of {name} without --force"),
            format!(
                "see who holds it first (`solo lease status {name}`); if that holder is gone for good, run `solo lease break {name} --force --reason '...'`"
            ),
        )
        .code(2));
    }
    let session::Opened {
        mut config,
        target,
        clusters,
    } = session::open(name, args.target.state_namespace.as_deref(), global).await?;
    let lock_set = target.lock_set()?;
    let identity = session::lock_identity(global, &mut config)?;
    let removed = solo_kube::break_lock_audited(&clusters, &lock_set, &identity, &args.reason)
        .await
        .map_err(|e| session::lock_failure(&e, &target.known.state_namespace))?;
    let rows: Vec<_> = removed
        .iter()
        .map(|(key, holder)| {
            json!({
                "cluster": key.cluster,
                "namespace": key.namespace,
                "removed": holder.describe(),
            })
        })
        .collect();
    match out.format {
        Output::Table => {
            if rows.is_empty() {
                out.say(&format!("nobody held the lock of {name}; nothing to break"));
            }
            for row in &rows {
                out.say(&format!(
                    "broke the lease of {name} in cluster {} (namespace {}): removed {}; recorded as a LeaseBroken event there",
                    row["cluster"].as_str().unwrap_or_default(),
                    row["namespace"].as_str().unwrap_or_default(),
                    row["removed"].as_str().unwrap_or_default()
                ));
            }
            Ok(())
        }
        _ => {
            out.result(&super::structured(
                out.format,
                &json!({ "deployment": name, "broken": rows }),
            ));
            Ok(())
        }
    }
}

async fn status(args: &DeploymentArgs, global: &Global, out: &Out) -> Result<(), Failure> {
    let (session::Opened { target, .. }, leases) =
        session::open_and_read_lock(&args.deployment, args.state_namespace.as_deref(), global)
            .await?;
    let now = jiff::Timestamp::now();
    // The lock's queue: each waiter once, with where its ticket is (the lock set's queue
    // namespace; an older solo put one in every namespace), oldest stamp first. Every lease
    // shows it: a waiter waits for the whole lock.
    let mut queue: Vec<(&LeaseKey, &Waiter)> = Vec::new();
    for (key, _, tickets) in &leases {
        for waiter in tickets {
            if !queue.iter().any(|(_, w)| w.request_id == waiter.request_id) {
                queue.push((key, waiter));
            }
        }
    }
    queue.sort_by(|a, b| a.1.stamp_key().cmp(&b.1.stamp_key()));
    let mut rows = Vec::new();
    for (key, lease, _) in &leases {
        let record = lease.as_ref().map(|v| &v.value);
        let holder = record.and_then(|r| r.holder.as_ref());
        let expires = record.and_then(|r| {
            let renewed = r.renew_time.or(r.acquire_time)?;
            let d = jiff::SignedDuration::try_from(r.lease_duration).ok()?;
            renewed.checked_add(d).ok()
        });
        let state = match (holder, expires) {
            (None, _) => "free",
            (Some(_), Some(t)) if t < now => "expired",
            (Some(_), _) => "held",
        };
        let holder_json = holder.map(|h| match h {
            HolderField::Known(h) => json!({
                "user": h.user,
                "host": h.host,
                "pid": h.pid,
                "phase": match h.phase { Phase::Held => "held", Phase::Acquiring => "acquiring" },
                "requestedAt": h.requested_at.to_string(),
                "authenticatedAs": h.authenticated_as,
            }),
            HolderField::Opaque(identity) => match SoloToolHolder::parse(identity) {
                Some(solo) => json!({
                    "identity": identity,
                    "tool": "solo (TypeScript)",
                    "user": solo.username,
                    "host": solo.hostname,
                    "pid": solo.pid,
                }),
                None => json!({ "identity": identity }),
            },
        });
        rows.push(json!({
            "cluster": key.cluster,
            "namespace": key.namespace,
            "state": state,
            "holder": holder_json,
            "since": holder.and(record.and_then(|r| r.acquire_time)).map(|t| t.to_string()),
            "expires": holder.and(expires).map(|t| t.to_string()),
            "waiters": queue.len(),
            "queue": queue.iter().map(|(_, w)| waiter_json(w)).collect::<Vec<_>>(),
        }));
    }
    match out.format {
        Output::Table => {
            let mut table = Vec::new();
            for (row, (key, lease, _)) in rows.iter().zip(&leases) {
                let holder = lease
                    .as_ref()
                    .and_then(|v| v.value.holder.as_ref())
                    .map(crate::render::holder_text)
                    .unwrap_or_else(|| "-".to_owned());
                let time = |k: &str| {
                    row[k]
                        .as_str()
                        .map(|s| {
                            s.split('.')
                                .next()
                                .unwrap_or(s)
                                .trim_end_matches('Z')
                                .to_owned()
                                + "Z"
                        })
                        .unwrap_or_else(|| "-".to_owned())
                };
                table.push(vec![
                    key.cluster.clone(),
                    key.namespace.clone(),
                    row["state"].as_str().unwrap_or("?").to_owned(),
                    holder,
                    time("since"),
                    time("expires"),
                    row["waiters"].to_string(),
                ]);
            }
            out.result(&crate::render::table(
                &[
                    "CLUSTER",
                    "NAMESPACE",
                    "STATE",
                    "HOLDER",
                    "SINCE",
                    "EXPIRES",
                    "WAITERS",
                ],
                table,
            ));
            let queue: Vec<Vec<String>> = queue
                .iter()
                .map(|(key, w)| {
                    vec![
                        key.cluster.clone(),
                        key.namespace.clone(),
                        HolderField::Known(w.as_holder()).describe(),
                        crate::render::when(w.requested_at),
                        crate::render::when(w.heartbeat),
                    ]
                })
                .collect();
            if !queue.is_empty() {
                out.result("\n");
                out.result(&crate::render::table(
                    &["CLUSTER", "NAMESPACE", "WAITER", "REQUESTED", "HEARTBEAT"],
                    queue,
                ));
            }
        }
        format => out.result(&super::structured(
            format,
            &json!({ "deployment": target.name, "leases": rows }),
        )),
    }
    Ok(())
}

/// One waiter of a lease as `lease status` shows it (its ticket, alive or not).
fn waiter_json(w: &Waiter) -> serde_json::Value {
    json!({
        "user": w.user,
        "host": w.host,
        "pid": w.pid,
        "requestId": w.request_id,
        "requestedAt": w.requested_at.to_string(),
        "heartbeat": w.heartbeat.to_string(),
    })
}
