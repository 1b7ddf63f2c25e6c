//! Round trips of a locked write and of `exec` (issue 15): what they ask each cluster, counted
//! in the log of every request (`SOLO_LOG_REQUESTS`). Across regions each sequential request
//! costs a round trip of up to 150 ms, so a question asked twice, or one read made three times,
//! is seen here before it is felt there. `state show` reads each copy once; `lease status`
//! reads the leases beside the state, not after it.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use solo_testenv::TestEnv;
use support::{User, add_consensus, alice_with_a_deployment, json};

/// One request of the log: method, cluster (host:port) and path.
#[derive(Debug)]
struct Request {
    method: String,
    host: String,
    path: String,
    /// When it was sent and answered, in µs since the command started.
    sent: u64,
    answered: u64,
    /// The HTTP status it was answered with (or the error).
    status: String,
}

/// `solo args` as `user` with the request log on.
fn logged(user: &User, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_solo"));
    command
        .env("SOLO_HOME", &user.home)
        .env("SOLO_USER_EMAIL", &user.email)
        .env("KUBECONFIG", TestEnv::shared().kubeconfig())
        .env("SOLO_LOG_REQUESTS", "1")
        .args(args);
    command
}

/// Runs `solo args` as `user` with the request log on; the requests it made.
fn requests(user: &User, args: &[&str]) -> Vec<Request> {
    let out = logged(user, args).output().expect("solo runs");
    parse(args, &out)
}

/// A time the log gives in milliseconds (one decimal), in microseconds.
fn micros(ms: &str) -> Option<u64> {
    let ms: f64 = ms.parse().ok()?;
    Some((ms * 1000.0).round() as u64)
}

/// The requests in the log of a run of `solo args` that succeeded.
fn parse(args: &[&str], out: &std::process::Output) -> Vec<Request> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "solo {args:?} failed:\n{stderr}");
    let requests: Vec<Request> = stderr
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("request +")?;
            let mut words = rest.split_whitespace();
            let sent = micros(words.next()?)?;
            let mut words = words.skip(1);
            let method = words.next()?.to_owned();
            let target = words.next()?;
            let status = words.nth(1)?.to_owned();
            let slash = target.find('/')?;
            let took = micros(rest.rsplit(" in ").next()?.trim_end_matches(" ms"))?;
            Some(Request {
                method,
                host: target[..slash].to_owned(),
                path: target[slash..].to_owned(),
                sent,
                answered: sent + took,
                status,
            })
        })
        .collect();
    assert!(!requests.is_empty(), "no request logged:\n{stderr}");
    requests
}

/// How many requests each cluster got that match.
fn per_cluster(requests: &[Request], matches: impl Fn(&Request) -> bool) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for r in requests {
        *counts.entry(r.host.as_str()).or_default() += usize::from(matches(r));
    }
    counts
}

/// The questions every locked command asks: who we are once per cluster, and the state's copy
/// in each cluster at most `reads` times.
fn assert_asked_once(requests: &[Request], state_ns: &str, deployment: &str, reads: usize) {
    let reviews = per_cluster(requests, |r| {
        r.method == "POST" && r.path.contains("/selfsubjectreviews")
    });
    assert_eq!(reviews.len(), 2, "two clusters asked: {requests:#?}");
    assert!(
        reviews.values().all(|n| *n == 1),
        "each cluster is asked once who we are: {reviews:?}"
    );
    let state = format!("/api/v1/namespaces/{state_ns}/secrets/{deployment}");
    let state_reads = per_cluster(requests, |r| r.method == "GET" && r.path == state);
    assert!(
        state_reads.values().all(|n| *n <= reads),
        "each copy of the state is read at most {reads} times (before the lock, the fence's \
         stamp, once under the lock, the history's fence check): {state_reads:?}"
    );
}

