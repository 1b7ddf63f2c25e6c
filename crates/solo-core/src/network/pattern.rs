//! A consensus node's DNS name: Solo's `dnsConsensusNodePattern` rendered, then `.dnsBaseDomain`.
//!
//! Placeholders are `{nodeAlias}`, `{nodeId}`, `{namespace}` and `{cluster}`; Solo's own files
//! write them as `${nodeAlias}`, which is read the same. Anything else in braces is refused, so a
//! typo never becomes a literal part of a name that no DNS server knows.

use std::fmt;

/// The longest DNS name (RFC 1035, as Kubernetes applies it to subdomains).
pub const MAX_DNS_NAME: usize = 253;
/// The longest label of a DNS name.
pub const MAX_DNS_LABEL: usize = 63;

/// A value a pattern can insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// `{nodeAlias}`: the node's name (`node1`).
    NodeAlias,
    /// `{nodeId}`: the node id (`0`).
    NodeId,
    /// `{namespace}`: the node's namespace.
    Namespace,
    /// `{cluster}`: the node's cluster ref.
    Cluster,
}

impl Placeholder {
    /// Every placeholder, as written.
    pub const NAMES: [&'static str; 4] = ["nodeAlias", "nodeId", "namespace", "cluster"];

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "nodeAlias" => Placeholder::NodeAlias,
            "nodeId" => Placeholder::NodeId,
            "namespace" => Placeholder::Namespace,
            "cluster" => Placeholder::Cluster,
            _ => return None,
        })
    }
}

/// Why a pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The pattern is empty.
    #[error("the pattern is empty")]
    Empty,
    /// `{something}` that is not a placeholder.
    #[error(
        "{{{name}}} is not a placeholder; use {{nodeAlias}}, {{nodeId}}, {{namespace}} or {{cluster}}"
    )]
    UnknownPlaceholder {
        /// What was in the braces.
        name: String,
    },
    /// A `{` without its `}`, or a `}` without its `{`.
    #[error("the brace at character {at} is not part of a {{placeholder}}")]
    StrayBrace {
        /// 1-based character position.
        at: usize,
    },
}

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Value(Placeholder),
}

/// A parsed `dnsConsensusNodePattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    pieces: Vec<Piece>,
}

/// The facts of one node that a pattern may insert.
#[derive(Debug, Clone, Copy)]
pub struct NodeFacts<'a> {
    /// Its name.
    pub alias: &'a str,
    /// Its node id.
    pub node_id: u64,
    /// Its namespace.
    pub namespace: &'a str,
    /// Its cluster ref.
    pub cluster: &'a str,
}

impl NamePattern {
    /// Read a pattern, refusing unknown placeholders and stray braces.
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        if pattern.is_empty() {
            return Err(PatternError::Empty);
        }
        let mut pieces = Vec::new();
        let mut text = String::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let opens = c == '{' || (c == '$' && chars.get(i + 1) == Some(&'{'));
            if opens {
                let start = if c == '$' { i + 2 } else { i + 1 };
                let Some(len) = chars[start..].iter().position(|&c| c == '}') else {
                    return Err(PatternError::StrayBrace { at: i + 1 });
                };
                let name: String = chars[start..start + len].iter().collect();
                if name.contains('{') {
                    return Err(PatternError::StrayBrace { at: i + 1 });
                }
                let value =
                    Placeholder::parse(&name).ok_or(PatternError::UnknownPlaceholder { name })?;
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Value(value));
                i = start + len + 1;
            } else if c == '}' {
                return Err(PatternError::StrayBrace { at: i + 1 });
            } else {
                text.push(c);
                i += 1;
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(NamePattern { pieces })
    }

    /// The pattern with the node's facts in place.
    pub fn render(&self, node: NodeFacts<'_>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Value(Placeholder::NodeAlias) => out.push_str(node.alias),
                Piece::Value(Placeholder::NodeId) => out.push_str(&node.node_id.to_string()),
                Piece::Value(Placeholder::Namespace) => out.push_str(node.namespace),
                Piece::Value(Placeholder::Cluster) => out.push_str(node.cluster),
            }
        }
        out
    }
}

