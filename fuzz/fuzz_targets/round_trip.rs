//! Encoding arbitrary code-point sequences (lone surrogates included), in every
//! storage layout, with and without special-token parsing: the output is whole
//! blocks, no jpblock code crosses a block, and decoding gives the text back.
#![no_main]

use arbitrary::Arbitrary;
use bygpt_codec_core::{code_len, Codec, DecodeOptions, EncodeOptions, Scheme, Stats, TextRef};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    scheme: u8,
    parse_special: bool,
    add_special_tokens: bool,
    code_points: Vec<u32>,
}

fuzz_target!(|input: Input| {
    let scheme = Scheme::ALL[usize::from(input.scheme) % Scheme::ALL.len()];
    let codec = Codec::new(scheme);
    let cps: Vec<u32> = input.code_points.iter().map(|&c| c % 0x11_0000).collect();
    let opts = EncodeOptions {
        parse_special: input.parse_special,
        bos: input.add_special_tokens,
        eos: input.add_special_tokens,
        ..Default::default()
    };
    let (bytes, truncated) = codec.encode(TextRef::Ucs4(&cps), &opts).unwrap();
    assert!(!truncated);
    assert_eq!(bytes.len() % 4, 0);
    if scheme != Scheme::Utf8 {
        let mut i = 0;
        while i < bytes.len() {
            let len = code_len(bytes[i]);
            assert!(i % 4 + len <= 4);
            i += len;
        }
    }
    let decoded = codec.decode_to_code_points(&bytes, &DecodeOptions::default()).unwrap();
    let mut expected = Vec::new();
    if input.add_special_tokens {
        expected.extend("<|bos|>".chars().map(u32::from));
    }
    expected.extend(&cps);
    if input.add_special_tokens {
        expected.extend("<|eos|>".chars().map(u32::from));
    }
    assert_eq!(decoded, expected);
    // The other layouts of the same text encode identically.
    if cps.iter().all(|&c| c < 0x1_0000) {
        let ucs2: Vec<u16> = cps.iter().map(|&c| c as u16).collect();
        assert_eq!(codec.encode(TextRef::Ucs2(&ucs2), &opts).unwrap().0, bytes);
    }
    if !input.parse_special && !input.add_special_tokens {
        assert_eq!(Stats::measure(scheme, TextRef::Ucs4(&cps)).bytes as usize, bytes.len());
    }
});