#[test]
fn a_locked_write_reads_each_copy_once_under_the_lock_and_asks_each_cluster_once_who_we_are() {
    let (alice, _, state_ns) = alice_with_a_deployment("rtwrite", "rtwrite-net");
    // The first write also creates the history's first archive and lists it in the state.
    alice.ok(&[
        "component",
        "add",
        "rtwrite-net",
        "consensus",
        "node0",
        "--cluster-ref",
        "cluster-1",
    ]);
    let requests = requests(
        &alice,
        &[
            "component",
            "add",
            "rtwrite-net",
            "consensus",
            "node1",
            "--cluster-ref",
            "cluster-1",
        ],
    );
    assert_asked_once(&requests, &state_ns, "rtwrite-net", 4);
    // The history: per cluster one read of the newest archive and one of the next (absent), by
    // name; no LIST, which would wait for the API server's cache.
    let lists = per_cluster(&requests, |r| {
        r.method == "GET" && r.path.contains("/secrets?") && r.path.contains("history")
    });
    assert!(lists.values().all(|n| *n == 0), "{lists:?}");
    for n in ["01", "02"] {
        let archive = format!("/api/v1/namespaces/{state_ns}/secrets/rtwrite-net-history-{n}");
        let reads = per_cluster(&requests, |r| r.method == "GET" && r.path == archive);
        assert_eq!(reads.len(), 2, "{requests:#?}");
        assert!(reads.values().all(|n| *n == 1), "archive {n}: {reads:?}");
    }
}

#[test]
fn exec_reads_each_copy_once_under_the_lock_and_asks_each_cluster_once_who_we_are() {
    let (alice, _, state_ns) = alice_with_a_deployment("rtexec", "rtexec-net");
    alice.ok(&["exec", "rtexec-net", "--", "true"]);
    let requests = requests(&alice, &["exec", "rtexec-net", "--", "true"]);
    assert_asked_once(&requests, &state_ns, "rtexec-net", 4);
}

#[test]
fn state_show_reads_each_copy_once() {
    let (alice, _, state_ns) = alice_with_a_deployment("rtshow", "rtshow-net");
    let requests = requests(&alice, &["state", "show", "rtshow-net"]);
    let state = format!("/api/v1/namespaces/{state_ns}/secrets/rtshow-net");
    let reads = per_cluster(&requests, |r| r.method == "GET" && r.path == state);
    assert_eq!(reads.len(), 2, "two clusters read: {requests:#?}");
    assert!(
        reads.values().all(|n| *n == 1),
        "the read that finds the clusters is the one shown: {reads:?}"
    );
}

#[test]
fn lease_status_reads_the_leases_beside_the_state_not_after_it() {
    let (alice, ns, state_ns) = alice_with_a_deployment("rtstatus", "rtstatus-net");
    let requests = requests(&alice, &["lease", "status", "rtstatus-net"]);
    let state = format!("/api/v1/namespaces/{state_ns}/secrets/rtstatus-net");
    let lease = format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{ns}");
    let states: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path == state)
        .collect();
    let leases: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path == lease)
        .collect();
    assert_eq!(states.len(), 2, "each copy read once: {requests:#?}");
    assert_eq!(leases.len(), 2, "each lease read once: {requests:#?}");
    let state_read_done = states.iter().map(|r| r.answered).max().unwrap_or_default();
    assert!(
        leases.iter().all(|l| l.sent < state_read_done),
        "the leases were read only after the state: {requests:#?}"
    );
}

/// The steps of a locked command after a clean release (issue 15): the lock's first LIST goes
/// out beside the state's first read, and the reads under the lock go out beside the claim (the
/// lock is taken over the very versions that LIST saw), so neither costs a round trip of its own.
fn assert_reads_beside_the_claim(requests: &[Request], ns: &str, state_ns: &str, deployment: &str) {
    let leases = format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases");
    let state = format!("/api/v1/namespaces/{state_ns}/secrets/{deployment}");
    let first_read = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path == state)
        .map(|r| r.answered)
        .min()
        .expect("the state is read");
    let lists: Vec<_> = requests
        .iter()
        .filter(|r| {
            r.method == "GET"
                && r.path.starts_with(&format!("{leases}?"))
                && !r.path.contains("watch=true")
        })
        .collect();
    let (claim_sent, claimed) = first_claim(requests, ns);
    // The round lists the queue's namespace again beside its claims (the look's LIST of it may
    // predate another Lease's release): in one cluster, raced by one no older than the claim.
    let (look, round): (Vec<&Request>, Vec<&Request>) =
        lists.iter().partition(|l| l.sent < claim_sent);
    let looked = look.iter().map(|l| l.answered).max().unwrap_or_default();
    assert_eq!(
        look.len(),
        2,
        "one look, one LIST per cluster: {requests:#?}"
    );
    // A consistent LIST waits for the API server's watch cache to reach the newest revision,
    // which it learns of by a progress request every 100 ms when other objects were written.
    assert!(
        look.iter().all(|l| l.path.contains("resourceVersion=0")),
        "the look's LISTs are not answered from the watch cache as it is: {requests:#?}"
    );
    assert!(
        look.iter().all(|l| l.sent < first_read),
        "the lock's LIST waited for the state's first read: {requests:#?}"
    );
    let round_clusters: std::collections::BTreeSet<&str> =
        round.iter().map(|l| l.host.as_str()).collect();
    assert!(
        (1..=2).contains(&round.len()) && round_clusters.len() == 1,
        "the round lists the queue's namespace only: {requests:#?}"
    );
    // The first read after the look is the one under the lock (a history append reads again).
    let under_lock = first_sent_after(requests, &state, looked);
    assert!(
        under_lock <= claimed,
        "the read under the lock waited for the claim: {requests:#?}"
    );
}

