//! The incremental decoder fed arbitrary chunkings equals one-shot decoding,
//! for text and for errors (same offset), in both schemes and error modes.
#![no_main]

use arbitrary::Arbitrary;
use bygpt_codec_core::{Codec, DecodeOptions, ErrorMode, Scheme};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    jpblock: bool,
    replace: bool,
    cuts: Vec<u8>,
    data: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let scheme = if input.jpblock { Scheme::Jpblock } else { Scheme::Utf8 };
    let errors = if input.replace { ErrorMode::Replace } else { ErrorMode::Strict };
    let opts = DecodeOptions { errors, skip_special_tokens: false };
    let codec = Codec::new(scheme);
    let expected = codec.decode_to_code_points(&input.data, &opts);
    let mut decoder = codec.incremental_decoder(opts);
    let mut got = Vec::new();
    let mut rest = &input.data[..];
    let mut result = Ok(());
    for &cut in &input.cuts {
        let n = (cut as usize % 9).min(rest.len());
        result = decoder.decode(&rest[..n], false, &mut got);
        rest = &rest[n..];
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = decoder.decode(rest, true, &mut got);
    }
    match expected {
        Ok(text) => {
            assert!(result.is_ok());
            assert_eq!(got, text);
        }
        Err(e) => assert_eq!(result.unwrap_err(), e),
    }
});
