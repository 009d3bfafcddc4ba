//! Strict and replace decoding of arbitrary bytes, both schemes.
//! Checks: replace never fails; a strict error points inside the input; when
//! strict succeeds, replace gives the same text, and re-encoding the text and
//! decoding it again is stable; table schemes' replace decoding is
//! block-local; the byte automaton accepts exactly what strict decoding does.
#![no_main]

use bygpt_codec_core::{byte_automaton, ByteAutomaton, Codec, DecodeOptions, EncodeOptions, ErrorMode, Scheme, TextRef};
use std::sync::OnceLock;
use libfuzzer_sys::fuzz_target;

const STRICT: DecodeOptions = DecodeOptions { errors: ErrorMode::Strict, skip_special_tokens: false };
const REPLACE: DecodeOptions = DecodeOptions { errors: ErrorMode::Replace, skip_special_tokens: false };

fn automaton(k: usize) -> &'static ByteAutomaton {
    static ALL: OnceLock<Vec<ByteAutomaton>> = OnceLock::new();
    &ALL.get_or_init(|| Scheme::ALL.iter().map(|&s| byte_automaton(&Codec::new(s))).collect())[k]
}

fuzz_target!(|data: &[u8]| {
    for (k, scheme) in Scheme::ALL.into_iter().enumerate() {
        let codec = Codec::new(scheme);
        let a = automaton(k);
        let accepted = a.run(a.start, data).is_some_and(|s| a.code_start[s as usize]);
        assert_eq!(accepted, codec.decode_to_code_points(data, &STRICT).is_ok(), "{scheme} {data:02X?}");
        let replaced = codec.decode_to_code_points(data, &REPLACE).expect("replace mode never fails");
        match codec.decode_to_code_points(data, &STRICT) {
            Ok(text) => {
                assert_eq!(text, replaced);
                let again = codec.encode(TextRef::Ucs4(&text), &EncodeOptions::default()).unwrap().0;
                assert_eq!(codec.decode_to_code_points(&again, &STRICT).unwrap(), text);
            }
            Err(e) => assert!((e.position as usize) < data.len(), "{e} for {data:02X?}"),
        }
        if scheme != Scheme::Utf8 {
            let blocks: Vec<u32> =
                data.chunks(4).flat_map(|b| codec.decode_to_code_points(b, &REPLACE).unwrap()).collect();
            assert_eq!(blocks, replaced);
        }
        let skipped = DecodeOptions { skip_special_tokens: true, ..REPLACE };
        codec.decode_to_code_points(data, &skipped).unwrap();
    }
});
