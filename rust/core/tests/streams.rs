//! Streaming encode, decode and statistics against one-shot results, with
//! random text, random chunk sizes and pieces small enough that every chunk
//! is cut into many parallel pieces.

use bygpt_codec_core::{
    Codec, DecodeOptions, Decoder, EncodeOptions, ErrorMode, InputErrors, Scheme, Stats, StreamEncoder,
    StreamStats, TextRef, Utf8DecodeError, Utf8Errors, Utf8Out,
};
use proptest::prelude::*;

/// Feeds `data` in chunks of the given sizes (cycled), as a file reader does:
/// every call takes the whole chunk.
fn feed<E>(
    data: &[u8],
    sizes: &[usize],
    mut step: impl FnMut(&[u8], bool) -> Result<(), E>,
) -> Result<(), E> {
    let mut at = 0;
    let mut k = 0;
    loop {
        let end = (at + sizes[k % sizes.len()].max(1)).min(data.len());
        k += 1;
        step(&data[at..end], end == data.len())?;
        at = end;
        if at == data.len() {
            return Ok(());
        }
    }
}

fn encode_stream(
    enc: &mut StreamEncoder,
    data: &[u8],
    sizes: &[usize],
) -> Result<Vec<u8>, bygpt_codec_core::InvalidUtf8> {
    let mut out = Vec::new();
    feed(data, sizes, |d, last| enc.encode(d, last, &mut out))?;
    Ok(out.concat())
}

fn decode_stream(
    dec: &mut Decoder,
    data: &[u8],
    sizes: &[usize],
    errors: Utf8Errors,
) -> Result<Vec<u8>, Utf8DecodeError> {
    let mut out = Utf8Out::new(errors, 0);
    feed(data, sizes, |d, last| dec.decode_parallel(d, last, &mut out))?;
    Ok(out.finish()?.concat())
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
            let opts = EncodeOptions { bos: specials, eos: specials, ..Default::default() };
            let want = Codec::new(scheme).encode(TextRef::Str(&text), &opts).unwrap().0;
            let mut enc = StreamEncoder::new(scheme, InputErrors::Strict, specials).with_parallel_min(piece);
            prop_assert_eq!(encode_stream(&mut enc, text.as_bytes(), &sizes).unwrap(), want);
        }
    }

    #[test]
    fn escaped_bytes_round_trip(data in bytes_strategy(), sizes in sizes(), piece in 4usize..40) {
        let cps = escaped(&data);
        for scheme in Scheme::ALL {
            let codec = Codec::new(scheme);
            let want = codec.encode(TextRef::Ucs4(&cps), &EncodeOptions::default()).unwrap().0;
            let mut enc = StreamEncoder::new(scheme, InputErrors::SurrogateEscape, false).with_parallel_min(piece);
            let encoded = encode_stream(&mut enc, &data, &sizes).unwrap();
            prop_assert_eq!(&encoded, &want);
            let errors = Utf8Errors::SurrogateEscape;
            let opts = DecodeOptions { errors: errors.data_errors(), skip_special_tokens: false };
            let mut dec = Decoder::new(codec, opts).with_parallel_min(piece);
            prop_assert_eq!(decode_stream(&mut dec, &encoded, &sizes, errors).unwrap(), data.clone());
            // Strict mode fails exactly where the input stops being UTF-8, naming its line.
            let mut enc = StreamEncoder::new(scheme, InputErrors::Strict, false).with_parallel_min(piece);
            match (encode_stream(&mut enc, &data, &sizes), std::str::from_utf8(&data)) {
                (Ok(_), Ok(_)) => {}
                (Err(e), Err(want)) => {
                    let at = want.valid_up_to();
                    prop_assert_eq!(e.offset, at as u64);
                    prop_assert_eq!(e.line, data[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1);
                }
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
            for mode in [ErrorMode::Replace, ErrorMode::Strict] {
                for skip in [false, true] {
                    let opts = DecodeOptions { errors: mode, skip_special_tokens: skip };
                    let want = codec.decode_to_string(&data, &opts);
                    let mut dec = Decoder::new(codec.clone(), opts).with_parallel_min(piece);
                    match (decode_stream(&mut dec, &data, &sizes, Utf8Errors::Replace), want) {
                        (Ok(g), Ok(w)) => prop_assert_eq!(String::from_utf8(g).unwrap(), w),
                        (Err(Utf8DecodeError::Data(g)), Err(w)) => prop_assert_eq!(g, w),
                        (g, w) => prop_assert!(false, "{:?} vs {:?}", g, w),
                    }
                }
            }
        }
    }

    #[test]
    fn stats_stream_equals_whole_text(text in text_strategy(), sizes in sizes(), piece in 4usize..40) {
        let want: Vec<(Scheme, Stats)> = Scheme::ALL.iter().map(|&s| (s, Stats::measure(s, TextRef::Str(&text)))).collect();
        let mut st = StreamStats::new(&Scheme::ALL, InputErrors::Strict).with_parallel_min(piece);
        feed(text.as_bytes(), &sizes, |d, l| st.feed(d, l)).unwrap();
        prop_assert_eq!(st.finish(), want);
        prop_assert_eq!(st.input_bytes(), text.len() as u64);
    }
}

/// A line far beyond the first piece of a large chunk: the error names the
/// right line (earlier pieces' newlines once each).
#[test]
fn errors_in_late_pieces_name_the_right_line() {
    let line = "吾輩は猫である。名前はまだ無い。\n";
    let mut data = line.repeat(20_000).into_bytes();
    let at = data.len() - 3 * line.len();
    data[at] = 0xFF;
    let want_line = data[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    for scheme in Scheme::ALL {
        for piece in [64, 4096, 1 << 20] {
            for sizes in [vec![data.len()], vec![100_003]] {
                let mut enc = StreamEncoder::new(scheme, InputErrors::Strict, false).with_parallel_min(piece);
                let e = encode_stream(&mut enc, &data, &sizes).unwrap_err();
                assert_eq!((e.offset, e.line), (at as u64, want_line), "{scheme} piece {piece}");
                let mut st = StreamStats::new(&Scheme::ALL, InputErrors::Strict).with_parallel_min(piece);
                let e = feed(&data, &sizes, |d, l| st.feed(d, l)).unwrap_err();
                assert_eq!((e.offset, e.line), (at as u64, want_line));
            }
        }
    }
}
