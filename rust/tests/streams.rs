//! Streaming encode, decode and statistics against one-shot results, with
//! random text, random chunk sizes and pieces small enough that every chunk
//! is cut into many parallel pieces.

use bygpt_codec_core::{
    Codec, DecodeOptions, EncodeOptions, ErrorMode, InputErrors, Scheme, Stats, StreamDecoder, StreamEncoder,
    StreamStats, SurrogateOutput, TextRef,
};
use proptest::prelude::*;

/// Feeds `data` in chunks of the given sizes (cycled), as the CLI driver does.
fn feed<E>(
    data: &[u8],
    sizes: &[usize],
    mut step: impl FnMut(&[u8], bool, &mut Vec<Vec<u8>>) -> Result<usize, E>,
) -> Result<Vec<u8>, E> {
    let mut out = Vec::new();
    let mut pending = Vec::new();
    let mut at = 0;
    let mut k = 0;
    loop {
        let n = sizes[k % sizes.len()].max(1);
        k += 1;
        let end = (at + n).min(data.len());
        pending.extend_from_slice(&data[at..end]);
        at = end;
        let last = at == data.len();
        let took = step(&pending, last, &mut out)?;
        pending.drain(..took);
        if last {
            return Ok(out.concat());
        }
    }
}

/// CPython's `data.decode("utf-8", "surrogateescape")`, as code points.
fn escaped(data: &[u8]) -> Vec<u32> {
    let mut cps = Vec::new();
    for chunk in data.utf8_chunks() {
        cps.extend(chunk.valid().chars().map(u32::from));
        cps.extend(chunk.invalid().iter().map(|&b| 0xDC00 + u32::from(b)));
    }
    cps
}

fn text_strategy() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "a", "b ", "\n", "あ", "い", "ア", "漢", "字", "。", "한", "😀", "é", "ü", "<|bos|>", "abc", "xyz\n",
    ]);
    prop::collection::vec(pieces, 0..400).prop_map(|v| v.concat())
}

fn bytes_strategy() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"ab \n".to_vec()),
        2 => prop::sample::select(vec![0xE3u8, 0x81, 0x82, 0xED, 0xB2, 0x80, 0xF0, 0x9F]),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..300)
}

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..64, 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn encode_stream_equals_one_shot(text in text_strategy(), sizes in sizes(), specials: bool, piece in 4usize..40) {
        for scheme in Scheme::ALL {
            let opts = EncodeOptions { add_special_tokens: specials, ..Default::default() };
            let want = Codec::new(scheme).encode(TextRef::Str(&text), &opts).unwrap().0;
            let mut enc = StreamEncoder::new(scheme, InputErrors::Strict, specials).with_parallel_min(piece);
            let got = feed(text.as_bytes(), &sizes, |d, l, o| enc.encode(d, l, o)).unwrap();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn escaped_bytes_round_trip(data in bytes_strategy(), sizes in sizes(), piece in 4usize..40) {
        let cps = escaped(&data);
        for scheme in Scheme::ALL {
            let codec = Codec::new(scheme);
            let want = codec.encode(TextRef::Ucs4(&cps), &EncodeOptions::default()).unwrap().0;
            let mut enc = StreamEncoder::new(scheme, InputErrors::SurrogateEscape, false).with_parallel_min(piece);
            let encoded = feed(&data, &sizes, |d, l, o| enc.encode(d, l, o)).unwrap();
            prop_assert_eq!(&encoded, &want);
            let opts = DecodeOptions::default();
            let mut dec = StreamDecoder::new(codec, opts, SurrogateOutput::SurrogateEscape).with_parallel_min(piece);
            let back = feed(&encoded, &sizes, |d, l, o| dec.decode(d, l, o)).unwrap();
            prop_assert_eq!(back, data.clone());
            // Strict mode fails exactly where the input stops being UTF-8.
            let mut enc = StreamEncoder::new(scheme, InputErrors::Strict, false).with_parallel_min(piece);
            match (feed(&data, &sizes, |d, l, o| enc.encode(d, l, o)), std::str::from_utf8(&data)) {
                (Ok(_), Ok(_)) => {}
                (Err(e), Err(want)) => prop_assert_eq!(e.offset, want.valid_up_to() as u64),
                (got, want) => prop_assert!(false, "{:?} vs {:?}", got.err(), want.err()),
            }
        }
    }

    #[test]
    fn decode_stream_equals_one_shot(text in text_strategy(), noise in bytes_strategy(), sizes in sizes(), piece in 4usize..40) {
        for scheme in Scheme::ALL {
            let codec = Codec::new(scheme);
            let opts = EncodeOptions { parse_special: true, ..Default::default() };
            let mut data = codec.encode(TextRef::Str(&text), &opts).unwrap().0;
            // Splice noise in at a spot that depends on the text.
            let at = if data.is_empty() { 0 } else { noise.len() * 7 % data.len() };
            data.splice(at..at, noise.iter().copied());
            for (mode, out_mode) in [(ErrorMode::Replace, SurrogateOutput::Replace), (ErrorMode::Strict, SurrogateOutput::Replace)] {
                for skip in [false, true] {
                    let opts = DecodeOptions { errors: mode, skip_special_tokens: skip };
                    let want = codec.decode_to_string(&data, &opts);
                    let mut dec = StreamDecoder::new(codec.clone(), opts, out_mode).with_parallel_min(piece);
                    let got = feed(&data, &sizes, |d, l, o| dec.decode(d, l, o));
                    match (got, want) {
                        (Ok(g), Ok(w)) => prop_assert_eq!(String::from_utf8(g).unwrap(), w),
                        (Err(bygpt_codec_core::StreamDecodeError::Data(g)), Err(w)) => prop_assert_eq!(g, w),
                        (g, w) => prop_assert!(false, "{:?} vs {:?}", g, w),
                    }
                }
            }
        }
    }

    #[test]
    fn stats_stream_equals_whole_text(text in text_strategy(), sizes in sizes(), piece in 4usize..40) {
        let want = StreamStats::SCHEMES.map(|s| Stats::measure(s, TextRef::Str(&text)));
        let mut st = StreamStats::new(InputErrors::Strict).with_parallel_min(piece);
        feed(text.as_bytes(), &sizes, |d, l, _| st.feed(d, l)).unwrap();
        prop_assert_eq!(st.finish(), (want, text.len() as u64));
    }
}
