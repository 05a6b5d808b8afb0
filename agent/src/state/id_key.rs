//! The key of the tables' biggest maps: an id held inline.
//!
//! The tables are persistent maps: a write after a snapshot copies the tree nodes on its path,
//! keys included. With `String` keys every copy of a node allocated and freed a string per key,
//! and at a million allocations that copying was most of what applying a placement cost. Ids
//! are UUIDs (36 characters), so they fit in the key itself and a node copies as plain bytes.
//! A longer id (a node id chosen by hand, say) is shared behind an `Arc` instead.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// Ids up to this many bytes are held inline (a UUID is 36).
const INLINE: usize = 38;

#[derive(Clone)]
pub struct IdKey(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Arc<str>),
}

impl IdKey {
    pub fn new(id: &str) -> IdKey {
        if id.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..id.len()].copy_from_slice(id.as_bytes());
            IdKey(Repr::Inline {
                len: id.len() as u8,
                bytes,
            })
        } else {
            IdKey(Repr::Shared(Arc::from(id)))
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // SAFETY: the bytes were copied from a `&str` in `new`, whole (`len` is its length),
            // so they are valid UTF-8.
            Repr::Inline { len, bytes } => unsafe {
                std::str::from_utf8_unchecked(&bytes[..*len as usize])
            },
            Repr::Shared(s) => s,
        }
    }
}

impl From<&str> for IdKey {
    fn from(id: &str) -> IdKey {
        IdKey::new(id)
    }
}

impl From<&String> for IdKey {
    fn from(id: &String) -> IdKey {
        IdKey::new(id)
    }
}

impl From<String> for IdKey {
    fn from(id: String) -> IdKey {
        IdKey::new(&id)
    }
}

impl Deref for IdKey {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for IdKey {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

// Equality, order and hash are the string's, as `Borrow<str>` requires.
impl PartialEq for IdKey {
    fn eq(&self, other: &IdKey) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for IdKey {}

impl PartialOrd for IdKey {
    fn partial_cmp(&self, other: &IdKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IdKey {
    fn cmp(&self, other: &IdKey) -> Ordering {
        // Random ids differ in their first bytes: compare those as one integer before calling
        // memcmp. The zero padding orders a shorter id first where it is a prefix, as strings
        // order; an id with a NUL in its first eight bytes falls through to the full compare.
        if let (Repr::Inline { bytes: a, .. }, Repr::Inline { bytes: b, .. }) = (&self.0, &other.0)
        {
            let head = |x: &[u8; INLINE]| {
                u64::from_be_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]])
            };
            match head(a).cmp(&head(b)) {
                Ordering::Equal => {}
                decided => return decided,
            }
        }
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for IdKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}

impl fmt::Debug for IdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for IdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imbl::OrdMap;

    #[test]
    fn short_and_long_ids_read_back_and_order_as_their_strings() {
        let uuid = "0b6d0a5c-3c1e-4c59-9d3e-2f1f7d0c9a11";
        let long = "a-node-id-that-someone-chose-by-hand-and-made-long";
        let ids = [
            "",
            "b",
            uuid,
            long,
            "a",
            "a\0",
            "ab",
            "0b6d0a5c-3c1e",
            "0b6d0a5c-3c1f",
        ];
        let mut keys: Vec<IdKey> = ids.iter().map(|s| IdKey::from(*s)).collect();
        for (k, s) in keys.iter().zip(ids) {
            assert_eq!(k.as_str(), s);
        }
        keys.sort();
        let mut strings = ids.to_vec();
        strings.sort();
        assert_eq!(keys.iter().map(|k| k.as_str()).collect::<Vec<_>>(), strings);
        assert!(matches!(IdKey::from(uuid).0, Repr::Inline { .. }));
        assert!(matches!(IdKey::from(long).0, Repr::Shared(_)));
    }

    #[test]
    fn a_map_keyed_by_ids_is_read_with_plain_strings() {
        let mut m: OrdMap<IdKey, u32> = OrdMap::new();
        m.insert("x".into(), 1);
        m.insert(IdKey::from("a".repeat(60)), 2);
        assert_eq!(m.get("x"), Some(&1));
        assert_eq!(m.get("a".repeat(60).as_str()), Some(&2));
        assert_eq!(m.get("y"), None);
    }
}
