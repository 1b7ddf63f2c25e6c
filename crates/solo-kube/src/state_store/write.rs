//! Writes under the lock: every copy by compare-and-swap against the read it was built from,
//! with the lock's epoch checked in the same step.

use super::read::{WholeRead, refuse_unless_writable};
use super::*;
use crate::retry::IntoStore as _;
use solo_core::lock::fencing::admits;

impl StateStore {
    /// Writes `doc` over whatever copy is newest now, under the lock of `epoch`: for a caller
    /// whose document comes from its own last write (tools, tests). Commands use
    /// [`write_based`](Self::write_based).
    pub async fn write(
        &self,
        epoch: Epoch,
        deployment: &str,
        doc: &StateDocument,
    ) -> Result<WriteOutcome, StateStoreError> {
        self.write_checked(epoch, deployment, doc, None).await
    }

    /// Writes `doc`, built from the read `base`, as the next serial into every copy, under the
    /// lock of `epoch`: refused ([`StateStoreError::Changed`]) when the state moved on since that
    /// read, so a change built from an older read is never written. Refuses when copies diverged
    /// or one is unreadable; rolls forward copies a cut-short write left behind.
    pub async fn write_based(
        &self,
        epoch: Epoch,
        deployment: &str,
        doc: &StateDocument,
        base: Base,
    ) -> Result<WriteOutcome, StateStoreError> {
        self.write_checked(epoch, deployment, doc, Some(base)).await
    }

    /// Writes `doc`, built from `read` (made under the lock of `epoch`), as the next serial into
    /// every copy: each replaced by compare-and-swap against `read` itself, so the write costs no
    /// read of its own. Refused ([`StateStoreError::Changed`]) when the state moved on since
    /// `read`, like [`write_based`](Self::write_based); a document that names other clusters
    /// than `read` is written as `write_based` writes it.
    pub async fn write_read(
        &self,
        epoch: Epoch,
        deployment: &str,
        doc: &StateDocument,
        read: &WholeRead,
    ) -> Result<WriteOutcome, StateStoreError> {
        let base = read.newest_readable().map(StateCopy::base);
        let mut read_refs = read.clusters();
        read_refs.sort();
        read_refs.dedup();
        if read.deployment != deployment || read_refs != cluster_names(doc) || base.is_none() {
            return self.write_checked(epoch, deployment, doc, base).await;
        }
        match self
            .write_raws(epoch, deployment, doc, base, &read.raws)
            .await
        {
            // Nothing was written: every compare-and-swap lost. Say whether the state moved on
            // since the read, as a write that reads first would have.
            Err(StateStoreError::Conflict { cluster }) => {
                let now = self
                    .read_whole(deployment, &read.clusters())
                    .await
                    .newest_readable()
                    .map(|c| c.meta.serial);
                match (base, now) {
                    (Some(base), Some(now)) if now != base.serial => {
                        Err(StateStoreError::Changed {
                            deployment: deployment.to_owned(),
                            read: base.serial,
                            current: now,
                        })
                    }
                    _ => Err(StateStoreError::Conflict { cluster }),
                }
            }
            other => other,
        }
    }

    async fn write_checked(
        &self,
        epoch: Epoch,
        deployment: &str,
        doc: &StateDocument,
        base: Option<Base>,
    ) -> Result<WriteOutcome, StateStoreError> {
        let refs = cluster_names(doc);
        let raws = self.read_raw_all(deployment, &refs).await;
        self.write_raws(epoch, deployment, doc, base, &raws).await
    }

