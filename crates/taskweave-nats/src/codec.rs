//! How messages become bytes on the wire: the [`Codec`] trait, [`Json`] and [`Postcard`].

use bytes::Bytes;

use crate::error::BoxError;

/// Turns messages of type `T` into bytes and back. Implement it for any format; the crate
/// ships [`Json`] (feature `json`, on by default) and [`Postcard`] (feature `postcard`).
///
/// A codec must be a pure function of the message: the bridge encodes once per message and
/// decodes once per received message, from any task.
pub trait Codec<T>: Send + Sync + 'static {
    /// Encodes `msg`.
    ///
    /// # Errors
    ///
    /// Whatever the format reports; the message is then counted as rejected, not sent.
    fn encode(&self, msg: &T) -> Result<Bytes, BoxError>;

    /// Decodes a message from `bytes`.
    ///
    /// # Errors
    ///
    /// Whatever the format reports; the message is then counted as undecodable.
    fn decode(&self, bytes: &[u8]) -> Result<T, BoxError>;
}

/// JSON through `serde_json`: readable on the wire (`nats sub` prints it), larger and slower
/// than [`Postcard`].
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

#[cfg(feature = "json")]
impl<T> Codec<T> for Json
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    fn encode(&self, msg: &T) -> Result<Bytes, BoxError> {
        Ok(serde_json::to_vec(msg)?.into())
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, BoxError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// A compact binary format through `postcard`: varints, no field names. Both sides must use
/// the same Rust type (field order matters).
#[cfg(feature = "postcard")]
#[cfg_attr(docsrs, doc(cfg(feature = "postcard")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

#[cfg(feature = "postcard")]
impl<T> Codec<T> for Postcard
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    fn encode(&self, msg: &T) -> Result<Bytes, BoxError> {
        Ok(postcard::to_stdvec(msg)?.into())
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, BoxError> {
        Ok(postcard::from_bytes(bytes)?)
    }
}
