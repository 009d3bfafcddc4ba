//! Property tests of the codec's guarantees (see docs/spec.md).

use bygpt_codec_core::{
    code_len, truncate_row, Codec, DecodeOptions, EncodeOptions, ErrorMode, Layout, Scheme, Side, Stats,
    TextRef,
};
use proptest::prelude::*;

const STRICT: DecodeOptions = DecodeOptions { errors: ErrorMode::Strict, skip_special_tokens: false };
const REPLACE: DecodeOptions = DecodeOptions { errors: ErrorMode::Replace, skip_special_tokens: false };

fn scheme() -> impl Strategy<Value = Scheme> {
    prop::sample::select(Scheme::ALL.to_vec())
}

/// The schemes whose codes never cross a block.
fn block_scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![Just(Scheme::Jpblock), Just(Scheme::Jpblock2)]
}

/// Code points weighted towards the interesting ranges, surrogates included.
fn code_point() -> impl Strategy<Value = u32> {
    prop_oneof![
        0x00u32..0x80,
        0x3040u32..0x30A0,
        0x3000u32..0x3100,
        0x4E00u32..0x9FFF,
        0xD800u32..0xE000,
        0xFF00u32..0x10000,
        0x80u32..0x10000,
        0x10000u32..0x110000,
    ]
}

fn text() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(code_point(), 0..64)
}

