//! `solo init`: the local config with the user's identity; rerunning it changes nothing else.

use crate::cli::Global;
use crate::config::{self, LocalConfig};
use crate::render::{Failure, Out};

/// Creates or completes `$SOLO_HOME/solo-state-config.yaml`.
pub fn run(global: &Global, out: &Out) -> Result<(), Failure> {
    let mut config = LocalConfig::load()?;
    if let Some(email) = global.email.as_deref()
        && let Some(problem) = config::email_problem(email)
    {
        return Err(Failure::new(
            format!("--email {email:?} {problem}"),
            "pass --email you@example.com",
        )
        .code(2));
    }
    let before = config.user_email.clone();
    let email = config::identity(global.email.as_deref(), &mut config)?;
    let changed = before.as_deref() != Some(email.as_str());
    config.user_email = Some(email.clone());
    let path = config.save()?;
    out.say(&format!(
        "ok: solo {} for {email} in {} ({} cluster refs, {} deployments)",
        if changed {
            "is set up"
        } else {
            "was already set up"
        },
        path.display(),
        config.cluster_refs.len(),
        config.deployments.len()
    ));
    if config.cluster_refs.is_empty() {
        out.say("next: map a cluster ref to one of your kube contexts: `solo cluster-ref connect cluster-1 --context <kube-context>`");
    }
    Ok(())
}
