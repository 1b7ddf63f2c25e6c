//! The names and labels of the Leases of one lock: the lock label every one of them carries,
//! and the name of each waiter's ticket. Both must be valid for the API server whatever the
//! lock's name, and stable, since every client must compute the same ones.

use sha2::{Digest, Sha256};

/// The label on the lock's Lease and on every ticket of it: one LIST by this label returns
/// them all at one resourceVersion. Its value is [`lock_label_value`] of the lock's name.
pub const LOCK_LABEL: &str = "solo.hiero.org/lock";

/// The longest label value the API server accepts.
const MAX_LABEL_VALUE: usize = 63;

/// The longest object name the API server accepts (a DNS-1123 subdomain).
const MAX_NAME: usize = 253;

/// Hex digits of the hash in a hashed name or label value: 64 bits, no collision in practice.
const HASH_DIGITS: usize = 16;

/// The label selector of every Lease of the lock `lock`: what its LIST and its watch select,
/// which must be the same for a watch to carry a LIST forward.
pub fn lock_selector(lock: &str) -> String {
    format!("{LOCK_LABEL}={}", lock_label_value(lock))
}

/// The [`LOCK_LABEL`] value of the lock whose Lease is named `lock`: the name itself when it
/// is a valid label value, else a stable short form (a readable prefix and a hash of the whole).
pub fn lock_label_value(lock: &str) -> String {
    if is_label_value(lock) {
        return lock.to_owned();
    }
    let readable: String = lock
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    hashed(&readable, lock, MAX_LABEL_VALUE, |c| {
        c.is_ascii_alphanumeric()
    })
}

/// The name of the ticket of request `request_id` waiting for the lock `lock`:
/// `<lock>-w-<request id>`, lowercased, with every character a name may not hold turned into
/// `-`; a stable hashed form when that is still not a valid name (too long, or a bad end).
pub fn ticket_name(lock: &str, request_id: &str) -> String {
    let raw = format!("{lock}-w-{request_id}");
    let lowered: Vec<char> = raw.to_ascii_lowercase().chars().collect();
    let mut name = String::with_capacity(lowered.len());
    for (i, &c) in lowered.iter().enumerate() {
        let alnum =
            |c: Option<&char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let keep = alnum(Some(&c))
            || c == '-'
            // A dot only between two alphanumerics: `a.-b` and `a..b` are not names.
            || (c == '.' && alnum(i.checked_sub(1).and_then(|j| lowered.get(j))) && alnum(lowered.get(i + 1)));
        name.push(if keep { c } else { '-' });
    }
    if is_dns_subdomain(&name) {
        return name;
    }
    hashed(&name.replace('.', "-"), &raw, MAX_NAME, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit()
    })
}

/// `<readable prefix>-<hash of whole>` within `max` characters; the prefix trimmed to start and
/// end with a character `alnum` accepts (dropped when nothing is left of it).
fn hashed(readable: &str, whole: &str, max: usize, alnum: impl Fn(char) -> bool) -> String {
    let digest = Sha256::digest(whole.as_bytes());
    let hash: String = digest
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(HASH_DIGITS)
        .map(|n| char::from_digit(u32::from(n), 16).unwrap_or('0'))
        .collect();
    let room = max - HASH_DIGITS - 1;
    let prefix: String = readable
        .trim_start_matches(|c| !alnum(c))
        .chars()
        .take(room)
        .collect();
    let prefix = prefix.trim_end_matches(|c| !alnum(c));
    if prefix.is_empty() {
        hash
    } else {
        format!("{prefix}-{hash}")
    }
}

/// Whether the API server accepts `value` as a label value: at most 63 characters of
/// `[A-Za-z0-9._-]`, alphanumeric at both ends (or empty).
pub fn is_label_value(value: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    value.len() <= MAX_LABEL_VALUE
        && value
            .chars()
            .all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
        && value.chars().next().is_none_or(alnum)
        && value.chars().last().is_none_or(alnum)
}

/// Whether `name` is a DNS-1123 subdomain, as object names must be: at most 253 characters,
/// dot-separated parts of `[a-z0-9-]` that start and end alphanumeric.
pub fn is_dns_subdomain(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| alnum(c) || c == '-')
                && part.chars().next().is_some_and(alnum)
                && part.chars().last().is_some_and(alnum)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_lock_name_is_its_own_label_value() {
        assert_eq!(lock_label_value("solo-e2e-1"), "solo-e2e-1");
        assert_eq!(lock_label_value("My_Net.v2"), "My_Net.v2");
    }

    #[test]
    fn a_lock_name_that_is_no_label_value_gets_a_stable_valid_short_form() {
        let long = "a".repeat(64);
        let dotted_end = "network.";
        for name in [long.as_str(), dotted_end, "-x", "a/b", "...", "ünïcode"] {
            let value = lock_label_value(name);
            assert!(is_label_value(&value), "{name:?} -> {value:?}");
            assert!(!value.is_empty(), "{name:?}");
            assert_eq!(value, lock_label_value(name), "stable for {name:?}");
        }
        assert!(lock_label_value(&long).starts_with("aaaa"));
        // Two long names that share their first 63 characters are told apart.
        let other = format!("{}b", "a".repeat(63));
        assert_ne!(lock_label_value(&long), lock_label_value(&other));
    }

    #[test]
    fn a_ticket_is_named_after_its_lock_and_request() {
        let id = "0f8e6a8c-3a53-4c1e-9b1a-2a1d0c6e7f10";
        assert_eq!(ticket_name("my-net", id), format!("my-net-w-{id}"));
        assert_eq!(ticket_name("My.Net", "ID_1"), "my.net-w-id-1");
        assert_eq!(ticket_name("net", "a..b"), "net-w-a--b");
    }

    #[test]
    fn a_ticket_name_is_always_valid_and_stable() {
        let long = "n".repeat(250);
        for (lock, id) in [
            (long.as_str(), "request-1"),
            ("net", "ends-badly-"),
            ("net", "ends-with-dot."),
            ("net", "x".repeat(300).as_str()),
            ("net", "unicode-é"),
        ] {
            let name = ticket_name(lock, id);
            assert!(is_dns_subdomain(&name), "{lock:?} {id:?} -> {name:?}");
            assert_eq!(name, ticket_name(lock, id));
        }
        assert_ne!(
            ticket_name(&long, "request-1"),
            ticket_name(&long, "request-2")
        );
    }

    #[test]
    fn the_checks_follow_the_api_servers_rules() {
        assert!(is_label_value(""));
        assert!(!is_label_value("a b"));
        assert!(!is_label_value("a-"));
        assert!(!is_label_value(&"a".repeat(64)));
        assert!(is_dns_subdomain("a.b-c"));
        assert!(!is_dns_subdomain("a..b"));
        assert!(!is_dns_subdomain("A"));
        assert!(!is_dns_subdomain("a-.b"));
        assert!(!is_dns_subdomain(&"a".repeat(254)));
    }
}