/// Walks jpblock bytes code by code; checks no code crosses a block.
fn assert_block_aligned(bytes: &[u8]) {
    let mut i = 0;
    while i < bytes.len() {
        let len = code_len(bytes[i]);
        assert!(i % 4 + len <= 4, "code at {i} crosses a block: {bytes:02X?}");
        i += len;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn round_trip(s in scheme(), cps in text()) {
        let c = Codec::new(s);
        let (bytes, truncated) = c.encode(TextRef::Ucs4(&cps), &EncodeOptions::default()).unwrap();
        prop_assert!(!truncated);
        prop_assert_eq!(bytes.len() % 4, 0);
        prop_assert_eq!(c.decode_to_code_points(&bytes, &STRICT).unwrap(), cps.clone());
        let st = Stats::measure(s, TextRef::Ucs4(&cps));
        prop_assert_eq!(st.bytes as usize, bytes.len());
        prop_assert_eq!(st.chars as usize, cps.len());
        if s != Scheme::Utf8 {
            assert_block_aligned(&bytes);
            prop_assert_eq!(st.straddling, 0);
        }
    }

    #[test]
    fn layouts_agree(s in scheme(), cps in prop::collection::vec(0u32..0x10000, 0..40)) {
        let c = Codec::new(s);
        let opts = EncodeOptions::default();
        let ucs4 = c.encode(TextRef::Ucs4(&cps), &opts).unwrap();
        let ucs2: Vec<u16> = cps.iter().map(|&x| x as u16).collect();
        prop_assert_eq!(&c.encode(TextRef::Ucs2(&ucs2), &opts).unwrap(), &ucs4);
        if cps.iter().all(|&x| x < 0x100) {
            let latin1: Vec<u8> = cps.iter().map(|&x| x as u8).collect();
            prop_assert_eq!(&c.encode(TextRef::Latin1(&latin1), &opts).unwrap(), &ucs4);
        }
        if let Some(s) = cps.iter().map(|&x| char::from_u32(x)).collect::<Option<String>>() {
            prop_assert_eq!(&c.encode(TextRef::Str(&s), &opts).unwrap(), &ucs4);
        }
    }

    #[test]
    fn replace_never_fails_and_strict_points_inside(s in scheme(), data in prop::collection::vec(any::<u8>(), 0..64)) {
        let c = Codec::new(s);
        c.decode_to_code_points(&data, &REPLACE).unwrap();
        if let Err(e) = c.decode_to_code_points(&data, &STRICT) {
            prop_assert!((e.position as usize) < data.len(), "{} for {:02X?}", e, data);
        }
    }

    #[test]
    fn blocks_decode_independently(s in block_scheme(), data in prop::collection::vec(any::<u8>(), 0..64)) {
        let c = Codec::new(s);
        let whole = c.decode_to_code_points(&data, &REPLACE).unwrap();
        let parts: Vec<u32> = data.chunks(4).flat_map(|b| c.decode_to_code_points(b, &REPLACE).unwrap()).collect();
        prop_assert_eq!(whole, parts);
    }

    #[test]
    fn corrupted_byte_spoils_only_its_block(s in block_scheme(), cps in text(), at in any::<prop::sample::Index>(), value in any::<u8>()) {
        let c = Codec::new(s);
        let mut bytes = c.encode(TextRef::Ucs4(&cps), &EncodeOptions::default()).unwrap().0;
        prop_assume!(!bytes.is_empty());
        let i = at.index(bytes.len());
        let before: Vec<Vec<u32>> = bytes.chunks(4).map(|b| c.decode_to_code_points(b, &REPLACE).unwrap()).collect();
        bytes[i] = value;
        let after: Vec<Vec<u32>> = bytes.chunks(4).map(|b| c.decode_to_code_points(b, &REPLACE).unwrap()).collect();
        let whole = c.decode_to_code_points(&bytes, &REPLACE).unwrap();
        prop_assert_eq!(&whole, &after.concat());
        for (k, (b, a)) in before.iter().zip(&after).enumerate() {
            if k != i / 4 {
                prop_assert_eq!(b, a);
            }
        }
    }

    #[test]
    fn incremental_matches_one_shot(
        s in scheme(),
        replace in any::<bool>(),
        data in prop::collection::vec(any::<u8>(), 0..80),
        cuts in prop::collection::vec(0usize..9, 0..20),
    ) {
        let c = Codec::new(s);
        let opts = if replace { REPLACE } else { STRICT };
        let expected = c.decode_to_code_points(&data, &opts);
        let mut dec = c.decoder(opts);
        let mut got = Vec::new();
        let mut rest = &data[..];
        let mut result = Ok(());
        for &n in &cuts {
            let n = n.min(rest.len());
            result = dec.decode(&rest[..n], false, &mut got);
            rest = &rest[n..];
            if result.is_err() { break; }
        }
        if result.is_ok() {
            result = dec.decode(rest, true, &mut got);
        }
        match expected {
            Ok(text) => { prop_assert!(result.is_ok()); prop_assert_eq!(got, text); }
            Err(e) => prop_assert_eq!(result.unwrap_err(), e),
        }
    }

    #[test]
    fn truncation_keeps_whole_blocks(
        s in scheme(),
        cps in text(),
        max_len in 0usize..80,
        bos in any::<bool>(),
        eos in any::<bool>(),
        left in any::<bool>(),
    ) {
        let c = Codec::new(s);
        let side = if left { Side::Left } else { Side::Right };
        let opts = EncodeOptions { max_len: Some(max_len), bos, eos, truncation_side: side, parse_special: false };
        let specials = 4 * (usize::from(bos) + usize::from(eos));
        let Ok((bytes, truncated)) = c.encode(TextRef::Ucs4(&cps), &opts) else {
            prop_assert!(max_len - max_len % 4 < specials);
            return Ok(());
        };
        prop_assert!(bytes.len() <= max_len);
        prop_assert_eq!(bytes.len() % 4, 0);
        // The text part is whole blocks of the full encoding, the cut character (if any) turned to filler.
        let full = c.encode(TextRef::Ucs4(&cps), &EncodeOptions::default()).unwrap().0;
        let room = max_len - max_len % 4 - specials;
        let start = if bos { 4 } else { 0 };
        let body = &bytes[start..bytes.len() - if eos { 4 } else { 0 }];
        prop_assert_eq!(body, &truncate_row(s, &full, room, side)[..]);
        prop_assert_eq!(truncated, full.len() > room);
        let skip = DecodeOptions { skip_special_tokens: true, ..STRICT };
        let got = c.decode_to_code_points(&bytes, &skip).unwrap();
        if left {
            prop_assert_eq!(&cps[cps.len() - got.len()..], &got[..]);
        } else {
            prop_assert_eq!(&cps[..got.len()], &got[..]);
        }
        if bos {
            prop_assert_eq!(&bytes[..4], &[0xFE, 0, 0, 1]);
        }
        if eos {
            prop_assert_eq!(&bytes[bytes.len() - 4..], &[0xFE, 0, 0, 2]);
        }
    }

    #[test]
    fn batch_equals_single(s in scheme(), docs in prop::collection::vec(text(), 0..8), left in any::<bool>(), int64 in any::<bool>()) {
        let c = Codec::new(s);
        let opts = EncodeOptions::default();
        let refs: Vec<TextRef> = docs.iter().map(|d| TextRef::Ucs4(d)).collect();
        let rows = c.encode_batch(&refs, &opts).unwrap();
        let layout = Layout { padding_side: if left { Side::Left } else { Side::Right }, int64, ..Default::default() };
        let plan = layout.plan(&rows).unwrap();
        let (mut ids, mut mask) = (vec![0u8; plan.bytes], vec![0u8; plan.bytes]);
        layout.fill(&plan, &rows, &mut ids, &mut mask, None);
        let value = |buf: &[u8], i: usize| buf[i * plan.elem];
        for (k, d) in docs.iter().enumerate() {
            let single = c.encode(TextRef::Ucs4(d), &opts).unwrap().0;
            prop_assert_eq!(&rows[k], &single);
            let row: Vec<u8> = (k * plan.width..(k + 1) * plan.width).map(|i| value(&ids, i)).collect();
            let ones = (k * plan.width..(k + 1) * plan.width).filter(|&i| value(&mask, i) == 1).count();
            prop_assert_eq!(ones, single.len());
            prop_assert_eq!(c.decode_to_code_points(&row, &STRICT).unwrap(), d.clone());
        }
    }

    #[test]
    fn literal_specials_stay_text(s in scheme(), prefix in text(), suffix in text()) {
        let c = Codec::new(s);
        let mut cps = prefix.clone();
        cps.extend("<|eos|>".chars().map(u32::from));
        cps.extend(&suffix);
        let plain = c.encode(TextRef::Ucs4(&cps), &EncodeOptions::default()).unwrap().0;
        prop_assert!(!plain.chunks(4).any(|b| b == [0xFE, 0, 0, 2]));
        let parse = EncodeOptions { parse_special: true, ..Default::default() };
        let parsed = c.encode(TextRef::Ucs4(&cps), &parse).unwrap().0;
        prop_assert!(parsed.chunks(4).any(|b| b == [0xFE, 0, 0, 2]));
        prop_assert_eq!(c.decode_to_code_points(&parsed, &STRICT).unwrap(), cps);
    }
}

#[test]
fn every_code_point_round_trips() {
    let all: Vec<u32> = (0..0x11_0000).collect();
    for s in Scheme::ALL {
        let c = Codec::new(s);
        let bytes = c.encode(TextRef::Ucs4(&all), &EncodeOptions::default()).unwrap().0;
        assert_eq!(c.decode_to_code_points(&bytes, &STRICT).unwrap(), all, "{s}");
        for &cp in all.iter().step_by(97) {
            let one = c.encode(TextRef::Ucs4(&[cp]), &EncodeOptions::default()).unwrap().0;
            assert_eq!(c.decode_to_code_points(&one, &STRICT).unwrap(), [cp]);
        }
    }
}

#[test]
fn strict_errors_name_their_offset() {
    use bygpt_codec_core::DecodeErrorKind as K;
    let c = Codec::new(Scheme::Jpblock);
    let err = |data: &[u8]| c.decode_to_code_points(data, &STRICT).unwrap_err();
    let last = 0xE0 + (7060 >> 8) as u8;
    let e = err(&[b'a', b'b', last, (7060 & 0xFF) as u8]);
    assert_eq!((e.position, e.kind), (2, K::TableIndexOutOfRange { index: 7060 }));
    assert_eq!(err(&[b'a', b'b', b'c', 0xE0]).kind, K::CrossesBlock { lead: 0xE0, len: 2 });
    assert_eq!(err(&[0xFC, 0x00]).kind, K::Truncated { lead: 0xFC, len: 3, have: 2 });
    assert_eq!(err(&[0xFC, 0x30, 0x42, 0xFF]).kind, K::NonShortest { cp: 0x3042 });
    assert_eq!(err(&[0xFC, 0x30, 0x00, 0xFF]).kind, K::NonShortest { cp: 0x3000 });
    assert_eq!(err(&[0xFD, 0x00, 0xFF, 0xFF]).kind, K::NonShortest { cp: 0xFFFF });
    assert_eq!(err(&[0xFD, 0x11, 0x00, 0x00]).kind, K::OutOfRange { value: 0x110000 });
    assert_eq!(err(&[0xFE, 0, 0, 0]).kind, K::UnknownSpecial { id: 0 });
    assert_eq!(err(&[b'x', 0xFE, 0, 0]).kind, K::CrossesBlock { lead: 0xFE, len: 4 });
    let u = Codec::new(Scheme::Utf8);
    let e = u.decode_to_code_points(&[b'a', 0xC0, 0x80, 0xFF], &STRICT).unwrap_err();
    assert_eq!((e.position, e.kind), (1, K::InvalidLead { byte: 0xC0 }));
    let e = u.decode_to_code_points(&[0xFF, b'a', 0xFE, 0, 0, 1, 0xFF, 0xFF], &STRICT).unwrap_err();
    assert_eq!(e.position, 2);
    assert_eq!(
        e.to_string(),
        "invalid utf8 data at byte 2: 4-byte code with lead byte 0xFE crosses a 4-byte block boundary"
    );
}

#[test]
fn utf8_replace_matches_cpython_on_text() {
    // bytes.decode("utf-8", "replace") gives one U+FFFD per maximal invalid subpart.
    let u = Codec::new(Scheme::Utf8);
    let got = u.decode_to_string(&[0xE3, 0x81, b'a', 0xF0, 0x9F, 0x98], &REPLACE).unwrap();
    assert_eq!(got, "\u{FFFD}a\u{FFFD}");
}

#[test]
fn special_names_render_or_skip() {
    let c = Codec::with_special_tokens(Scheme::Jpblock, vec![("<|user|>".into(), 256)]).unwrap();
    let opts = EncodeOptions { parse_special: true, ..EncodeOptions::with_special_tokens() };
    let bytes = c.encode(TextRef::Str("<|user|>こんにちは"), &opts).unwrap().0;
    assert_eq!(&bytes[4..8], &[0xFE, 0, 1, 0]);
    assert_eq!(c.decode_to_string(&bytes, &STRICT).unwrap(), "<|bos|><|user|>こんにちは<|eos|>");
    let skip = DecodeOptions { skip_special_tokens: true, ..STRICT };
    assert_eq!(c.decode_to_string(&bytes, &skip).unwrap(), "こんにちは");
    // A codec without the extra token rejects its block.
    assert!(Codec::new(Scheme::Jpblock).decode_to_string(&bytes, &STRICT).is_err());
}