    /// The checks and the write of [`write_checked`](Self::write_checked) over copies as read.
    async fn write_raws(
        &self,
        epoch: Epoch,
        deployment: &str,
        doc: &StateDocument,
        base: Option<Base>,
        raws: &[Raw],
    ) -> Result<WriteOutcome, StateStoreError> {
        let (text, key, bytes) = Self::prepare(deployment, doc)?;
        let refs = cluster_names(doc);
        // A document that adds or removes a cluster is not a plain write: say so before anything
        // else (a new cluster has no copy yet).
        if let Some(stored) = raws
            .iter()
            .filter_map(|r| r.copy.as_ref().ok())
            .max_by_key(|c| c.meta.serial)
        {
            let stamp = MigrationStamp {
                by: doc.metadata.last_updated_by.clone(),
                at: doc.metadata.last_updated_at,
            };
            let old_refs = stored
                .load(&stamp)
                .map(|l| cluster_names(l.document()))
                .unwrap_or_default();
            if old_refs != refs {
                return Err(StateStoreError::ClustersChanged {
                    deployment: deployment.to_owned(),
                    new: refs.join(", "),
                    old: old_refs.join(", "),
                });
            }
        }
        check_fence(raws, epoch, &self.namespace, deployment)?;
        let copies: Vec<(String, Result<StateCopy, CopyError>)> = raws
            .iter()
            .map(|r| (r.cluster.clone(), r.copy.clone()))
            .collect();
        let status = classify_copies(&copies);
        let good = copies
            .iter()
            .find(|(_, c)| c.is_ok())
            .map(|(cluster, _)| cluster.as_str());
        let rolled_forward = refuse_unless_writable(deployment, &status, good)?;
        let newest = copies
            .iter()
            .filter_map(|(_, c)| c.as_ref().ok())
            .max_by_key(|c| c.meta.serial)
            .ok_or_else(|| Self::invalid(deployment, "no copy was read"))?;
        // The copies replaced below are the ones this check read: a write between the two loses
        // its compare-and-swap, so the check and the write are one step.
        if let Some(base) = base
            && base != newest.base()
        {
            return Err(StateStoreError::Changed {
                deployment: deployment.to_owned(),
                read: base.serial,
                current: newest.meta.serial,
            });
        }
        let meta = newest.meta.next(epoch.0, CURRENT, &text);
        // R3 at rest: the first write over an older schema keeps the old document first.
        let from = newest.parsed.document.version();
        let backup = if from < CURRENT {
            let source = raws
                .iter()
                .find(|r| r.cluster == newest.cluster)
                .and_then(|r| r.secret.as_ref())
                .ok_or_else(|| Self::invalid(deployment, "no copy was read"))?;
            Some(self.back_up(deployment, &refs, source, from).await?)
        } else {
            None
        };
        self.write_all(epoch, deployment, raws, key, &bytes, &meta)
            .await?;
        Ok(WriteOutcome {
            serial: meta.serial,
            lineage: meta.lineage,
            rolled_forward,
            backup,
        })
    }

    /// Copies `from_cluster`'s document over every other copy (serial above every copy's, the
    /// source's lineage), under the lock of `epoch`: the repair of diverged or unreadable copies.
    pub async fn sync_from(
        &self,
        epoch: Epoch,
        deployment: &str,
        from_cluster: &str,
    ) -> Result<WriteOutcome, StateStoreError> {
        let source = self.read_raw(deployment, from_cluster).await;
        let source = source.copy.map_err(|e| StateStoreError::Unreadable {
            deployment: deployment.to_owned(),
            cluster: from_cluster.to_owned(),
            reason: e.to_string(),
            good: "<another cluster>".to_owned(),
        })?;
        let stamp = MigrationStamp {
            by: "solo".to_owned(),
            at: Timestamp::UNIX_EPOCH,
        };
        let refs = source
            .load(&stamp)
            .map(|l| cluster_names(l.document()))
            .map_err(|e| Self::invalid(deployment, e.to_string()))?;
        if !refs.iter().any(|c| c == from_cluster) {
            return Err(StateStoreError::UnknownCluster {
                deployment: deployment.to_owned(),
                cluster: from_cluster.to_owned(),
                clusters: refs.join(", "),
            });
        }
        let raws = self.read_raw_all(deployment, &refs).await;
        check_fence(&raws, epoch, &self.namespace, deployment)?;
        // The source as read with the others, so the copy written is the one the CAS is based on.
        let source = raws
            .iter()
            .find(|r| r.cluster == from_cluster)
            .and_then(|r| r.copy.as_ref().ok())
            .filter(|c| c.meta.content_hash == source.meta.content_hash)
            .ok_or_else(|| StateStoreError::Conflict {
                cluster: from_cluster.to_owned(),
            })?;
        let text = source.text().to_owned();
        let (key, bytes) = encode_payload(&text).map_err(|size| StateStoreError::TooLarge {
            deployment: deployment.to_owned(),
            size,
            limit: MAX_STORED_BYTES,
        })?;
        // Above every serial seen, unreadable copies' annotations included.
        let serial = raws
            .iter()
            .filter_map(|r| r.secret.as_ref().and_then(annotated_serial))
            .chain([source.meta.serial])
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        let meta = StoredMeta {
            serial,
            lineage: source.meta.lineage,
            epoch: epoch.0,
            content_hash: content_hash(&text),
            schema_version: source.meta.schema_version,
        };
        let repaired: Vec<String> = raws
            .iter()
            .filter(|r| {
                r.copy
                    .as_ref()
                    .map_or(true, |c| c.meta.content_hash != meta.content_hash)
            })
            .map(|r| r.cluster.clone())
            .collect();
        self.write_all(epoch, deployment, &raws, key, &bytes, &meta)
            .await?;
        Ok(WriteOutcome {
            serial,
            lineage: meta.lineage,
            rolled_forward: repaired,
            backup: None,
        })
    }

