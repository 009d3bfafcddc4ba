//! Strict and replace decoding of arbitrary bytes, both schemes.
//! Checks: replace never fails; a strict error points inside the input; when
//! strict succeeds, replace gives the same text, and re-encoding the text and
//! decoding it again is stable; jpblock replace decoding is block-local.
#![no_main]

use bygpt_codec_core::{Codec, DecodeOptions, EncodeOptions, ErrorMode, Scheme, TextRef};
use libfuzzer_sys::fuzz_target;

const STRICT: DecodeOptions = DecodeOptions { errors: ErrorMode::Strict, skip_special_tokens: false };
const REPLACE: DecodeOptions = DecodeOptions { errors: ErrorMode::Replace, skip_special_tokens: false };

fuzz_target!(|data: &[u8]| {
    for scheme in Scheme::ALL {
        let codec = Codec::new(scheme);
        let replaced = codec.decode_to_code_points(data, &REPLACE).expect("replace mode never fails");
        match codec.decode_to_code_points(data, &STRICT) {
            Ok(text) => {
                assert_eq!(text, replaced);
                let again = codec.encode(TextRef::Ucs4(&text), &EncodeOptions::default()).unwrap().0;
                assert_eq!(codec.decode_to_code_points(&again, &STRICT).unwrap(), text);
            }
            Err(e) => assert!((e.position as usize) < data.len(), "{e} for {data:02X?}"),
        }
        if scheme == Scheme::Jpblock {
            let blocks: Vec<u32> =
                data.chunks(4).flat_map(|b| codec.decode_to_code_points(b, &REPLACE).unwrap()).collect();
            assert_eq!(blocks, replaced);
        }
        let skipped = DecodeOptions { skip_special_tokens: true, ..REPLACE };
        codec.decode_to_code_points(data, &skipped).unwrap();
    }
});
