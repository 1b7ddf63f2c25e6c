//! DNS-1123 labels: the one name syntax of the state.
//!
//! Deployment names become Lease and object names and label values, cluster refs and component
//! names become parts of object names, so every name in the document is a DNS-1123 label:
//! at most 63 characters, lowercase letters, digits and `-`, starting and ending with a letter
//! or a digit. Checking this up front means no name is refused later by a cluster.

/// The longest DNS-1123 label Kubernetes accepts.
pub const MAX_LABEL_LEN: usize = 63;

/// Why a name is not a DNS-1123 label, worded to tell the user how to fix it.
pub fn label_problem(name: &str) -> Option<String> {
    const RULE: &str =
        "use lowercase letters, digits and '-', starting and ending with a letter or digit";
    if name.is_empty() {
        return Some("the name is empty; a name is required".to_string());
    }
    let shown = show(name);
    if name.len() > MAX_LABEL_LEN {
        return Some(format!(
            "{shown} is {} characters long; a name has at most {MAX_LABEL_LEN}",
            name.chars().count()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        let what = if bad.is_ascii_uppercase() {
            format!("upper-case letter '{bad}'")
        } else {
            format!("character {}", show_char(bad))
        };
        return Some(format!(
            "{shown} is not a valid name: it has the {what}; {RULE}"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some(format!(
            "{shown} is not a valid name: it starts or ends with '-'; {RULE}"
        ));
    }
    None
}

fn is_label_chars(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Whether `name` is a DNS-1123 label.
pub fn is_label(name: &str) -> bool {
    label_problem(name).is_none()
}

/// Turn any text (a kube context name, say) into a DNS-1123 label, or `None` if nothing is left.
///
/// The rule, applied in this order: lower-case ASCII letters; replace every character that is
/// not a letter, a digit or `-` by `-`; collapse runs of `-`; trim `-` at both ends; cut to 63
/// characters (and trim a `-` the cut leaves at the end). So `kind-solo-e2e` stays as it is,
/// `gke_my-project_europe-west1_prod` becomes `gke-my-project-europe-west1-prod` and
/// `alice@Cluster.1` becomes `alice-cluster-1`.
pub fn to_label(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    out.truncate(MAX_LABEL_LEN);
    while out.ends_with('-') {
        out.pop();
    }
    (!out.is_empty()).then_some(out)
}

/// Why a string is not a DNS-1123 subdomain (an object name such as `my-network-history-01`).
pub fn subdomain_problem(name: &str) -> Option<String> {
    const MAX: usize = 253;
    if name.is_empty() {
        return Some("the name is empty; a name is required".to_string());
    }
    if name.len() > MAX {
        return Some(format!("{} is longer than {MAX} characters", show(name)));
    }
    for part in name.split('.') {
        if label_problem(part).is_some() {
            return Some(format!(
                "{} is not a valid object name: use lowercase letters, digits, '-' and '.', \
                 each dot-separated part starting and ending with a letter or digit",
                show(name)
            ));
        }
    }
    None
}

/// Why a string is not a user identity (an email address, as recorded on leases and writes).
pub fn identity_problem(who: &str) -> Option<String> {
    const MAX: usize = 254;
    if who.is_empty() {
        return Some("the user is empty; an email address is required".to_string());
    }
    let bad_char = who.chars().any(|c| c.is_whitespace() || c.is_control());
    let shape_ok = match who.split_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
        None => false,
    };
    if bad_char || !shape_ok || who.len() > MAX {
        return Some(format!(
            "{} is not an email address; users are identified by email (like alice@example.com)",
            show(who)
        ));
    }
    None
}

/// Quote a user-given name for a message: plain if it is a label, else quoted and escaped so
/// that nothing in it can act on a terminal.
pub(crate) fn show(name: &str) -> String {
    if !name.is_empty() && name.len() <= MAX_LABEL_LEN && is_label_chars(name) {
        return name.to_string();
    }
    const MAX_SHOWN: usize = 80;
    let mut s: String = name
        .chars()
        .take(MAX_SHOWN)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if name.chars().count() > MAX_SHOWN {
        s.push('…');
    }
    format!("\"{s}\"")
}

fn show_char(c: char) -> String {
    match c {
        ' ' => "' ' (a space)".to_string(),
        c if c.is_control() || c.is_whitespace() => format!("{:?}", c),
        c => format!("'{c}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_labels_and_refuses_the_rest() {
        for ok in ["a", "node0", "my-network-1", "0", &"a".repeat(63)] {
            assert!(is_label(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "Node0",
            "a_b",
            "a.b",
            "a b",
            &"a".repeat(64),
            "ñ",
        ] {
            assert!(!is_label(bad), "{bad}");
        }
    }

    #[test]
    fn context_names_become_labels() {
        assert_eq!(to_label("kind-solo-e2e").as_deref(), Some("kind-solo-e2e"));
        assert_eq!(
            to_label("gke_my-project_europe-west1_prod").as_deref(),
            Some("gke-my-project-europe-west1-prod")
        );
        assert_eq!(
            to_label("alice@Cluster.1").as_deref(),
            Some("alice-cluster-1")
        );
        assert_eq!(to_label("--__--"), None);
        let long = to_label(&format!("{}-{}", "a".repeat(62), "b")).unwrap_or_default();
        assert_eq!(long, "a".repeat(62));
        assert!(is_label(&long));
    }
}
