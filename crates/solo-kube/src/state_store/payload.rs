//! The stored form of a document: canonical JSON, gzip-compressed when large, size-checked.

use super::*;
use std::io::{Read, Write};

/// Encodes canonical text for storage: the data key and its bytes, within [`MAX_STORED_BYTES`].
pub fn encode_payload(text: &str) -> Result<(&'static str, Vec<u8>), usize> {
    let (key, bytes) = if text.len() > GZIP_ABOVE {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing into a Vec cannot fail.
        let _ = gz.write_all(text.as_bytes());
        (STATE_GZ_KEY, gz.finish().unwrap_or_default())
    } else {
        (STATE_KEY, text.as_bytes().to_vec())
    };
    if bytes.len() > MAX_STORED_BYTES {
        return Err(bytes.len());
    }
    Ok((key, bytes))
}

/// Every data key a payload may be stored under, today's first: reads take the first present,
/// writes remove them all before putting today's.
pub const PAYLOAD_KEYS: [&str; 4] = [
    STATE_GZ_KEY,
    STATE_KEY,
    LEGACY_STATE_GZ_KEY,
    LEGACY_STATE_KEY,
];

/// Whether a state object holds a payload under any of [`PAYLOAD_KEYS`].
pub fn has_payload(secret: &Secret) -> bool {
    secret
        .data
        .as_ref()
        .is_some_and(|d| PAYLOAD_KEYS.iter().any(|k| d.contains_key(*k)))
}

/// Decodes a stored payload back to text (at most [`MAX_DOCUMENT_BYTES`] once decompressed),
/// from today's key or an older solo's.
pub fn decode_payload(secret: &Secret) -> Result<Option<String>, CopyError> {
    let data = secret.data.as_ref();
    let Some((key, stored)) = PAYLOAD_KEYS
        .iter()
        .find_map(|k| data.and_then(|d| d.get(*k)).map(|v| (*k, v)))
    else {
        return Ok(None);
    };
    let bytes = if key.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&stored.0[..])
            .take(MAX_DOCUMENT_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| CopyError::Decode(format!("bad gzip data: {e}")))?;
        if out.len() > MAX_DOCUMENT_BYTES {
            return Err(CopyError::Decode(format!(
                "it decompresses to more than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        out
    } else {
        stored.0.clone()
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| CopyError::Decode(format!("not UTF-8 text: {e}")))
}
