//! Single-thread and batch throughput of the core, without Python.
//!
//!     cargo run --release -p bygpt-codec-core --example throughput [CORPUS_FILE]

use std::time::Instant;

use bygpt_codec_core::{Codec, DecodeOptions, EncodeOptions, InputErrors, Scheme, StreamEncoder, TextRef};

fn median_ms(mut f: impl FnMut(), repeat: usize) -> f64 {
    f();
    let mut t: Vec<f64> = (0..repeat)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t[repeat / 2]
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| "../shared/corpus/ja-prose.txt".into());
    let text = std::fs::read_to_string(&path).expect("read corpus");
    let cps: Vec<u32> = text.chars().map(u32::from).collect();
    let ucs2: Option<Vec<u16>> = cps.iter().map(|&c| u16::try_from(c).ok()).collect();
    let docs: Vec<&[u32]> = cps.chunks(1000).collect();
    let n = cps.len() as f64;
    println!("{path}: {} chars", cps.len());
    for scheme in Scheme::ALL {
        let c = Codec::new(scheme);
        let opts = EncodeOptions::default();
        let whole = c.encode(TextRef::Ucs4(&cps), &opts).unwrap().0;
        let t = median_ms(|| drop(c.encode(TextRef::Ucs4(&cps), &opts)), 9);
        println!("{scheme:<8} encode one string (ucs4)  {t:7.2} ms  {:7.1} Mchar/s", n / t / 1e3);
        if let Some(u) = &ucs2 {
            let t = median_ms(|| drop(c.encode(TextRef::Ucs2(u), &opts)), 9);
            println!("{scheme:<8} encode one string (ucs2)  {t:7.2} ms  {:7.1} Mchar/s", n / t / 1e3);
        }
        let refs: Vec<TextRef> = docs.iter().map(|d| TextRef::Ucs4(d)).collect();
        let t = median_ms(|| drop(c.encode_batch(&refs, &opts)), 9);
        println!("{scheme:<8} encode batch of 1k docs   {t:7.2} ms  {:7.1} Mchar/s", n / t / 1e3);
        let d = DecodeOptions::default();
        let t = median_ms(|| drop(c.decode_to_code_points(&whole, &d)), 9);
        println!("{scheme:<8} decode one string         {t:7.2} ms  {:7.1} Mchar/s", n / t / 1e3);
        let mut sink: Vec<u32> = Vec::with_capacity(whole.len());
        let t = median_ms(
            || {
                sink.clear();
                c.decode_into(&whole, &d, &mut sink).unwrap()
            },
            9,
        );
        println!("{scheme:<8} decode one string, reused {t:7.2} ms  {:7.1} Mchar/s", n / t / 1e3);
        let rows: Vec<Vec<u8>> = c.encode_batch(&refs, &opts).unwrap();
        let slices: Vec<&[u8]> = rows.iter().map(|r| r.as_slice()).collect();
        let t = median_ms(|| drop(c.decode_batch(&slices, &d, Vec::<u32>::with_capacity, |v| v)), 9);
        println!("{scheme:<8} decode batch of 1k docs   {t:7.2} ms  {:7.1} Mchar/s", n / t / 1e3);
        let bytes = text.as_bytes();
        let t = median_ms(
            || {
                let mut enc = StreamEncoder::new(scheme, InputErrors::Strict, false);
                let mut out = Vec::new();
                for (k, chunk) in bytes.chunks(8 << 20).enumerate() {
                    enc.encode(chunk, (k + 1) * (8 << 20) >= bytes.len(), &mut out).unwrap();
                }
            },
            9,
        );
        println!(
            "{scheme:<8} stream encode, 8 MB chunks {t:6.2} ms  {:7.1} MB/s",
            bytes.len() as f64 / t / 1e3
        );
    }
}
