//! Reads of every copy, in parallel, and how the copies compare (R12).

use super::*;

impl StateStore {
    pub(super) async fn read_raw(&self, deployment: &str, cluster: &str) -> Raw {
        let name = state_object_name(deployment);
        let read = match self.api(cluster) {
            Ok(api) => crate::retry::call(|| async { api.get_opt(&name).await })
                .await
                .map_err(crate::retry::IntoStore::into_store),
            Err(e) => Err(StoreError::Other {
                message: e.to_string(),
            }),
        };
        let (secret, copy) = match read {
            Err(e) => (None, Err(CopyError::Store(e))),
            Ok(None) => (
                None,
                Err(CopyError::Missing {
                    namespace: self.namespace.clone(),
                    name,
                }),
            ),
            Ok(Some(secret)) => {
                let copy = check_copy(cluster, &secret);
                (Some(secret), copy)
            }
        };
        Raw {
            cluster: cluster.to_owned(),
            secret,
            copy,
        }
    }

    pub(super) async fn read_raw_all(&self, deployment: &str, refs: &[String]) -> Vec<Raw> {
        join_all(refs.iter().map(|c| self.read_raw(deployment, c))).await
    }

    /// Reads every cluster's copy in parallel, each checked (hash, schema, validity).
    pub async fn read_all(
        &self,
        deployment: &str,
        clusters: &[String],
    ) -> Vec<(String, Result<StateCopy, CopyError>)> {
        self.read_raw_all(deployment, clusters)
            .await
            .into_iter()
            .map(|r| (r.cluster, r.copy))
            .collect()
    }

    /// Reads and compares every copy: the copies and how they compare.
    pub async fn status(
        &self,
        deployment: &str,
        clusters: &[String],
    ) -> (Vec<(String, Result<StateCopy, CopyError>)>, SyncStatus) {
        let copies = self.read_all(deployment, clusters).await;
        let status = classify_copies(&copies);
        (copies, status)
    }

    /// The newest copy, for a command that reads the state (and may then write it under the
    /// lock): refuses diverged or unreadable copies as a write would, and says in the status when
    /// some copies are behind.
    pub async fn read(
        &self,
        deployment: &str,
        clusters: &[String],
    ) -> Result<(StateCopy, SyncStatus), StateStoreError> {
        self.read_whole(deployment, clusters).await.newest()
    }

    /// Every copy, read in parallel and kept whole (objects and resourceVersions): under the
    /// lock, the one read that a change is built from and written against
    /// ([`write_read`](Self::write_read)).
    pub async fn read_whole(&self, deployment: &str, clusters: &[String]) -> WholeRead {
        WholeRead {
            deployment: deployment.to_owned(),
            raws: self.read_raw_all(deployment, clusters).await,
        }
    }
}

/// Every copy of a deployment's state as read, with the objects, so that a write built from this
/// read replaces each copy by compare-and-swap against this very read, with no read in between.
pub struct WholeRead {
    pub(super) deployment: String,
    pub(super) raws: Vec<Raw>,
}

impl WholeRead {
    /// The cluster refs read, in the order asked.
    pub fn clusters(&self) -> Vec<String> {
        self.raws.iter().map(|r| r.cluster.clone()).collect()
    }

    /// Each cluster's copy, checked.
    pub fn copies(&self) -> Vec<(String, Result<StateCopy, CopyError>)> {
        self.raws
            .iter()
            .map(|r| (r.cluster.clone(), r.copy.clone()))
            .collect()
    }

    /// The readable copy of the highest serial, if any.
    pub fn newest_readable(&self) -> Option<&StateCopy> {
        self.raws
            .iter()
            .filter_map(|r| r.copy.as_ref().ok())
            .max_by_key(|c| c.meta.serial)
    }

    /// The team label of the first copy read (archives beside the state get the same access).
    pub fn team(&self) -> Option<String> {
        self.raws
            .iter()
            .find_map(|r| r.secret.as_ref())
            .and_then(|s| s.metadata.labels.as_ref()?.get(TEAM_LABEL).cloned())
    }

    /// The newest copy and how the copies compare; refuses diverged or unreadable copies as a
    /// write would (see [`StateStore::read`]).
    pub fn newest(&self) -> Result<(StateCopy, SyncStatus), StateStoreError> {
        let copies = self.copies();
        let status = classify_copies(&copies);
        let good = copies
            .iter()
            .find(|(_, c)| c.is_ok())
            .map(|(cluster, _)| cluster.as_str());
        refuse_unless_writable(&self.deployment, &status, good)?;
        let newest = self
            .newest_readable()
            .cloned()
            .ok_or_else(|| StateStore::invalid(&self.deployment, "no copy was read"))?;
        Ok((newest, status))
    }
}

/// [`classify`] over copies as read.
pub fn classify_copies(copies: &[(String, Result<StateCopy, CopyError>)]) -> SyncStatus {
    let infos: Vec<(String, Result<CopyInfo, String>)> = copies
        .iter()
        .map(|(c, r)| {
            (
                c.clone(),
                r.as_ref().map(StateCopy::info).map_err(ToString::to_string),
            )
        })
        .collect();
    classify(&infos)
}

/// The clusters to roll forward, or the refusal of a diverged or unreadable set.
pub(super) fn refuse_unless_writable(
    deployment: &str,
    status: &SyncStatus,
    good: Option<&str>,
) -> Result<Vec<String>, StateStoreError> {
    match status {
        SyncStatus::InSync { .. } => Ok(Vec::new()),
        SyncStatus::Behind { behind, .. } => Ok(behind.iter().map(|(c, _)| c.clone()).collect()),
        SyncStatus::Diverged { table } => Err(StateStoreError::Diverged {
            deployment: deployment.to_owned(),
            table: divergence_table(table),
        }),
        SyncStatus::Unreadable { copies } => {
            let (cluster, reason) = copies.first().cloned().unwrap_or_default();
            Err(StateStoreError::Unreadable {
                deployment: deployment.to_owned(),
                cluster,
                reason,
                good: good.unwrap_or("<cluster with a good copy>").to_owned(),
            })
        }
    }
}
