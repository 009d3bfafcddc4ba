//! The incremental decoder fed arbitrary chunkings equals one-shot decoding,
//! for text and for errors (same offset), in every scheme and error mode, on
//! one thread and in parallel pieces.
#![no_main]

use arbitrary::Arbitrary;
use bygpt_codec_core::{Codec, DecodeOptions, ErrorMode, Scheme};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    scheme: u8,
    replace: bool,
    parallel: bool,
    cuts: Vec<u8>,
    data: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let scheme = Scheme::ALL[usize::from(input.scheme) % Scheme::ALL.len()];
    let errors = if input.replace { ErrorMode::Replace } else { ErrorMode::Strict };
    let opts = DecodeOptions { errors, skip_special_tokens: false };
    let codec = Codec::new(scheme);
    let expected = codec.decode_to_code_points(&input.data, &opts);
    // Small parallel pieces, so that short inputs are cut into several.
    let mut decoder = codec.decoder(opts).with_parallel_min(8);
    let parallel = input.parallel;
    let step = |d: &mut bygpt_codec_core::Decoder, chunk: &[u8], last: bool, got: &mut Vec<u32>| {
        if parallel {
            d.decode_parallel(chunk, last, got)
        } else {
            d.decode(chunk, last, got)
        }
    };
    let mut got = Vec::new();
    let mut rest = &input.data[..];
    let mut result = Ok(());
    for &cut in &input.cuts {
        let n = (cut as usize % 9).min(rest.len());
        result = step(&mut decoder, &rest[..n], false, &mut got);
        rest = &rest[n..];
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = step(&mut decoder, rest, true, &mut got);
    }
    match expected {
        Ok(text) => {
            assert!(result.is_ok());
            assert_eq!(got, text);
        }
        Err(e) => assert_eq!(result.unwrap_err(), e),
    }
});
