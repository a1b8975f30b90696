//! DUMP payloads (`createDumpPayload` / `verifyDumpPayload`): the value in RDB encoding
//! (type byte first), then the RDB version (2 bytes, little endian), then the CRC64 of all
//! that (8 bytes, little endian).

use keyspace::types::Limits;
use keyspace::Value;

use crate::crc64::crc64;
use crate::rdb::{self, RdbError, Version};

/// Highest RDB version whose payloads RESTORE accepts (Redis 7.4's).
pub const MAX_VERSION: u16 = 12;

/// The payload DUMP returns for `v` (hash fields expired at `now_ms` left out; a hash
/// whose fields have TTLs keeps them, in a version 12 payload as Redis 7.4 writes it).
pub fn dump(v: &Value, version: Version, now_ms: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    let number = match rdb::write_volatile_hash(&mut buf, v, true, now_ms) {
        Some(true) => MAX_VERSION,
        Some(false) => version.number(),
        None => {
            rdb::write_value(&mut buf, v, true, version);
            version.number()
        }
    };
    buf.extend_from_slice(&number.to_le_bytes());
    let crc = crc64(0, &buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf
}

/// Why a payload was refused.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadError {
    /// Too short, a version above [`MAX_VERSION`], or a checksum mismatch.
    VersionOrChecksum,
    /// The value inside does not parse.
    BadFormat(RdbError),
}

/// Checks the footer (`verifyDumpPayload`) and decodes the value.
pub fn restore(
    payload: &[u8],
    limits: &Limits,
    verify_checksum: bool,
) -> Result<Value, PayloadError> {
    if payload.len() < 10 {
        return Err(PayloadError::VersionOrChecksum);
    }
    let footer = &payload[payload.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > MAX_VERSION {
        return Err(PayloadError::VersionOrChecksum);
    }
    if verify_checksum {
        let crc = crc64(0, &payload[..payload.len() - 8]);
        if crc.to_le_bytes() != footer[2..] {
            return Err(PayloadError::VersionOrChecksum);
        }
    }
    rdb::load_value(&payload[..payload.len() - 10], limits).map_err(PayloadError::BadFormat)
}
