//! What each API server said, remembered across processes, so that a command's first write
//! need not wait for it: the offset of the local clock against the server's ([`ServerClock`]),
//! and who it authenticated each set of credentials as ([`crate::Authenticated`]).
//!
//! Both are asked again beside the command's first requests, and the answer is remembered for
//! the next command: a remembered answer is at most one command old. Neither is a matter of
//! safety: the clock orders the queue (a stamp off by a skew changes a place, not who holds),
//! and the authenticated name annotates the records (credentials that now authenticate someone
//! else are named rightly from the next command on).
//!
//! One file per server, `<dir>/server-<hash of its address>.json`, written whole
//! ([`write_whole`]); failures to read or write are ignored (the command then waits
//! for the server's answer, as without a memory).
//!
//! [`ServerClock`]: crate::ServerClock

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What one server said, as filed.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
pub(crate) struct Said {
    /// The server's address.
    pub server: String,
    /// How far the local clock was behind the server's, in milliseconds.
    pub offset_ms: Option<i64>,
    /// Who the server authenticated each set of credentials as (by their fingerprint), and in
    /// which groups.
    #[serde(default)]
    pub users: BTreeMap<String, (String, Vec<String>)>,
}

/// The hex SHA-256 of `text`, shortened (a file name, a fingerprint).
pub(crate) fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn file(dir: &Path, server: &str) -> PathBuf {
    dir.join(format!("server-{}.json", digest(server)))
}

/// What `server` said last, as remembered in `dir` (empty when nothing is).
pub(crate) fn recall(dir: &Path, server: &str) -> Said {
    std::fs::read(file(dir, server))
        .ok()
        .and_then(|text| serde_json::from_slice::<Said>(&text).ok())
        .filter(|said| said.server == server)
        .unwrap_or_default()
}

/// Changes what `server` said, as remembered in `dir` (best effort; the file is written only
/// when the change changes it).
pub(crate) fn amend(dir: &Path, server: &str, change: impl FnOnce(&mut Said)) {
    let before = recall(dir, server);
    let mut said = Said {
        server: server.to_owned(),
        offset_ms: before.offset_ms,
        users: before.users.clone(),
    };
    change(&mut said);
    if said == before {
        return;
    }
    if let Err(e) = write_whole(&file(dir, server), &said) {
        tracing::debug!("could not remember what {server} said: {e}");
    }
}

/// An answer a server gives once per command: the `remembered` one at once, with `ask` sent
/// beside it to be remembered for the next command (`remember`); without one, `ask`'s own
/// answer, remembered too. `None` when the server did not answer.
pub(crate) async fn remembered_or_asked<T: Clone + Send + 'static>(
    remembered: Option<T>,
    ask: impl Future<Output = Option<T>> + Send + 'static,
    remember: impl FnOnce(&T) + Send + 'static,
) -> Option<T> {
    let ask = async move {
        let answer = ask.await;
        if let Some(answer) = &answer {
            remember(answer);
        }
        answer
    };
    match remembered {
        Some(answer) => {
            tokio::spawn(ask);
            Some(answer)
        }
        None => ask.await,
    }
}

/// Writes `value` as JSON to `path` whole: to a temporary file beside it, renamed over it (so
/// a reader finds the old file or the new one, never half of one), creating its directory.
pub(crate) fn write_whole(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&tmp, serde_json::to_vec(value).unwrap_or_default()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_server_said_is_recalled_for_that_server_only() {
        let dir = std::env::temp_dir().join(format!("solo-said-{}", std::process::id()));
        assert_eq!(
            recall(&dir, "https://a:6443"),
            Said::default(),
            "nothing yet"
        );
        amend(&dir, "https://a:6443", |s| s.offset_ms = Some(-2000));
        amend(&dir, "https://a:6443", |s| {
            s.users.insert(
                "f1".to_owned(),
                ("alice".to_owned(), vec!["devs".to_owned()]),
            );
        });
        let said = recall(&dir, "https://a:6443");
        assert_eq!(said.offset_ms, Some(-2000), "kept by the second change");
        assert_eq!(said.users["f1"].0, "alice");
        assert_eq!(
            recall(&dir, "https://b:6443"),
            Said::default(),
            "another server"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
