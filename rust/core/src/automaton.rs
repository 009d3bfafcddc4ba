//! The set of valid encoded byte streams of a codec as a finite automaton over
//! bytes, for generation: a model that writes bytes one head at a time can be
//! restricted to bytes that keep the stream decodable (exact greedy or
//! sampling over whole blocks is a dynamic program over these states).
//!
//! The automaton is not written by hand: it is explored from the codec's own
//! strict decoder, so it accepts exactly what `decode` accepts and cannot
//! drift from the format. A state is "block offset + the bytes of the
//! unfinished code"; a transition asks the decoder whether one more byte is
//! an error, completes a code, or leaves it unfinished. States from which no
//! code can be completed are removed, and equivalent states are merged
//! (Moore's algorithm), which leaves a few hundred states.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::codec::Codec;
use crate::decode::{decode_chunk, DecodeOptions, Rules, Sink, Span};
use crate::scheme::BLOCK;

/// No transition: the byte makes the stream invalid.
pub const DEAD: u32 = u32::MAX;

/// A deterministic automaton over bytes that accepts the valid encoded streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ByteAutomaton {
    /// `next[state * 256 + byte]`: the state after `byte`, or [`DEAD`].
    pub next: Vec<u32>,
    /// The state at the start of a stream.
    pub start: u32,
    /// Per state: no code is unfinished here, so a character (or special
    /// block, or filler) starts at the next byte.
    pub code_start: Vec<bool>,
    /// Per state: the offset of the next byte within its 4-byte block.
    pub offset: Vec<u8>,
}

impl ByteAutomaton {
    pub fn num_states(&self) -> usize {
        self.code_start.len()
    }

    /// The state after `bytes` from `state`, or `None` if they are invalid there.
    pub fn run(&self, mut state: u32, bytes: &[u8]) -> Option<u32> {
        for &b in bytes {
            state = self.next[state as usize * 256 + usize::from(b)];
            if state == DEAD {
                return None;
            }
        }
        Some(state)
    }
}

/// A sink that only notices whether anything was decoded.
struct Nothing;

impl Sink for Nothing {
    fn push(&mut self, _cp: u32) {}
}

/// Raw state before minimisation: offset of the pending code's first byte, and its bytes.
type Key = (u8, Vec<u8>);

/// Explores the automaton of `codec` from its decoder (see the module docs).
pub fn byte_automaton(codec: &Codec) -> ByteAutomaton {
    let strict = DecodeOptions::default();
    let rules = Rules { specials: codec.special_tokens(), opts: &strict };
    let mut keys: Vec<Key> = Vec::new();
    let mut ids: HashMap<Key, usize> = HashMap::new();
    let mut edges: Vec<Vec<Option<usize>>> = Vec::new();
    let mut intern = |key: Key, keys: &mut Vec<Key>| -> usize {
        *ids.entry(key.clone()).or_insert_with(|| {
            keys.push(key);
            keys.len() - 1
        })
    };
    for q in 0..BLOCK as u8 {
        intern((q, Vec::new()), &mut keys);
    }
    let mut at = 0;
    while at < keys.len() {
        let (q, pending) = keys[at].clone();
        let mut row = vec![None; 256];
        for b in 0..=255u8 {
            let mut data = pending.clone();
            data.push(b);
            // The decoder sees the pending bytes at their real block offset.
            let base = u64::from(q);
            match decode_chunk(codec.scheme(), rules, Span { data: &data, base, last: false }, &mut Nothing) {
                Err(_) => {}
                Ok(stop) if stop == data.len() => {
                    let next_q = ((usize::from(q) + data.len()) % BLOCK) as u8;
                    row[usize::from(b)] = Some(intern((next_q, Vec::new()), &mut keys));
                }
                // Unfinished: everything before `stop` would be whole codes,
                // but `data` holds at most one code, so stop is 0.
                Ok(stop) => {
                    debug_assert_eq!(stop, 0);
                    row[usize::from(b)] = Some(intern((q, data), &mut keys));
                }
            }
        }
        edges.push(row);
        at += 1;
    }
    let code_start: Vec<bool> = keys.iter().map(|(_, p)| p.is_empty()).collect();
    let offset: Vec<u8> = keys.iter().map(|(q, p)| ((usize::from(*q) + p.len()) % BLOCK) as u8).collect();
    let live = live_states(&edges, &code_start);
    minimise(&edges, &live, &code_start, &offset)
}

