//! The set of valid encoded byte streams of a codec as a finite automaton over
//! bytes, for generation: a model that writes bytes one head at a time can be
//! restricted to bytes that keep the stream decodable (exact greedy or
//! sampling over whole blocks is a dynamic program over these states).
//!
//! The automaton is not written by hand: it is explored from the codec's own
//! strict decoder, so it accepts exactly what `decode` accepts and cannot
//! drift from the format. A state is "block offset + the bytes of the
//! unfinished code"; a transition asks the decoder whether one more byte is
//! an error, completes a code, or leaves it unfinished. Unfinished codes are
//! explored depth first and hash-consed (two whose every next byte leads to
//! the same place are one state; one from which no code can be finished is
//! none), then the rest is merged by Moore's algorithm: a few hundred states.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::codec::Codec;
use crate::decode::{decode_chunk, DecodeOptions, Rules, Sink, Span};
use crate::scheme::{Scheme, BLOCK};

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

/// A sink that keeps nothing: only the decoder's verdict matters.
struct Nothing;

impl Sink for Nothing {
    fn push(&mut self, _cp: u32) {}
}

/// A transition while exploring: no state, a code boundary at block offset
/// `q` (`ROOT + q`), or an explored state of an unfinished code.
const NONE: u32 = u32::MAX;
const ROOT: u32 = u32::MAX - BLOCK as u32;

/// Explores the automaton of `codec` from its decoder (see the module docs),
/// once per scheme and set of special tokens in a process (it takes a
/// moment: the decoder is asked about every byte after every unfinished code).
pub fn byte_automaton(codec: &Codec) -> ByteAutomaton {
    type Cache = Mutex<HashMap<(Scheme, Vec<(String, u32)>), ByteAutomaton>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = (codec.scheme(), codec.special_tokens().iter().map(|(n, i)| (n.to_string(), i)).collect());
    let cache = CACHE.get_or_init(Default::default);
    if let Some(a) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return a.clone();
    }
    let a = explore(codec);
    cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, a.clone());
    a
}

/// The rows of explored states, hash-consed: two unfinished codes whose
/// every next byte leads to the same place are one state.
#[derive(Default)]
struct Rows {
    rows: Vec<[u32; 256]>,
    ids: HashMap<[u32; 256], u32>,
}

impl Rows {
    fn intern(&mut self, row: [u32; 256]) -> u32 {
        if row.iter().all(|&t| t == NONE) {
            return NONE; // no code can be finished from here
        }
        *self.ids.entry(row).or_insert_with(|| {
            self.rows.push(row);
            (self.rows.len() - 1) as u32
        })
    }
}

/// The row of the state after `pending` (the start of a code at block offset
/// `q`, at most 3 bytes): each next byte is an error, finishes the code, or
/// leaves it unfinished (explored depth first, children before parents).
fn explore_state(codec: &Codec, rules: Rules<'_>, q: usize, pending: &[u8], rows: &mut Rows) -> [u32; 256] {
    let mut row = [NONE; 256];
    let mut data = [0u8; BLOCK];
    data[..pending.len()].copy_from_slice(pending);
    let len = pending.len() + 1;
    for b in 0..=255u8 {
        data[len - 1] = b;
        let span = Span { data: &data[..len], base: q as u64, last: false };
        row[usize::from(b)] = match decode_chunk(codec.scheme(), rules, span, &mut Nothing) {
            Err(_) => NONE,
            Ok(stop) if stop == len => ROOT + ((q + len) % BLOCK) as u32,
            // Unfinished: `data` holds at most one code, so nothing was decoded.
            Ok(_) if len < BLOCK => {
                let child = explore_state(codec, rules, q, &data[..len], rows);
                rows.intern(child)
            }
            Ok(_) => NONE, // no code is longer than a block
        };
    }
    row
}

fn explore(codec: &Codec) -> ByteAutomaton {
    let strict = DecodeOptions::default();
    let rules = Rules { specials: codec.special_tokens(), opts: &strict };
    let mut rows = Rows::default();
    // The 4 code boundaries, one per block offset, are states 0..4 of the
    // raw automaton; the unfinished codes follow.
    let roots: Vec<[u32; 256]> = (0..BLOCK).map(|q| explore_state(codec, rules, q, &[], &mut rows)).collect();
    let first = BLOCK as u32;
    let resolve = |t: u32| match t {
        NONE => NONE,
        t if t >= ROOT => t - ROOT,
        t => t + first,
    };
    let mut edges: Vec<[u32; 256]> = roots.iter().chain(&rows.rows).map(|r| r.map(resolve)).collect();
    let mut code_start = vec![true; BLOCK];
    code_start.resize(edges.len(), false);
    // Offsets of unfinished codes: the pending bytes are all in one block,
    // so the next byte's offset follows from any path; found by a walk.
    let mut offset = vec![u8::MAX; edges.len()];
    for (q, o) in offset.iter_mut().take(BLOCK).enumerate() {
        *o = q as u8;
    }
    let mut stack: Vec<usize> = (0..BLOCK).collect();
    while let Some(s) = stack.pop() {
        for &t in edges[s].iter().filter(|&&t| t != NONE) {
            if offset[t as usize] == u8::MAX {
                offset[t as usize] = ((usize::from(offset[s]) + 1) % BLOCK) as u8;
                stack.push(t as usize);
            }
        }
    }
    for row in &mut edges {
        for t in row.iter_mut() {
            if *t == NONE {
                *t = DEAD;
            }
        }
    }
    minimise(&edges, &code_start, &offset)
}

/// Merges equivalent states (Moore's partition refinement, on the few
/// hundred states left after hash-consing); the code boundary at offset 0
/// becomes the start, and states are numbered in order of first appearance
/// from it, so the result does not depend on hash order.
fn minimise(edges: &[[u32; 256]], code_start: &[bool], offset: &[u8]) -> ByteAutomaton {
    let n = edges.len();
    let target = |s: usize, b: usize| Some(edges[s][b]).filter(|&t| t != DEAD).map(|t| t as usize);
    // Initial classes: what a state reports (boundary, offset).
    let mut class: Vec<usize> =
        (0..n).map(|s| usize::from(code_start[s]) * BLOCK + usize::from(offset[s])).collect();
    let mut count = 0;
    loop {
        let mut sigs: HashMap<(usize, Vec<usize>), usize> = HashMap::new();
        let mut next_class = vec![usize::MAX; n];
        for s in 0..n {
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
