//! Batch encoding with padding and truncation options: every row equals the
//! single encoding, fits the limit, keeps whole blocks of the full encoding
//! (a prefix or a suffix of the text), and the padded matrix (uint8 or int64)
//! decodes back to each row's text; a layout is refused only as documented.
#![no_main]

use arbitrary::Arbitrary;
use bygpt_codec_core::{
    truncate_row, Codec, DecodeOptions, EncodeOptions, Layout, LayoutError, Scheme, Side, TextRef,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    scheme: u8,
    left_pad: bool,
    left_cut: bool,
    bos: bool,
    eos: bool,
    int64: bool,
    max_len: Option<u8>,
    width: Option<u16>,
    multiple_of: Option<u8>,
    docs: Vec<Vec<u32>>,
}

fuzz_target!(|input: Input| {
    let scheme = Scheme::ALL[usize::from(input.scheme) % Scheme::ALL.len()];
    let codec = Codec::new(scheme);
    let docs: Vec<Vec<u32>> = input.docs.iter().map(|d| d.iter().map(|&c| c % 0x11_0000).collect()).collect();
    let refs: Vec<TextRef> = docs.iter().map(|d| TextRef::Ucs4(d)).collect();
    let side = if input.left_cut { Side::Left } else { Side::Right };
    let opts = EncodeOptions {
        parse_special: false,
        bos: input.bos,
        eos: input.eos,
        max_len: input.max_len.map(usize::from),
        truncation_side: side,
    };
    let Ok(rows) = codec.encode_batch(&refs, &opts) else {
        // Only a limit too small for the special blocks is refused.
        let m = usize::from(input.max_len.unwrap());
        assert!(m - m % 4 < 4 * (usize::from(input.bos) + usize::from(input.eos)));
        return;
    };
    let skip = DecodeOptions { skip_special_tokens: true, ..DecodeOptions::default() };
    let plain = EncodeOptions::default();
    for (k, doc) in docs.iter().enumerate() {
        assert_eq!(rows[k], codec.encode(refs[k], &opts).unwrap().0);
        assert_eq!(rows[k].len() % 4, 0);
        if let Some(m) = input.max_len {
            assert!(rows[k].len() <= usize::from(m));
            let room = usize::from(m) / 4 * 4 - 4 * (usize::from(input.bos) + usize::from(input.eos));
            let full = codec.encode(refs[k], &plain).unwrap().0;
            let start = if input.bos { 4 } else { 0 };
            let body = &rows[k][start..rows[k].len() - if input.eos { 4 } else { 0 }];
            assert_eq!(body, &truncate_row(scheme, &full, room, side)[..]);
        }
        let text = codec.decode_to_code_points(&rows[k], &skip).unwrap();
        match side {
            Side::Right => assert_eq!(&doc[..text.len()], &text[..]),
            Side::Left => assert_eq!(&doc[doc.len() - text.len()..], &text[..]),
        }
    }
    let layout = Layout {
        width: input.width.map(usize::from),
        multiple_of: input.multiple_of.map(usize::from),
        max_len: None,
        padding_side: if input.left_pad { Side::Left } else { Side::Right },
        int64: input.int64,
    };
    let plan = match layout.plan(&rows) {
        Ok(plan) => plan,
        Err(LayoutError::NotWholeBlocks { .. }) => {
            assert!(input.width.is_some_and(|w| w % 4 != 0) || input.multiple_of == Some(0));
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let (mut ids, mut mask) = (vec![0u8; plan.bytes], vec![0u8; plan.bytes]);
    layout.fill(&plan, &rows, &mut ids, &mut mask, None);
    let value = |buf: &[u8], i: usize| buf[i * plan.elem];
    for (k, row) in rows.iter().enumerate() {
        let padded: Vec<u8> = (k * plan.width..(k + 1) * plan.width).map(|i| value(&ids, i)).collect();
        let ones = (k * plan.width..(k + 1) * plan.width).filter(|&i| value(&mask, i) == 1).count();
        assert_eq!(ones, row.len());
        assert_eq!(
            codec.decode_to_code_points(&padded, &skip).unwrap(),
            codec.decode_to_code_points(row, &skip).unwrap()
        );
    }
});