/// Forgets what `user`'s machine remembers of the clusters (a fresh machine).
fn forget_leases(user: &User) {
    let _ = std::fs::remove_dir_all(user.home.join("solo-state-cache"));
}

/// The remembered leases of `user`, as files (one per Lease).
fn remembered(user: &User) -> Vec<std::path::PathBuf> {
    let dir = user.home.join("solo-state-cache");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    files.retain(|f| {
        f.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.starts_with("server-"))
    });
    files.sort();
    files
}

/// The claims of the lock's Leases in `ns`, in the order they were sent.
fn claims<'a>(requests: &'a [Request], ns: &str) -> Vec<&'a Request> {
    let leases = format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/");
    let mut claims: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.starts_with(&leases))
        .collect();
    claims.sort_by_key(|r| r.sent);
    claims
}

/// When the first GET of `path` sent at or after `since` was sent: the read under the lock.
fn first_sent_after(requests: &[Request], path: &str, since: u64) -> u64 {
    requests
        .iter()
        .filter(|r| r.method == "GET" && r.path == path && r.sent >= since)
        .map(|r| r.sent)
        .min()
        .expect("read under the lock")
}

/// The first claim of the lock's Leases in `ns`, one per cluster: when its first request was
/// sent, and when its last was answered (the lock is held from then). A process paused between
/// two of them (a busy machine) sends them a few ms apart.
fn first_claim(requests: &[Request], ns: &str) -> (u64, u64) {
    let claims = claims(requests, ns);
    let clusters = claims
        .iter()
        .map(|c| c.host.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let first = &claims[..clusters];
    let sent = first.iter().map(|c| c.sent).min().expect("claimed");
    let answered = first.iter().map(|c| c.answered).max().expect("claimed");
    (sent, answered)
}

/// The steps of a locked command after this machine's own clean release: the lock is
/// remembered free, so the claim goes out at once, beside the lock's LIST (which it does not
/// wait for) and beside the reads under the lock; no read of the state before the lock.
fn assert_claimed_at_once(requests: &[Request], ns: &str, state_ns: &str, deployment: &str) {
    let leases = format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases");
    let state = format!("/api/v1/namespaces/{state_ns}/secrets/{deployment}");
    let claims = claims(requests, ns);
    assert_eq!(
        claims.len() % 2,
        0,
        "a claim and a release per cluster: {requests:#?}"
    );
    let (claimed, _released) = claims.split_at(claims.len() / 2);
    assert!(
        claimed.iter().all(|c| c.status == "200"),
        "claimed: {requests:#?}"
    );
    let sent = claimed.iter().map(|c| c.sent).max().expect("claimed");
    let answered = claimed.iter().map(|c| c.answered).min().expect("claimed");
    let listed = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with(&format!("{leases}?")))
        .map(|r| r.answered)
        .max()
        .expect("the lock is listed");
    assert!(
        sent < listed,
        "the claim waited for the lock's LIST: {requests:#?}"
    );
    // Each copy is read once before the claim is answered: beside it, not before the lock.
    let before = per_cluster(requests, |r| {
        r.method == "GET" && r.path == state && r.sent < answered
    });
    assert!(
        before.len() == 2 && before.values().all(|n| *n == 1),
        "each copy read once, beside the claim: {before:?} {requests:#?}"
    );
}

