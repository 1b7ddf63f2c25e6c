//! Any bytes as a legacy solo.config: never a panic, and an import is always a valid state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use solo_core::state::{self, MigrationStamp};

fuzz_target!(|data: &[u8]| {
    let stamp = MigrationStamp { by: "fuzz@example.com".into(), at: jiff::Timestamp::UNIX_EPOCH };
    if let Ok(import) = state::import_legacy(data, &stamp, None) {
        assert_eq!(state::validate(&import.document), Ok(()));
    }
});
