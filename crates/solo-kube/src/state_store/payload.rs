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

/// Decodes a stored payload back to text (at most [`MAX_DOCUMENT_BYTES`] once decompressed).
pub fn decode_payload(secret: &Secret) -> Result<Option<String>, CopyError> {
    let data = secret.data.as_ref();
    let bytes = if let Some(gz) = data.and_then(|d| d.get(STATE_GZ_KEY)) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz.0[..])
            .take(MAX_DOCUMENT_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| CopyError::Decode(format!("bad gzip data: {e}")))?;
        if out.len() > MAX_DOCUMENT_BYTES {
            return Err(CopyError::Decode(format!(
                "it decompresses to more than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        out
    } else if let Some(plain) = data.and_then(|d| d.get(STATE_KEY)) {
        plain.0.clone()
    } else {
        return Ok(None);
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| CopyError::Decode(format!("not UTF-8 text: {e}")))
}
