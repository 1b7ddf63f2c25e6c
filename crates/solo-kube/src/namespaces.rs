//! A namespace a command needs, created when it is missing and the user may create it.

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use solo_core::lock::StoreError;

use crate::error::store_error;
use crate::lease_store::MANAGED_BY_LABEL;

/// What [`ensure_namespace`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// It was there already.
    Existed,
    /// It was missing, and this call created it.
    Created,
    /// The user may neither read nor create namespaces: whether it exists is unknown.
    Unknown,
}

/// Makes sure `namespace` exists: read it, and create it when missing. A refusal to create a
/// missing namespace is [`StoreError::Forbidden`]; the caller says who may create it.
pub async fn ensure_namespace(client: &Client, namespace: &str) -> Result<Ensured, StoreError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let readable = match api.get_opt(namespace).await {
        Ok(Some(_)) => return Ok(Ensured::Existed),
        Ok(None) => true,
        Err(e) => match store_error(e) {
            StoreError::Forbidden { .. } => false,
            other => return Err(other),
        },
    };
    let object = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.to_owned()),
            labels: Some([(MANAGED_BY_LABEL.0.to_owned(), MANAGED_BY_LABEL.1.to_owned())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api
        .create(&PostParams::default(), &object)
        .await
        .map_err(store_error)
    {
        Ok(_) => Ok(Ensured::Created),
        Err(StoreError::Conflict) => Ok(Ensured::Existed),
        Err(StoreError::Forbidden { .. }) if !readable => Ok(Ensured::Unknown),
        Err(e) => Err(e),
    }
}

/// Whether `namespace` exists: `None` when the user may not read namespaces (then only the
/// requests made in it can tell).
pub async fn namespace_exists(
    client: &Client,
    namespace: &str,
) -> Result<Option<bool>, StoreError> {
    let api: Api<Namespace> = Api::all(client.clone());
    match crate::retry::call(|| async { api.get_opt(namespace).await }).await {
        Ok(found) => Ok(Some(found.is_some())),
        Err(e) => match crate::retry::IntoStore::into_store(e) {
            StoreError::Forbidden { .. } => Ok(None),
            other => Err(other),
        },
    }
}
