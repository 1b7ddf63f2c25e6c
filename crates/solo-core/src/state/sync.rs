//! Comparing the copies of one state kept in several clusters (R12): in sync, behind, diverged or
//! unreadable. Pure: the store reads the copies, this decides what they mean.
//!
//! - **In sync**: every copy has the same lineage, serial and content hash.
//! - **Behind**: one lineage, and the copies at the highest serial agree; the others have a lower
//!   serial. A write was cut short after some clusters; the next locked write rolls the others
//!   forward from the newest copy.
//! - **Diverged**: two lineages, or two copies of one serial with different content. No copy can
//!   be preferred by rule; a person chooses one with `solo state sync <deployment> --from <cluster>`.
//! - **Unreadable**: a copy that cannot be read or trusted (bad YAML, a newer schema, a missing
//!   object, a hash that does not match its content). It is reported, never overwritten silently.

use super::stored::StoredMeta;
use jiff::Timestamp;
use std::fmt;
use uuid::Uuid;

/// What the store read of one readable copy: its bookkeeping and who wrote it last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyInfo {
    /// Serial, lineage, epoch, hash and schema version of the copy.
    pub meta: StoredMeta,
    /// `metadata.lastUpdatedBy` of the copy's document.
    pub updated_by: String,
    /// `metadata.lastUpdatedAt` of the copy's document.
    pub updated_at: Timestamp,
}

/// One row of the per-cluster table shown when copies diverge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRow {
    /// The cluster ref.
    pub cluster: String,
    /// The copy's serial.
    pub serial: u64,
    /// The copy's lineage.
    pub lineage: Uuid,
    /// The copy's content hash.
    pub hash: String,
    /// Who wrote the copy last.
    pub updated_by: String,
    /// When the copy was written last.
    pub updated_at: Timestamp,
}

/// How the copies of one state compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStatus {
    /// Every copy agrees.
    InSync {
        /// The common serial.
        serial: u64,
    },
    /// A write was cut short: `behind` copies have an older serial of the same lineage.
    Behind {
        /// A cluster holding the newest copy (the first in cluster order).
        newest: String,
        /// The newest serial.
        serial: u64,
        /// The clusters behind, with their serials.
        behind: Vec<(String, u64)>,
    },
    /// Copies of different lineages, or of one serial with different content.
    Diverged {
        /// Every copy, in cluster order.
        table: Vec<CopyRow>,
    },
    /// Some copies cannot be read or trusted (or there are no copies at all).
    Unreadable {
        /// Each unreadable copy and why.
        copies: Vec<(String, String)>,
    },
}

impl SyncStatus {
    /// Whether a locked write may proceed (in sync, or behind and to be rolled forward).
    pub fn is_writable(&self) -> bool {
        matches!(self, SyncStatus::InSync { .. } | SyncStatus::Behind { .. })
    }
}

