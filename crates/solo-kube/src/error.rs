//! How Kubernetes API errors map onto the lock's [`StoreError`].

use solo_core::lock::StoreError;

/// Classifies a kube-rs error: 409 conflicts, 404, 401, 403, and "the cluster cannot be reached".
pub fn store_error(err: kube::Error) -> StoreError {
    match err {
        kube::Error::Api(status) => match status.code {
            409 => StoreError::Conflict,
            404 => StoreError::NotFound,
            // Not an access problem: nothing can be created in a namespace being deleted.
            403 if namespace_terminating(&status) => StoreError::Other {
                message: "the namespace is being deleted (Terminating), so nothing can be created in it: use another namespace, or create it again once its deletion has finished".to_owned(),
            },
            // The credentials, not the permissions: a Role would not help.
            401 => StoreError::Other {
                message: "the cluster did not accept your credentials (401 Unauthorized): check the token or certificate of your kube context".to_owned(),
            },
            403 => StoreError::Forbidden {
                message: status.message,
            },
            // The API server is up but cannot reach its storage, or is shutting down.
            _ if api_busy(&status) => {
                StoreError::Unavailable {
                    message: status.message,
                }
            }
            _ => StoreError::Other {
                message: format!("{} ({})", status.message, status.code),
            },
        },
        err @ (kube::Error::HyperError(_) | kube::Error::Service(_)) => {
            let chain = error_chain(&err);
            match chain.split_once("invalid peer certificate: ") {
                // Reached, but not trusted: retrying will not help.
                Some((_, why)) => StoreError::Other {
                    message: format!(
                        "the server's certificate is not trusted ({why}): check the certificate-authority-data of the cluster in your kubeconfig"
                    ),
                },
                None => StoreError::Unavailable { message: chain },
            }
        }
        other => StoreError::Other {
            message: error_chain(&other),
        },
    }
}

/// Whether the API server answered that it is too busy or cannot reach its storage now: worth
/// trying again shortly.
pub fn api_busy(status: &kube::core::Status) -> bool {
    match status.code {
        429 => true,
        500 | 503 | 504 => matches!(
            status.reason.as_str(),
            "ServiceUnavailable" | "Timeout" | "ServerTimeout" | "TooManyRequests"
        ),
        _ => false,
    }
}

/// Whether a 404 is the namespace's, not the object's: the namespace does not exist, so no
/// write in it can land (the API server's namespace admission answers so even for an object
/// that is still stored, and listed, in a namespace deleted without its controller).
pub fn namespace_missing(status: &kube::core::Status) -> bool {
    status.code == 404
        && status
            .details
            .as_ref()
            .is_some_and(|d| d.kind == "namespaces")
}

/// Whether the API server refused a create because the namespace is being deleted.
fn namespace_terminating(status: &kube::core::Status) -> bool {
    status
        .details
        .as_ref()
        .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"))
        || status.message.contains("because it is being terminated")
}

/// The error with its causes, joined by ": " (the innermost cause says what really happened).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;
    use kube::core::response::StatusDetails;

    fn not_found(kind: &str) -> Status {
        let mut status = Status::failure("not found", "NotFound").with_code(404);
        // As the API server sends it (the struct has no Default).
        let details: StatusDetails =
            serde_json::from_value(serde_json::json!({ "kind": kind, "name": "gone" }))
                .expect("details");
        status.details = Some(details);
        status
    }

    #[test]
    fn a_missing_namespace_is_told_from_a_missing_object() {
        assert!(namespace_missing(&not_found("namespaces")));
        assert!(!namespace_missing(&not_found("leases")));
        assert!(!namespace_missing(
            &Status::failure("not found", "NotFound").with_code(404)
        ));
    }
}