#[test]
fn after_its_own_release_a_locked_write_and_exec_claim_before_anything_is_answered() {
    let (alice, ns, state_ns) = alice_with_a_deployment("rtrecall", "rtrecall-net");
    alice.ok(&add_consensus("rtrecall-net", "node0", "cluster-1"));
    assert_eq!(
        remembered(&alice).len(),
        2,
        "one Lease remembered per cluster"
    );
    let write = requests(&alice, &add_consensus("rtrecall-net", "node1", "cluster-1"));
    assert_claimed_at_once(&write, &ns, &state_ns, "rtrecall-net");
    let exec = requests(&alice, &["exec", "rtrecall-net", "--", "true"]);
    assert_claimed_at_once(&exec, &ns, &state_ns, "rtrecall-net");
    let show = json(
        &alice
            .ok(&["state", "show", "rtrecall-net", "--output", "json"])
            .stdout,
    );
    let nodes = show.to_string();
    assert!(nodes.contains("node0") && nodes.contains("node1"), "{show}");
}

/// `user` adds `node` to `deployment`, and one of its claims of the lock's Leases in `ns` is
/// refused with `status` (409: the Lease changed since; 422: another Lease, by its UID).
fn add_with_a_claim_refused(user: &User, ns: &str, deployment: &str, node: &str, status: &str) {
    let write = requests(user, &add_consensus(deployment, node, "cluster-1"));
    assert!(
        claims(&write, ns).iter().any(|c| c.status == status),
        "no claim was refused with {status}: {write:#?}"
    );
}

/// A memory out of date (someone wrote the lock since) or of another Lease (a cluster
/// re-created at the same address, whose Lease happens to be at the remembered version)
/// claims nothing: its claim is refused, the command takes the lock as without a memory, and
/// every write under it lands once, on the state as the previous holder left it.
#[test]
fn a_memory_out_of_date_or_of_another_lease_claims_nothing() {
    let (alice, ns, _) = alice_with_a_deployment("rtstale", "rtstale-net");
    alice.ok(&add_consensus("rtstale-net", "node0", "cluster-1"));
    let old: Vec<(std::path::PathBuf, Vec<u8>)> = remembered(&alice)
        .into_iter()
        .map(|f| {
            let text = std::fs::read(&f).expect("read the memory");
            (f, text)
        })
        .collect();
    alice.ok(&add_consensus("rtstale-net", "node1", "cluster-1"));
    // Out of date: the memory of before the last write.
    for (file, text) in &old {
        std::fs::write(file, text).expect("restore the old memory");
    }
    add_with_a_claim_refused(&alice, &ns, "rtstale-net", "node2", "409");
    // Another Lease at the very version remembered: the memory's UID is not the Lease's.
    for file in remembered(&alice) {
        let text = std::fs::read_to_string(&file).expect("read the memory");
        let mut filed: serde_json::Value = serde_json::from_str(&text).expect("json");
        filed["lease"]["metadata"]["uid"] = "00000000-0000-4000-8000-000000000000".into();
        std::fs::write(&file, filed.to_string()).expect("write the memory");
    }
    add_with_a_claim_refused(&alice, &ns, "rtstale-net", "node3", "422");
    let show = json(
        &alice
            .ok(&["state", "show", "rtstale-net", "--output", "json"])
            .stdout,
    );
    let text = show.to_string();
    for node in ["node0", "node1", "node2", "node3"] {
        assert!(text.contains(node), "{node} was written once: {show}");
    }
    let history = alice
        .ok(&["history", "rtstale-net", "--output", "json"])
        .stdout;
    for node in ["node1", "node2", "node3"] {
        assert_eq!(
            history.matches(&format!("\"{node}\"")).count(),
            1,
            "one history entry for {node}: {history}"
        );
    }
}

#[test]
fn after_a_clean_release_a_locked_write_and_exec_read_beside_their_claim() {
    let (alice, ns, state_ns) = alice_with_a_deployment("rtbeside", "rtbeside-net");
    alice.ok(&add_consensus("rtbeside-net", "node0", "cluster-1"));
    // Released on another machine: this one remembers nothing of it.
    forget_leases(&alice);
    let write = requests(&alice, &add_consensus("rtbeside-net", "node1", "cluster-1"));
    assert_reads_beside_the_claim(&write, &ns, &state_ns, "rtbeside-net");
    forget_leases(&alice);
    let exec = requests(&alice, &["exec", "rtbeside-net", "--", "true"]);
    assert_reads_beside_the_claim(&exec, &ns, &state_ns, "rtbeside-net");
}

