//! Single-thread decode speed of a file's encoding, without Python:
//!
//!     cargo run --release -p bygpt-codec-core --example decode_speed FILE [SCHEME]

use std::time::Instant;

use bygpt_codec_core::{Codec, DecodeOptions, NarrowBuffer, Scheme};

fn main() {
    let path = std::env::args().nth(1).expect("FILE");
    let scheme = std::env::args().nth(2).map_or(Scheme::Jpblock, |s| Scheme::from_name(&s).expect("scheme"));
    let text = std::fs::read_to_string(&path).expect("read");
    let codec = Codec::new(scheme);
    let data = codec.encode_str(&text);
    let rows: Vec<&[u8]> = data.chunks(4000).collect();
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(7);
    let mut best = f64::MAX;
    let mut chars = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let out =
            codec.decode_batch(&rows, &DecodeOptions::default(), NarrowBuffer::with_capacity, |b| b).unwrap();
        chars = out.len();
        best = best.min(t.elapsed().as_secs_f64());
    }
    let n = text.chars().count() as f64;
    println!("{scheme}: {chars} rows, best {:.2} ms, {:.0} Mchar/s", best * 1e3, n / best / 1e6);
}