/// The node's fully qualified name: the rendered pattern, a dot, the base domain.
pub fn node_fqdn(pattern: &NamePattern, base_domain: &str, node: NodeFacts<'_>) -> String {
    let name = pattern.render(node);
    let base = base_domain.trim_matches('.');
    if base.is_empty() {
        name
    } else {
        format!("{name}.{base}")
    }
}

/// Why a DNS name cannot be used, or `None`: at most 253 characters, labels of 1 to 63
/// lowercase letters, digits and `-`, not starting or ending with `-`.
pub fn dns_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the name is empty".to_string());
    }
    if name.len() > MAX_DNS_NAME {
        return Some(format!(
            "{name} is {} characters long; a DNS name has at most {MAX_DNS_NAME}",
            name.len()
        ));
    }
    for label in name.split('.') {
        if label.len() > MAX_DNS_LABEL {
            return Some(format!(
                "its part {label} is {} characters long; a part of a DNS name has at most {MAX_DNS_LABEL}",
                label.len()
            ));
        }
        let chars_ok = label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if label.is_empty() || !chars_ok || label.starts_with('-') || label.ends_with('-') {
            return Some(format!(
                "{name} is not a DNS name: each dot-separated part is lowercase letters, digits and '-', not starting or ending with '-'"
            ));
        }
    }
    None
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => f.write_str(t)?,
                Piece::Value(p) => {
                    let i = [
                        Placeholder::NodeAlias,
                        Placeholder::NodeId,
                        Placeholder::Namespace,
                        Placeholder::Cluster,
                    ]
                    .iter()
                    .position(|q| q == p)
                    .unwrap_or(0);
                    write!(f, "{{{}}}", Placeholder::NAMES[i])?
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeFacts<'static> {
        NodeFacts {
            alias: "node1",
            node_id: 0,
            namespace: "solo",
            cluster: "cluster-1",
        }
    }

    #[test]
    fn solo_default_pattern_gives_solo_fqdn() {
        let p = NamePattern::parse("network-{nodeAlias}-svc.{namespace}.svc")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            node_fqdn(&p, "cluster.local", node()),
            "network-node1-svc.solo.svc.cluster.local"
        );
        let dollar = NamePattern::parse("network-${nodeAlias}-svc.${namespace}.svc");
        assert_eq!(dollar.as_ref(), Ok(&p));
        let ids = NamePattern::parse("n{nodeId}.{cluster}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ids.render(node()), "n0.cluster-1");
        assert_eq!(ids.to_string(), "n{nodeId}.{cluster}");
    }

    #[test]
    fn bad_patterns_are_refused_with_the_reason() {
        assert_eq!(
            NamePattern::parse("network-{alias}-svc"),
            Err(PatternError::UnknownPlaceholder {
                name: "alias".into()
            })
        );
        assert_eq!(
            NamePattern::parse("network-{nodeAlias"),
            Err(PatternError::StrayBrace { at: 9 })
        );
        assert_eq!(
            NamePattern::parse("network-}"),
            Err(PatternError::StrayBrace { at: 9 })
        );
        assert_eq!(NamePattern::parse(""), Err(PatternError::Empty));
    }

    #[test]
    fn dns_names_have_limits() {
        assert_eq!(
            dns_name_problem("network-node1-svc.solo.svc.cluster.local"),
            None
        );
        assert!(dns_name_problem(&"a".repeat(64)).is_some());
        assert!(dns_name_problem(&vec!["a".repeat(60); 5].join(".")).is_some());
        assert!(dns_name_problem("Node.local").is_some());
        assert!(dns_name_problem("a..b").is_some());
    }
}