/// Classifies the copies read from each cluster (`Err` carries why a copy is unreadable).
pub fn classify(copies: &[(String, Result<CopyInfo, String>)]) -> SyncStatus {
    if copies.is_empty() {
        return SyncStatus::Unreadable {
            copies: vec![(String::new(), "no copy of the state was read".to_owned())],
        };
    }
    let unreadable: Vec<(String, String)> = copies
        .iter()
        .filter_map(|(c, r)| r.as_ref().err().map(|e| (c.clone(), e.clone())))
        .collect();
    if !unreadable.is_empty() {
        return SyncStatus::Unreadable { copies: unreadable };
    }
    let readable: Vec<(&String, &CopyInfo)> = copies
        .iter()
        .filter_map(|(c, r)| r.as_ref().ok().map(|i| (c, i)))
        .collect();
    let lineage = readable[0].1.meta.lineage;
    let one_lineage = readable.iter().all(|(_, i)| i.meta.lineage == lineage);
    let serials_agree = readable.iter().all(|(_, a)| {
        readable.iter().all(|(_, b)| {
            a.meta.serial != b.meta.serial || a.meta.content_hash == b.meta.content_hash
        })
    });
    if !one_lineage || !serials_agree {
        return SyncStatus::Diverged {
            table: readable
                .iter()
                .map(|(c, i)| CopyRow {
                    cluster: (*c).clone(),
                    serial: i.meta.serial,
                    lineage: i.meta.lineage,
                    hash: i.meta.content_hash.clone(),
                    updated_by: i.updated_by.clone(),
                    updated_at: i.updated_at,
                })
                .collect(),
        };
    }
    let serial = readable
        .iter()
        .map(|(_, i)| i.meta.serial)
        .max()
        .unwrap_or(0);
    let behind: Vec<(String, u64)> = readable
        .iter()
        .filter(|(_, i)| i.meta.serial < serial)
        .map(|(c, i)| ((*c).clone(), i.meta.serial))
        .collect();
    if behind.is_empty() {
        return SyncStatus::InSync { serial };
    }
    let newest = readable
        .iter()
        .find(|(_, i)| i.meta.serial == serial)
        .map(|(c, _)| (*c).clone())
        .unwrap_or_default();
    SyncStatus::Behind {
        newest,
        serial,
        behind,
    }
}

impl fmt::Display for CopyRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<16} {:>6}  {}  {}  {}  {}",
            self.cluster,
            self.serial,
            self.lineage.hyphenated(),
            &self.hash[..self.hash.len().min(12)],
            self.updated_by,
            self.updated_at
        )
    }
}

/// The per-cluster table of diverged copies, with a header line, one row per line.
pub fn divergence_table(table: &[CopyRow]) -> String {
    let mut out = format!(
        "{:<16} {:>6}  {:<36}  {:<12}  UPDATED BY  UPDATED AT\n",
        "CLUSTER", "SERIAL", "LINEAGE", "HASH"
    );
    for row in table {
        out.push_str(&row.to_string());
        out.push('\n');
    }
    out
}

