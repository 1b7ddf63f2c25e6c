//! Creating a deployment's state in every cluster, all or nothing.

use super::*;

impl StateStore {
    /// Creates every copy of a new deployment's state (serial 1, a fresh lineage), in the clusters
    /// the document lists. An existing state is an error; on any failure, what this call created
    /// is removed again. An object that holds only the lock's fencing stamp is filled in.
    pub async fn create(
        &self,
        doc: &StateDocument,
        team: &str,
    ) -> Result<StoredMeta, StateStoreError> {
        let deployment = doc.metadata.name.clone();
        if let Some(problem) = names::label_problem(team) {
            return Err(Self::invalid(
                &deployment,
                format!("team {team:?}: {problem}"),
            ));
        }
        let (text, key, bytes) = Self::prepare(&deployment, doc)?;
        let meta = StoredMeta::first(Uuid::new_v4(), 0, CURRENT, &text);
        let refs = cluster_names(doc);
        let results = join_all(
            refs.iter()
                .map(|c| self.create_one(c, &deployment, team, key, &bytes, &meta)),
        )
        .await;
        let mut first_error = None;
        let mut done = Vec::new();
        for (cluster, result) in refs.iter().zip(results) {
            match result {
                Ok(undo) => done.push((cluster.clone(), undo)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => {
                let entry = IndexEntry {
                    deployment: deployment.clone(),
                    team: team.to_owned(),
                    state_namespace: self.namespace.clone(),
                    namespace: doc
                        .clusters
                        .first()
                        .map(|c| c.namespace.clone())
                        .unwrap_or_default(),
                    clusters: refs.clone(),
                };
                // The public index is a convenience for other teams; the state is what counts.
                if let Err((cluster, e)) = index::publish(&self.clusters, &entry).await {
                    tracing::warn!(cluster, error = %e, "the deployment was not added to the public index");
                }
                Ok(meta)
            }
            Some(e) => {
                let name = state_object_name(&deployment);
                join_all(
                    done.iter()
                        .map(|(c, undo)| self.undo_create(c, &name, undo)),
                )
                .await;
                Err(e)
            }
        }
    }

    async fn create_one(
        &self,
        cluster: &str,
        deployment: &str,
        team: &str,
        key: &str,
        bytes: &[u8],
        meta: &StoredMeta,
    ) -> Result<Undo, StateStoreError> {
        let api = self.api(cluster)?;
        let name = state_object_name(deployment);
        let labels = BTreeMap::from([
            (MANAGED_BY_LABEL.0.to_owned(), MANAGED_BY_LABEL.1.to_owned()),
            (DEPLOYMENT_LABEL.to_owned(), deployment.to_owned()),
            (TEAM_LABEL.to_owned(), team.to_owned()),
        ]);
        let mut secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        fill(&mut secret, key, bytes, meta);
        let exists = || StateStoreError::AlreadyExists {
            deployment: deployment.to_owned(),
            cluster: cluster.to_owned(),
            namespace: self.namespace.clone(),
        };
        match api.create(&PostParams::default(), &secret).await {
            Ok(created) => return Ok(Undo::Delete(created.metadata.uid)),
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(Self::store_err(cluster, store_error(e))),
        }
        // Only the lock's fencing stamp may be there already: fill it in, keeping the stamp.
        let original = api
            .get(&name)
            .await
            .map_err(|e| Self::store_err(cluster, store_error(e)))?;
        let has_state = has_payload(&original)
            || original
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(SERIAL_ANNOTATION));
        if has_state {
            return Err(exists());
        }
        let mut filled = original.clone();
        let mut meta = meta.clone();
        meta.epoch = fencing_epoch(&original).0;
        fill(&mut filled, key, bytes, &meta);
        filled
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .extend(labels);
        match api.replace(&name, &PostParams::default(), &filled).await {
            Ok(written) => Ok(Undo::Restore(
                Box::new(original),
                written.metadata.resource_version,
            )),
            Err(kube::Error::Api(s)) if s.code == 409 => Err(exists()),
            Err(e) => Err(Self::store_err(cluster, store_error(e))),
        }
    }

    async fn undo_create(&self, cluster: &str, name: &str, undo: &Undo) {
        let Ok(api) = self.api(cluster) else { return };
        let result = match undo {
            Undo::Delete(uid) => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: uid.clone(),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                api.delete(name, &params).await.map(|_| ())
            }
            Undo::Restore(original, written_version) => {
                let mut back = (**original).clone();
                back.metadata.resource_version = written_version.clone();
                api.replace(name, &PostParams::default(), &back)
                    .await
                    .map(|_| ())
            }
        };
        if let Err(e) = result {
            tracing::warn!(cluster, error = %e, "could not undo a partial create");
        }
    }
}

/// What to undo of a create that failed elsewhere.
enum Undo {
    /// Delete the object created (by uid, so nothing newer is deleted).
    Delete(Option<String>),
    /// Put back the fencing-stamp-only object that was filled in.
    Restore(Box<Secret>, Option<String>),
}