/// States from which a code boundary can be reached (the others can never
/// finish their code: e.g. a 4-byte code whose value is already too large).
fn live_states(edges: &[Vec<Option<usize>>], code_start: &[bool]) -> Vec<bool> {
    let mut live = code_start.to_vec();
    loop {
        let mut changed = false;
        for (s, row) in edges.iter().enumerate() {
            if !live[s] && row.iter().flatten().any(|&t| live[t]) {
                live[s] = true;
                changed = true;
            }
        }
        if !changed {
            return live;
        }
    }
}

/// Merges equivalent live states (Moore's partition refinement); state 0 of
/// the raw automaton (offset 0, nothing pending) becomes the start.
fn minimise(
    edges: &[Vec<Option<usize>>],
    live: &[bool],
    code_start: &[bool],
    offset: &[u8],
) -> ByteAutomaton {
    let n = edges.len();
    let target = |s: usize, b: usize| edges[s][b].filter(|&t| live[t]);
    // Initial classes: what a state reports (boundary, offset).
    let mut class: Vec<usize> =
        (0..n).map(|s| usize::from(code_start[s]) * BLOCK + usize::from(offset[s])).collect();
    let mut count = 0;
    loop {
        let mut sigs: HashMap<(usize, Vec<usize>), usize> = HashMap::new();
        let mut next_class = vec![usize::MAX; n];
        for s in (0..n).filter(|&s| live[s]) {
            let sig: Vec<usize> = (0..256).map(|b| target(s, b).map_or(usize::MAX, |t| class[t])).collect();
            let k = sigs.len();
            next_class[s] = *sigs.entry((class[s], sig)).or_insert(k);
        }
        let new_count = sigs.len();
        class = next_class;
        if new_count == count {
            break;
        }
        count = new_count;
    }
    // Number classes in order of first appearance from the start, so the
    // result does not depend on hash order.
    let mut number: HashMap<usize, u32> = HashMap::new();
    let mut order: Vec<usize> = Vec::new();
    let mut queue = vec![0usize];
    number.insert(class[0], 0);
    order.push(0);
    let mut head = 0;
    while head < queue.len() {
        let s = queue[head];
        head += 1;
        for b in 0..256 {
            if let Some(t) = target(s, b) {
                if let Entry::Vacant(e) = number.entry(class[t]) {
                    e.insert(order.len() as u32);
                    order.push(t);
                    queue.push(t);
                }
            }
        }
    }
    let states = order.len();
    let mut next = vec![DEAD; states * 256];
    for (k, &s) in order.iter().enumerate() {
        for b in 0..256 {
            if let Some(t) = target(s, b) {
                next[k * 256 + b] = number[&class[t]];
            }
        }
    }
    ByteAutomaton {
        next,
        start: 0,
        code_start: order.iter().map(|&s| code_start[s]).collect(),
        offset: order.iter().map(|&s| offset[s]).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EncodeOptions, Scheme, TextRef};

    fn accepts(a: &ByteAutomaton, bytes: &[u8]) -> bool {
        a.run(a.start, bytes).is_some_and(|s| a.code_start[s as usize])
    }

    #[test]
    fn small_and_agrees_with_the_decoder() {
        for scheme in Scheme::ALL {
            let codec = Codec::new(scheme);
            let a = byte_automaton(&codec);
            assert!(a.num_states() < 1000, "{scheme}: {} states", a.num_states());
            let text = "吾輩は猫である。abc 한국어 😀é<|mask|>";
            let opts = EncodeOptions { parse_special: true, ..EncodeOptions::with_special_tokens() };
            let enc = codec.encode(TextRef::Str(text), &opts).unwrap().0;
            assert!(accepts(&a, &enc));
            // Every 2-byte prefix at every offset: the automaton and strict
            // decoding agree on complete streams.
            for q in 0..4usize {
                for x in 0..=255u8 {
                    for y in 0..=255u8 {
                        let mut data = vec![b'a'; q];
                        data.extend([x, y]);
                        let ok = codec.decode_to_code_points(&data, &DecodeOptions::default()).is_ok();
                        assert_eq!(accepts(&a, &data), ok, "{scheme} {data:02X?}");
                    }
                }
            }
        }
    }
}