impl fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncStatus::InSync { serial } => write!(f, "in sync at serial {serial}"),
            SyncStatus::Behind {
                newest,
                serial,
                behind,
            } => {
                let list: Vec<String> = behind
                    .iter()
                    .map(|(c, s)| format!("{c} (serial {s})"))
                    .collect();
                write!(
                    f,
                    "a write was cut short: {newest} has serial {serial}, {} {} behind; the next locked write rolls {} forward",
                    list.join(", "),
                    if behind.len() == 1 { "is" } else { "are" },
                    if behind.len() == 1 { "it" } else { "them" },
                )
            }
            SyncStatus::Diverged { table } => {
                write!(f, "the copies diverged:\n{}", divergence_table(table))
            }
            SyncStatus::Unreadable { copies } => {
                let list: Vec<String> = copies
                    .iter()
                    .map(|(c, r)| format!("the copy in {c} is unreadable: {r}"))
                    .collect();
                write!(f, "{}", list.join("; "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::version::CURRENT;
    use super::*;
    use proptest::prelude::*;

    fn info(lineage: u128, serial: u64, content: &str) -> CopyInfo {
        let mut meta = StoredMeta::first(Uuid::from_u128(lineage), 1, CURRENT, content);
        meta.serial = serial;
        CopyInfo {
            meta,
            updated_by: "alice@example.com".to_owned(),
            updated_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn copies(list: &[(u128, u64, &str)]) -> Vec<(String, Result<CopyInfo, String>)> {
        list.iter()
            .enumerate()
            .map(|(i, (l, s, c))| (format!("cluster-{}", i + 1), Ok(info(*l, *s, c))))
            .collect()
    }

    #[test]
    fn equal_copies_are_in_sync() {
        let c = copies(&[(1, 3, "a"), (1, 3, "a"), (1, 3, "a")]);
        assert_eq!(classify(&c), SyncStatus::InSync { serial: 3 });
    }

    #[test]
    fn a_lower_serial_of_the_same_lineage_is_behind() {
        let c = copies(&[(1, 3, "a"), (1, 4, "b"), (1, 2, "c")]);
        let status = classify(&c);
        assert_eq!(
            status,
            SyncStatus::Behind {
                newest: "cluster-2".into(),
                serial: 4,
                behind: vec![("cluster-1".into(), 3), ("cluster-3".into(), 2)],
            }
        );
        assert!(status.is_writable());
        assert!(status.to_string().contains("cluster-2 has serial 4"));
    }

    #[test]
    fn another_lineage_or_another_content_at_one_serial_diverges() {
        for c in [
            copies(&[(1, 3, "a"), (2, 3, "a")]),
            copies(&[(1, 3, "a"), (1, 3, "b")]),
            copies(&[(1, 4, "x"), (1, 3, "a"), (1, 3, "b")]),
        ] {
            let status = classify(&c);
            let SyncStatus::Diverged { table } = &status else {
                panic!("{status:?}")
            };
            assert_eq!(table.len(), c.len());
            assert!(!status.is_writable());
            assert!(status.to_string().contains("cluster-2"), "{status}");
        }
    }

    #[test]
    fn any_unreadable_copy_wins_and_is_named() {
        let mut c = copies(&[(1, 3, "a"), (2, 9, "b")]);
        c.push(("cluster-3".into(), Err("bad YAML".into())));
        let status = classify(&c);
        assert_eq!(
            status,
            SyncStatus::Unreadable {
                copies: vec![("cluster-3".into(), "bad YAML".into())]
            }
        );
        assert!(
            status
                .to_string()
                .contains("cluster-3 is unreadable: bad YAML")
        );
        assert!(!classify(&[]).is_writable());
    }

    proptest! {
        /// In sync exactly when all agree; behind never when two copies of a serial disagree;
        /// the newest of a Behind set holds the maximum serial; the order of copies does not
        /// change the verdict's kind.
        #[test]
        fn verdicts_are_consistent(
            list in prop::collection::vec((0u128..2, 1u64..4, 0usize..2), 1..5),
            bad in prop::option::of(0usize..5),
        ) {
            let contents = ["a", "b"];
            let mut c: Vec<(String, Result<CopyInfo, String>)> = list
                .iter()
                .enumerate()
                .map(|(i, (l, s, k))| {
                    (format!("c{i}"), Ok(info(*l, *s, &format!("{}{s}", contents[*k]))))
                })
                .collect();
            if let Some(b) = bad.filter(|b| *b < c.len()) {
                c[b].1 = Err("broken".into());
            }
            let status = classify(&c);
            let ok: Vec<&CopyInfo> = c.iter().filter_map(|(_, r)| r.as_ref().ok()).collect();
            match &status {
                SyncStatus::Unreadable { copies } => prop_assert!(!copies.is_empty() && ok.len() < c.len()),
                SyncStatus::InSync { serial } => prop_assert!(ok.len() == c.len() && ok.iter().all(|i| i.meta == ok[0].meta && i.meta.serial == *serial)),
                SyncStatus::Behind { newest, serial, behind } => {
                    prop_assert!(ok.iter().all(|i| i.meta.lineage == ok[0].meta.lineage));
                    prop_assert_eq!(*serial, ok.iter().map(|i| i.meta.serial).max().unwrap());
                    prop_assert!(!behind.is_empty() && behind.iter().all(|(_, s)| s < serial));
                    prop_assert!(c.iter().any(|(n, r)| n == newest && r.as_ref().map(|i| i.meta.serial) == Ok(*serial)));
                }
                SyncStatus::Diverged { table } => prop_assert_eq!(table.len(), c.len()),
            }
            let mut reversed = c.clone();
            reversed.reverse();
            prop_assert_eq!(
                std::mem::discriminant(&classify(&reversed)),
                std::mem::discriminant(&status)
            );
        }
    }
}