    /// Keeps `source` (a copy of schema `from`, older than the current one) as the backup object
    /// [`backup_object_name`] in every cluster, before the write that migrates it. A backup
    /// already there is kept as it is: it holds the document as it was before any migration.
    async fn back_up(
        &self,
        deployment: &str,
        refs: &[String],
        source: &Secret,
        from: SchemaVersion,
    ) -> Result<String, StateStoreError> {
        let name = backup_object_name(deployment, from);
        let mut labels = source.metadata.labels.clone().unwrap_or_default();
        labels.insert(BACKUP_LABEL.to_owned(), "true".to_owned());
        let mut annotations = source.metadata.annotations.clone().unwrap_or_default();
        annotations.remove(FENCE_ANNOTATION);
        annotations.insert(BACKUP_FROM_ANNOTATION.to_owned(), from.to_string());
        let backup = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels),
                annotations: Some(annotations),
                ..Default::default()
            },
            data: source.data.clone(),
            ..Default::default()
        };
        let results = join_all(refs.iter().map(|cluster| {
            let backup = &backup;
            async move {
                let api = self.api(cluster)?;
                match crate::retry::call(|| async {
                    api.create(&PostParams::default(), backup).await
                })
                .await
                {
                    Ok(_) => Ok(()),
                    Err(crate::retry::CallError::Kube(kube::Error::Api(s))) if s.code == 409 => {
                        Ok(())
                    }
                    Err(e) => Err(Self::store_err(cluster, e.into_store())),
                }
            }
        }))
        .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(name)
    }

    /// Replaces every copy in parallel, each with the resourceVersion read.
    async fn write_all(
        &self,
        epoch: Epoch,
        deployment: &str,
        raws: &[Raw],
        key: &str,
        bytes: &[u8],
        meta: &StoredMeta,
    ) -> Result<(), StateStoreError> {
        let results = join_all(
            raws.iter()
                .map(|r| self.write_one(epoch, deployment, r, key, bytes, meta)),
        )
        .await;
        let mut written = Vec::new();
        let mut failed = Vec::new();
        let mut first = None;
        for (raw, result) in raws.iter().zip(results) {
            match result {
                Ok(()) => written.push(raw.cluster.clone()),
                Err(e) => {
                    failed.push(raw.cluster.clone());
                    first.get_or_insert(e);
                }
            }
        }
        match first {
            None => Ok(()),
            Some(e) if written.is_empty() => Err(e),
            Some(e) => Err(StateStoreError::Incomplete {
                written: written.join(", "),
                failed: failed.join(", "),
                first: Box::new(e),
            }),
        }
    }

    async fn write_one(
        &self,
        epoch: Epoch,
        deployment: &str,
        raw: &Raw,
        key: &str,
        bytes: &[u8],
        meta: &StoredMeta,
    ) -> Result<(), StateStoreError> {
        let cluster = raw.cluster.as_str();
        let Some(secret) = &raw.secret else {
            return Err(StateStoreError::Missing {
                cluster: cluster.to_owned(),
                namespace: self.namespace.clone(),
                deployment: deployment.to_owned(),
            });
        };
        let name = secret.metadata.name.clone().unwrap_or_default();
        let api = self.api(cluster)?;
        let mut next = secret.clone();
        fill(&mut next, key, bytes, meta);
        // The copy's fence goes up to ours in the same compare-and-swap that writes it.
        set_epoch(&mut next, epoch);
        match crate::retry::call(|| async {
            api.replace(&name, &PostParams::default(), &next).await
        })
        .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.into_store() {
                StoreError::Conflict => {
                    // Lost the compare-and-swap: a new holder's stamp, or a write without the lock.
                    let now = crate::retry::call(|| async { api.get_opt(&name).await })
                        .await
                        .ok()
                        .flatten();
                    match now.as_ref().map(|s| admits(fencing_epoch(s), epoch)) {
                        Some(Err(refusal)) => Err(fenced(cluster, refusal)),
                        _ => Err(StateStoreError::Conflict {
                            cluster: cluster.to_owned(),
                        }),
                    }
                }
                StoreError::NotFound => Err(StateStoreError::Missing {
                    cluster: cluster.to_owned(),
                    namespace: self.namespace.clone(),
                    deployment: deployment.to_owned(),
                }),
                other => Err(Self::store_err(cluster, other)),
            },
        }
    }
}

/// No existing copy may carry a newer epoch than the lock's; a missing copy under the lock was
/// deleted.
fn check_fence(
    raws: &[Raw],
    epoch: Epoch,
    namespace: &str,
    deployment: &str,
) -> Result<(), StateStoreError> {
    for raw in raws {
        match &raw.secret {
            Some(secret) => {
                if let Err(refusal) = admits(fencing_epoch(secret), epoch) {
                    return Err(fenced(&raw.cluster, refusal));
                }
            }
            None => {
                if let Err(CopyError::Store(e)) = &raw.copy {
                    return Err(StateStoreError::Store {
                        cluster: raw.cluster.clone(),
                        source: e.clone(),
                    });
                }
                return Err(StateStoreError::Missing {
                    cluster: raw.cluster.clone(),
                    namespace: namespace.to_owned(),
                    deployment: deployment.to_owned(),
                });
            }
        }
    }
    Ok(())
}
