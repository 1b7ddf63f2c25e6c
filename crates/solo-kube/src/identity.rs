//! Who the API server says we are: a `SelfSubjectReview` (authentication.k8s.io/v1) per cluster.
//!
//! The email a user declares (`SOLO_USER_EMAIL`, `--email`) is their word; the user name the API
//! server authenticated from their credentials is not, so leases and history record both. An
//! environment variable cannot change the second: only other credentials can.
//!
//! [`Authenticated`] asks each cluster once per [`Clusters`] and keeps the answer (every
//! `Authenticated` over the same clients shares it), so the lock's claims and the history's
//! entry ask once, and [`Authenticated::prefetch`] can ask beside the first read of the state.
//! Where the clusters remember what servers said ([`Clusters::remember_in`]), the answer the
//! last command got for the same server and credentials is used at once, and this one's
//! answer, asked beside, is remembered for the next (see `said.rs`).

use std::sync::Arc;

use futures::future::join_all;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::OnceCell;

use crate::clusters::Clusters;

/// The user the API server of one cluster authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedUser {
    /// The user name (e.g. `bob`, or `system:serviceaccount:ns:name`).
    pub username: String,
    /// The groups the server put the user in.
    pub groups: Vec<String>,
}

/// Asks `client`'s API server who we are; `None` when it does not say (an older server).
pub async fn who_am_i(client: &Client) -> Result<Option<AuthenticatedUser>, kube::Error> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    Ok(review.status.and_then(|s| s.user_info).and_then(|u| {
        Some(AuthenticatedUser {
            username: u.username?,
            groups: u.groups.unwrap_or_default(),
        })
    }))
}

/// Whether the API server of `client` lets us `verb` `resource` (of API `group`) in `namespace`.
pub async fn may(
    client: &Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
) -> Result<bool, kube::Error> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_owned()),
                group: Some(group.to_owned()),
                resource: Some(resource.to_owned()),
                namespace: Some(namespace.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = api.create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// One cluster's answer, asked at most once.
pub(crate) type Cell = Arc<OnceCell<Option<AuthenticatedUser>>>;

/// The authenticated user of each cluster ref, asked once per cluster and cached in the
/// [`Clusters`] it was made from.
#[derive(Clone)]
pub struct Authenticated {
    clusters: Clusters,
}

impl Authenticated {
    /// The users of these clusters' clients (the answers already asked through them included).
    pub fn new(clusters: Clusters) -> Self {
        Authenticated { clusters }
    }

    /// Asks every cluster of `clusters` at once, so later questions find the answers ready.
    pub async fn prefetch(&self, clusters: &[String]) {
        join_all(clusters.iter().map(|c| self.user(c))).await;
    }

    /// The user `cluster` authenticated us as; `None` when the cluster cannot say (the audit then
    /// records only the declared email).
    pub async fn user(&self, cluster: &str) -> Option<AuthenticatedUser> {
        let cell = {
            let mut cells = self
                .clusters
                .asked
                .users
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            Arc::clone(cells.entry(cluster.to_owned()).or_default())
        };
        let client = self.clusters.client(cluster).ok()?.clone();
        let memory = self.clusters.memory(cluster).and_then(|(dir, server)| {
            let fingerprint = self.clusters.fingerprint(cluster)?.to_owned();
            Some((dir, server.to_owned(), fingerprint))
        });
        let name = cluster.to_owned();
        let ask = async move {
            // Best effort, and never longer than one request may take: an API server that stops
            // answering must not hold up the lock that this record only annotates.
            match tokio::time::timeout(crate::retry::REQUEST_TIMEOUT, who_am_i(&client)).await {
                Ok(Ok(user)) => user,
                Ok(Err(e)) => {
                    tracing::warn!(cluster = name, error = %e, "no SelfSubjectReview");
                    None
                }
                Err(_) => {
                    tracing::warn!(cluster = name, "no answer to the SelfSubjectReview in time");
                    None
                }
            }
        };
        cell.get_or_init(|| async move {
            // Where the clusters remember what servers said: the answer the last command got
            // for these credentials at once, and this one's remembered for the next.
            let Some((dir, server, fingerprint)) = memory else {
                return ask.await;
            };
            let remembered = crate::said::recall(&dir, &server)
                .users
                .remove(&fingerprint)
                .map(|(username, groups)| AuthenticatedUser { username, groups });
            let remember = move |user: &AuthenticatedUser| {
                crate::said::amend(&dir, &server, |said| {
                    let answer = (user.username.clone(), user.groups.clone());
                    said.users.insert(fingerprint, answer);
                });
            };
            crate::said::remembered_or_asked(remembered, ask, remember).await
        })
        .await
        .clone()
    }

    /// The user name `cluster` authenticated us as.
    pub async fn username(&self, cluster: &str) -> Option<String> {
        self.user(cluster).await.map(|u| u.username)
    }

    /// One text for several clusters: the name when all agree, else `cluster=name` pairs. Asks
    /// every cluster not asked yet at once.
    pub async fn summary(&self, clusters: &[String]) -> Option<String> {
        let names = join_all(clusters.iter().map(|c| self.username(c))).await;
        let names: Vec<(String, String)> = clusters
            .iter()
            .zip(names)
            .filter_map(|(c, n)| Some((c.clone(), n?)))
            .collect();
        summarize(&names)
    }
}

/// `alice` when every cluster says `alice`, else `cluster-1=alice,cluster-2=al`.
pub fn summarize(names: &[(String, String)]) -> Option<String> {
    let first = &names.first()?.1;
    if names.iter().all(|(_, n)| n == first) {
        return Some(first.clone());
    }
    Some(
        names
            .iter()
            .map(|(c, n)| format!("{c}={n}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

#[cfg(test)]
mod tests {
    use super::summarize;

    #[test]
    fn one_name_when_every_cluster_agrees_else_per_cluster() {
        let same = [("c1".into(), "bob".into()), ("c2".into(), "bob".into())];
        assert_eq!(summarize(&same).as_deref(), Some("bob"));
        let differ = [("c1".into(), "bob".into()), ("c2".into(), "rob".into())];
        assert_eq!(summarize(&differ).as_deref(), Some("c1=bob,c2=rob"));
        assert_eq!(summarize(&[]), None);
    }
}
