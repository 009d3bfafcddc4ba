//! How well a scheme packs text into 4-byte steps.

use crate::encoder::{pad_block, put_text, Counts, Cursor};
use crate::scheme::{with_codes, Scheme, BLOCK};
use crate::text::TextRef;

/// Counts for one text under one scheme (no special tokens).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Code points.
    pub chars: u64,
    /// Encoded bytes, filler and final padding included.
    pub bytes: u64,
    /// Filler bytes (block-rule filler plus final padding).
    pub filler: u64,
    /// Characters whose code crosses a 4-byte block boundary.
    pub straddling: u64,
}

impl From<Counts> for Stats {
    fn from(c: Counts) -> Self {
        Stats { chars: c.codes, bytes: c.bytes, filler: c.filler, straddling: c.straddling }
    }
}

impl Stats {
    /// Measures `text` as `scheme` encodes it (the encoder, counting only).
    pub fn measure(scheme: Scheme, text: TextRef<'_>) -> Stats {
        let mut c = Counts::default();
        let mut at = Cursor::at(0);
        with_codes!(scheme, |codes| put_text(codes, None, text, &mut at, &mut c));
        pad_block(&mut at, &mut c);
        Stats::from(c)
    }

    /// Adds another text's counts (texts encoded separately).
    pub fn merge(&mut self, other: &Stats) {
        self.chars += other.chars;
        self.bytes += other.bytes;
        self.filler += other.filler;
        self.straddling += other.straddling;
    }

    pub fn bytes_per_char(&self) -> f64 {
        ratio(self.bytes, self.chars)
    }

    /// Characters carried by one 4-byte model step.
    pub fn chars_per_step(&self) -> f64 {
        ratio(self.chars * BLOCK as u64, self.bytes)
    }

    pub fn straddling_share(&self) -> f64 {
        ratio(self.straddling, self.chars)
    }

    pub fn filler_share(&self) -> f64 {
        ratio(self.filler, self.bytes)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}
