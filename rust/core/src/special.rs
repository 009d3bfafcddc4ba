//! Special tokens: named 4-byte blocks `0xFE id2 id1 id0`.

use std::fmt;

use crate::scheme::SPECIAL_LEAD;

pub const BOS: &str = "<|bos|>";
pub const EOS: &str = "<|eos|>";
pub const MASK: &str = "<|mask|>";
pub const BOS_ID: u32 = 1;
pub const EOS_ID: u32 = 2;
pub const MASK_ID: u32 = 3;
/// Ids below this are reserved for tokens the spec names.
pub const FIRST_USER_ID: u32 = 256;
/// Ids are 24-bit.
pub const MAX_ID: u32 = 0xFF_FFFF;

const NAMED: [(&str, u32); 3] = [(BOS, BOS_ID), (EOS, EOS_ID), (MASK, MASK_ID)];

/// Why a set of extra special tokens was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecialTokenError {
    EmptyName,
    DuplicateName(String),
    DuplicateId(u32),
    IdOutOfRange { name: String, id: u32 },
}

impl fmt::Display for SpecialTokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyName => write!(f, "special token names must not be empty"),
            Self::DuplicateName(n) => write!(f, "special token name {n:?} is given twice"),
            Self::DuplicateId(id) => write!(f, "special token id {id} is given twice"),
            Self::IdOutOfRange { name, id } => write!(
                f,
                "special token {name:?} has id {id}; extra ids must be in {FIRST_USER_ID}..={MAX_ID}"
            ),
        }
    }
}

impl std::error::Error for SpecialTokenError {}

/// The registry of special tokens a codec knows: the three named ones plus extras.
#[derive(Clone, Debug)]
pub struct SpecialTokens {
    /// (name, id), sorted by id.
    by_id: Vec<(String, u32)>,
    /// Names as code points, longest first, so parsing prefers the longest match.
    by_length: Vec<(Vec<u32>, u32)>,
    /// First code point of every name: the cheap test the encoder makes per character.
    first_chars: Vec<u32>,
}

impl Default for SpecialTokens {
    fn default() -> Self {
        Self::new(Vec::new()).expect("the named tokens are valid")
    }
}

impl SpecialTokens {
    /// The named tokens plus `extra` (name, id) pairs with ids from 256 up.
    pub fn new(extra: Vec<(String, u32)>) -> Result<Self, SpecialTokenError> {
        let mut by_id: Vec<(String, u32)> = NAMED.iter().map(|&(n, i)| (n.to_string(), i)).collect();
        for (name, id) in extra {
            if name.is_empty() {
                return Err(SpecialTokenError::EmptyName);
            }
            if !(FIRST_USER_ID..=MAX_ID).contains(&id) {
                return Err(SpecialTokenError::IdOutOfRange { name, id });
            }
            if by_id.iter().any(|(n, _)| *n == name) {
                return Err(SpecialTokenError::DuplicateName(name));
            }
            if by_id.iter().any(|&(_, i)| i == id) {
                return Err(SpecialTokenError::DuplicateId(id));
            }
            by_id.push((name, id));
        }
        by_id.sort_by_key(|&(_, id)| id);
        let mut by_length: Vec<(Vec<u32>, u32)> =
            by_id.iter().map(|(n, id)| (n.chars().map(u32::from).collect(), *id)).collect();
        by_length.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        let mut first_chars: Vec<u32> = by_length.iter().map(|(n, _)| n[0]).collect();
        first_chars.sort_unstable();
        first_chars.dedup();
        Ok(Self { by_id, by_length, first_chars })
    }

    /// The id of the token called `name`.
    pub fn id(&self, name: &str) -> Option<u32> {
        self.by_id.iter().find(|(n, _)| n == name).map(|&(_, id)| id)
    }

    /// The name of the token with this id.
    pub fn name(&self, id: u32) -> Option<&str> {
        self.by_id.binary_search_by_key(&id, |&(_, i)| i).ok().map(|k| self.by_id[k].0.as_str())
    }

    /// Every (name, id), sorted by id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.by_id.iter().map(|(n, id)| (n.as_str(), *id))
    }

    /// Only the tokens registered beyond the named ones.
    pub fn extras(&self) -> impl Iterator<Item = (&str, u32)> {
        self.iter().filter(|&(_, id)| id >= FIRST_USER_ID)
    }

    /// The 4-byte block of a special id.
    pub fn block(id: u32) -> [u8; 4] {
        [SPECIAL_LEAD, (id >> 16) as u8, (id >> 8) as u8, id as u8]
    }

    /// Could a special name start with this code point?
    #[inline]
    pub(crate) fn may_start(&self, cp: u32) -> bool {
        self.first_chars.binary_search(&cp).is_ok()
    }

    /// The longest name that `rest` starts with: (id, length in code points).
    pub(crate) fn match_at<I: Iterator<Item = u32> + Clone>(&self, rest: I) -> Option<(u32, usize)> {
        self.by_length.iter().find_map(|(name, id)| {
            let mut it = rest.clone();
            name.iter().all(|&c| it.next() == Some(c)).then_some((*id, name.len()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_tokens() {
        let s = SpecialTokens::default();
        assert_eq!(s.id("<|bos|>"), Some(1));
        assert_eq!(s.name(2), Some("<|eos|>"));
        assert_eq!(s.name(0), None);
        assert_eq!(SpecialTokens::block(1), [0xFE, 0, 0, 1]);
    }

    #[test]
    fn extras_are_checked() {
        let ok = SpecialTokens::new(vec![("<|user|>".into(), 256), ("<|u|>".into(), 0xFF_FFFF)]).unwrap();
        assert_eq!(ok.id("<|user|>"), Some(256));
        assert_eq!(ok.extras().count(), 2);
        let bad = |v: Vec<(&str, u32)>| {
            SpecialTokens::new(v.into_iter().map(|(n, i)| (n.to_string(), i)).collect())
        };
        assert_eq!(bad(vec![("", 300)]).unwrap_err(), SpecialTokenError::EmptyName);
        assert!(matches!(bad(vec![("<|x|>", 4)]), Err(SpecialTokenError::IdOutOfRange { .. })));
        assert!(matches!(bad(vec![("<|x|>", 1 << 24)]), Err(SpecialTokenError::IdOutOfRange { .. })));
        assert!(matches!(bad(vec![("<|bos|>", 300)]), Err(SpecialTokenError::DuplicateName(_))));
        assert!(matches!(bad(vec![("a", 300), ("b", 300)]), Err(SpecialTokenError::DuplicateId(300))));
    }

    #[test]
    fn longest_match_wins() {
        let s = SpecialTokens::new(vec![("<|bos|>x".into(), 300)]).unwrap();
        let text: Vec<u32> = "<|bos|>xy".chars().map(u32::from).collect();
        assert_eq!(s.match_at(text.iter().copied()), Some((300, 8)));
        let text: Vec<u32> = "<|bos|y".chars().map(u32::from).collect();
        assert_eq!(s.match_at(text.iter().copied()), None);
    }
}
