//! How well a scheme packs text into 4-byte steps.

use crate::encode::utf8_code;
use crate::jpblock;
use crate::scheme::{Scheme, BLOCK};
use crate::text::{with_code_points, TextRef};

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

impl Stats {
    /// Measures `text` as `scheme` encodes it, without building the output.
    pub fn measure(scheme: Scheme, text: TextRef<'_>) -> Stats {
        let mut s = Stats::default();
        let mut pos: u64 = 0;
        with_code_points!(text, |it| {
            for cp in it {
                let len = match scheme {
                    Scheme::Jpblock => jpblock::code_of(cp).1,
                    Scheme::Utf8 => utf8_code(cp).1,
                } as u64;
                let q = pos % BLOCK as u64;
                if q + len > BLOCK as u64 {
                    match scheme {
                        Scheme::Jpblock => {
                            s.filler += BLOCK as u64 - q;
                            pos += BLOCK as u64 - q;
                        }
                        Scheme::Utf8 => s.straddling += 1,
                    }
                }
                pos += len;
                s.chars += 1;
            }
        });
        let pad = (BLOCK as u64 - pos % BLOCK as u64) % BLOCK as u64;
        s.filler += pad;
        s.bytes = pos + pad;
        s
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
