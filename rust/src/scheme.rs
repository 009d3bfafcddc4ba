//! The two schemes and the framing constants they share.

use std::fmt;

/// Bytes per block: the model merges each block into one position.
pub const BLOCK: usize = 4;
/// Filler byte: carries nothing; decoders skip it wherever a code may start.
pub const FILLER: u8 = 0xFF;
/// First byte of a 4-byte special-token block.
pub const SPECIAL_LEAD: u8 = 0xFE;

/// How characters become bytes. Both schemes share the filler and special-block framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Japanese-friendly codes of 1-4 bytes that never cross a 4-byte block.
    Jpblock,
    /// Plain UTF-8 (lone surrogates as CPython's `surrogatepass` writes them).
    Utf8,
}

impl Scheme {
    /// Every scheme, in the order the Python API lists them.
    pub const ALL: [Scheme; 2] = [Scheme::Jpblock, Scheme::Utf8];

    /// The scheme's name as used by the Python API and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Jpblock => "jpblock",
            Scheme::Utf8 => "utf8",
        }
    }

    /// The scheme with this name, if any.
    pub fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