/// A request that waits in the queue (issue 13) costs each namespace one LIST (its first look),
/// one watch of the lock's label, its ticket's create and delete, the claim and the release:
/// its later looks (after queueing, when woken, beside its claim) and its waits are answered by
/// that one watch. Before, each of them was a request of its own: three LISTs and two watches
/// of single objects per namespace. Woken by a clean release, it reads the state beside its
/// claims (before, after them: a round trip more in each handoff).
#[test]
fn a_queued_exec_lists_each_namespace_once_watches_it_once_and_reads_beside_its_claim() {
    let (alice, ns, state_ns) = alice_with_a_deployment("rtqueue", "rtqueue-net");
    alice.ok(&["lease", "acquire", "rtqueue-net", "--for", "2m"]);
    let bob = User::new("rtqueue", "bob@example.com");
    bob.connect(&["cluster-1", "cluster-2"], str::to_owned);
    bob.ok(&[
        "lease",
        "status",
        "rtqueue-net",
        "--state-namespace",
        &state_ns,
    ]);
    let args = ["exec", "rtqueue-net", "--wait=60s", "--", "true"];
    let waiter = logged(&bob, &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bob's exec starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let status = json(
            &alice
                .ok(&["lease", "status", "rtqueue-net", "-o", "json"])
                .stdout,
        );
        let leases = status["leases"].as_array().expect("leases").clone();
        if leases.iter().all(|l| l["waiters"] == 1) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bob's wait is not shown on every lease: {leases:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Lease renewals and ticket heartbeats meanwhile wake nobody into a request.
    std::thread::sleep(std::time::Duration::from_secs(1));
    alice.ok(&["lease", "release", "rtqueue-net"]);
    let out = waiter.wait_with_output().expect("bob's exec ends");
    let requests = parse(&args, &out);
    let leases = format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases");
    let lease_requests = |method: &str, matches: &dyn Fn(&str) -> bool| {
        per_cluster(&requests, |r| {
            r.method == method
                && (r.path == leases
                    || r.path.starts_with(&format!("{leases}?"))
                    || r.path.starts_with(&format!("{leases}/")))
                && matches(&r.path)
        })
    };
    let lists = lease_requests("GET", &|p| p.contains('?') && !p.contains("watch=true"));
    let watches = lease_requests("GET", &|p| p.contains("watch=true"));
    let by_label = lease_requests("GET", &|p| {
        p.contains("watch=true") && p.contains("labelSelector")
    });
    let tickets = lease_requests("POST", &|_| true);
    let deletions = lease_requests("DELETE", &|_| true);
    for counts in [&lists, &watches, &by_label] {
        assert_eq!(counts.len(), 2, "both clusters: {requests:#?}");
    }
    // The ticket goes to the queue's namespace only (the lock set's first), and is deleted there.
    let mut placed: Vec<usize> = tickets.values().copied().collect();
    placed.sort_unstable();
    assert_eq!(placed, [0, 1], "one ticket, in one cluster: {requests:#?}");
    assert_eq!(
        tickets, deletions,
        "its ticket deleted where it was: {requests:#?}"
    );
    assert!(
        lists.values().all(|n| *n == 1),
        "one LIST per namespace, got {lists:?}: {requests:#?}"
    );
    assert!(
        watches.values().all(|n| *n == 1),
        "one watch per namespace, got {watches:?}: {requests:#?}"
    );
    assert_eq!(
        watches, by_label,
        "the watch is of the lock's label: {requests:#?}"
    );
    // Woken by alice's clean release, bob reads the state beside his claims, not after them.
    let queued = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.starts_with(&format!("{leases}?")))
        .map(|r| r.answered)
        .max()
        .expect("queued");
    let (claim, claimed) = first_claim(&requests, &ns);
    let state = format!("/api/v1/namespaces/{state_ns}/secrets/rtqueue-net");
    let under_lock = first_sent_after(&requests, &state, queued);
    assert!(
        claim >= queued && under_lock <= claimed,
        "woken by a clean release, the read under the lock waited for the claim: {requests:#?}"
    );
}
