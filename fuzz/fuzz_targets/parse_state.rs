//! Any bytes: reading a state never panics, and whatever reads as a valid state prints to a
//! canonical text that reads back to the same document and prints to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use solo_core::state::{self, MigrationStamp};

fuzz_target!(|data: &[u8]| {
    let stamp = MigrationStamp { by: "fuzz@example.com".into(), at: jiff::Timestamp::UNIX_EPOCH };
    match state::parse(data) {
        Err(e) => assert!(!e.to_string().is_empty() && !e.hint().is_empty()),
        Ok(parsed) => {
            // Any version reads back as itself.
            let text = state::versioned_to_yaml(&parsed.document).expect("a parsed document prints");
            let again = state::parse(text.as_bytes()).expect("printed text parses");
            assert_eq!(again.document, parsed.document);

            if let Ok(loaded) = parsed.into_loaded(&stamp) {
                let doc = loaded.into_document();
                let text = state::to_canonical_yaml(&doc).expect("a valid document prints");
                let back = state::load(text.as_bytes(), &stamp).expect("canonical text loads");
                assert_eq!(back.document(), &doc);
                assert_eq!(state::to_canonical_yaml(back.document()).expect("prints"), text);
            }
        }
    }
});
