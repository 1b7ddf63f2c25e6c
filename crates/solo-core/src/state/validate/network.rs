//! The network rules of a state (R13): DNS facts of clusters, ids, accounts, ports and endpoints
//! of consensus nodes.
//!
//! - a cluster's `dnsBaseDomain` is a DNS name and its `dnsConsensusNodePattern` uses only known
//!   placeholders; every namespace of one cluster agrees on the base domain and reachability;
//! - node ids and account ids (`shard.realm.num`) are unique; ports are 1 to 65535;
//! - every node's rendered name fits DNS (253 characters, 63 per part);
//! - recorded endpoints are IPv4 addresses or DNS names with ports in range.

use super::Validator;
use crate::network::pattern::{NamePattern, NodeFacts, dns_name_problem, node_fqdn};
use crate::state::consensus::{Endpoint, parse_account_id};
use crate::state::model::StateDocument;
use crate::state::names::show;
use std::collections::HashMap;
use std::net::Ipv4Addr;

impl Validator {
    pub(super) fn network(&mut self, doc: &StateDocument) {
        let mut per_cluster: HashMap<&str, usize> = HashMap::new();
        for (i, c) in doc.clusters.iter().enumerate() {
            if let Some(m) = dns_name_problem(&c.dns_base_domain) {
                self.push(format!("clusters[{i}].dnsBaseDomain"), m);
            }
            if let Err(e) = NamePattern::parse(&c.dns_consensus_node_pattern) {
                self.push(
                    format!("clusters[{i}].dnsConsensusNodePattern"),
                    format!("{}: {e}", show(&c.dns_consensus_node_pattern)),
                );
            }
            match per_cluster.get(c.name.as_str()) {
                Some(&first) => {
                    let f = &doc.clusters[first];
                    if f.dns_base_domain != c.dns_base_domain {
                        self.push(
                            format!("clusters[{i}].dnsBaseDomain"),
                            format!(
                                "{} differs from {} at clusters[{first}]; one cluster has one base domain",
                                show(&c.dns_base_domain),
                                show(&f.dns_base_domain)
                            ),
                        );
                    }
                    if f.reachability != c.reachability {
                        self.push(
                            format!("clusters[{i}].reachability"),
                            format!(
                                "differs from clusters[{first}].reachability; set it alike for every namespace of cluster {}",
                                c.name
                            ),
                        );
                    }
                }
                None => {
                    per_cluster.insert(&c.name, i);
                }
            }
        }

        let mut ids: HashMap<u64, usize> = HashMap::new();
        let mut accounts: HashMap<(u64, u64, u64), usize> = HashMap::new();
        for (i, n) in doc.components.consensus.iter().enumerate() {
            let at = format!("components.consensus[{i}]");
            if let Some(first) = ids.insert(n.node_id, i) {
                self.push(
                    format!("{at}.nodeId"),
                    format!(
                        "{} is already the node id of components.consensus[{first}]; node ids are unique",
                        n.node_id
                    ),
                );
                ids.insert(n.node_id, first);
            }
            match parse_account_id(&n.account_id) {
                None => self.push(
                    format!("{at}.accountId"),
                    format!(
                        "{} is not an account id; write it as shard.realm.num, like 0.0.3",
                        show(&n.account_id)
                    ),
                ),
                Some(account) => {
                    if let Some(first) = accounts.insert(account, i) {
                        self.push(
                            format!("{at}.accountId"),
                            format!(
                                "{} is already the account of components.consensus[{first}]; accounts are unique",
                                n.account_id
                            ),
                        );
                        accounts.insert(account, first);
                    }
                }
            }
            for (field, port) in [
                ("gossipPort", n.gossip_port),
                ("grpcPort", n.grpc_port),
                ("grpcTlsPort", n.grpc_tls_port),
            ] {
                self.port(format!("{at}.{field}"), port);
            }
            let cluster = doc
                .clusters
                .iter()
                .position(|c| c.name == n.cluster && c.namespace == n.namespace);
            if let Some(j) = cluster {
                let c = &doc.clusters[j];
                if let Ok(pattern) = NamePattern::parse(&c.dns_consensus_node_pattern) {
                    let facts = NodeFacts {
                        alias: &n.name,
                        node_id: n.node_id,
                        namespace: &n.namespace,
                        cluster: &n.cluster,
                    };
                    let fqdn = node_fqdn(&pattern, &c.dns_base_domain, facts);
                    if let Some(m) = dns_name_problem(&fqdn) {
                        self.push(
                            format!("clusters[{j}].dnsConsensusNodePattern"),
                            format!("gives node {} the name {m}", n.name),
                        );
                    }
                }
            }
            if let Some(e) = &n.endpoints {
                for (list, endpoints) in [("gossip", &e.gossip), ("grpc", &e.grpc)] {
                    for (k, endpoint) in endpoints.iter().enumerate() {
                        self.endpoint(&format!("{at}.endpoints.{list}[{k}]"), endpoint);
                    }
                }
            }
        }
    }

    fn port(&mut self, path: String, port: u32) {
        if !(1..=65535).contains(&port) {
            self.push(path, format!("{port} is not a port; a port is 1 to 65535"));
        }
    }

    fn endpoint(&mut self, at: &str, e: &Endpoint) {
        let ip = e.address.parse::<Ipv4Addr>().is_ok();
        // All-numeric parts are an address, never a name: `10.0.0.300` is a bad address.
        let numeric = e
            .address
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !ip && (numeric || dns_name_problem(&e.address).is_some()) {
            self.push(
                format!("{at}.address"),
                format!(
                    "{} is neither an IPv4 address nor a DNS name",
                    show(&e.address)
                ),
            );
        }
        self.port(format!("{at}.port"), e.port);
    }
}
