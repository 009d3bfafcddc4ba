//! Streams of arbitrary bytes fed in arbitrary chunks, with parallel pieces
//! small enough that short inputs are cut into several: the stream encoder
//! (strict and surrogateescape) equals one-shot encoding of the decoded
//! input, or fails at CPython's offset with the right line; statistics equal
//! the one-shot statistics.
#![no_main]

use arbitrary::Arbitrary;
use bygpt_codec_core::{Codec, EncodeOptions, InputErrors, Scheme, Stats, StreamEncoder, StreamStats, TextRef};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    scheme: u8,
    escape: bool,
    specials: bool,
    piece: u8,
    cuts: Vec<u8>,
    data: Vec<u8>,
}

fn chunks<'a>(data: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    for &c in cuts {
        let n = (usize::from(c) % 17).min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out.push(rest);
    out
}

fuzz_target!(|input: Input| {
    let scheme = Scheme::ALL[usize::from(input.scheme) % Scheme::ALL.len()];
    let errors = if input.escape { InputErrors::SurrogateEscape } else { InputErrors::Strict };
    let piece = 4 + usize::from(input.piece % 60);
    let parts = chunks(&input.data, &input.cuts);
    // What CPython's decode gives: the text, or where it fails.
    let mut cps = Vec::new();
    for chunk in input.data.utf8_chunks() {
        cps.extend(chunk.valid().chars().map(u32::from));
        cps.extend(chunk.invalid().iter().map(|&b| 0xDC00 + u32::from(b)));
    }
    let strict_error = std::str::from_utf8(&input.data).err().map(|e| e.valid_up_to());
    let mut enc = StreamEncoder::new(scheme, errors, input.specials).with_parallel_min(piece);
    let mut out = Vec::new();
    let mut result = Ok(());
    for (k, part) in parts.iter().enumerate() {
        result = enc.encode(part, k + 1 == parts.len(), &mut out);
        if result.is_err() {
            break;
        }
    }
    match (result, strict_error, errors) {
        (Err(e), Some(at), InputErrors::Strict) => {
            assert_eq!(e.offset, at as u64);
            assert_eq!(e.line, input.data[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1);
            return;
        }
        (Ok(()), _, InputErrors::SurrogateEscape) | (Ok(()), None, InputErrors::Strict) => {}
        (r, s, _) => panic!("{:?} vs {s:?}", r.err()),
    }
    let opts = EncodeOptions { bos: input.specials, eos: input.specials, ..Default::default() };
    let codec = Codec::new(scheme);
    assert_eq!(out.concat(), codec.encode(TextRef::Ucs4(&cps), &opts).unwrap().0);
    let mut stats = StreamStats::new(&[scheme], errors).with_parallel_min(piece);
    for (k, part) in parts.iter().enumerate() {
        stats.feed(part, k + 1 == parts.len()).unwrap();
    }
    assert_eq!(stats.finish(), vec![(scheme, Stats::measure(scheme, TextRef::Ucs4(&cps)))]);
});
