//! Single-thread stream encoding speed of a file (8 MB chunks), without Python:
//!
//!     RAYON_NUM_THREADS=1 cargo run --release -p bygpt-codec-core --example stream_encode FILE [SCHEME]
//!
//! With `ESCAPE` set in the environment, bad bytes are escaped (surrogateescape) instead of failing.

use std::time::Instant;

use bygpt_codec_core::{InputErrors, Scheme, StreamEncoder};

fn main() {
    let path = std::env::args().nth(1).expect("FILE");
    let scheme = std::env::args().nth(2).map_or(Scheme::Jpblock, |s| Scheme::from_name(&s).expect("scheme"));
    let data = std::fs::read(&path).expect("read");
    let mut best = f64::MAX;
    let mut bytes = 0;
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(7);
    for _ in 0..runs {
        let t = Instant::now();
        let errors =
            if std::env::var("ESCAPE").is_ok() { InputErrors::SurrogateEscape } else { InputErrors::Strict };
        let mut enc = StreamEncoder::new(scheme, errors, false);
        let mut out = Vec::new();
        let chunks: Vec<&[u8]> = data.chunks(8 << 20).collect();
        for (k, c) in chunks.iter().enumerate() {
            enc.encode(c, k + 1 == chunks.len(), &mut out).unwrap();
        }
        bytes = out.iter().map(Vec::len).sum::<usize>();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{scheme}: {} MB in, {} MB out, best {:.1} ms, {:.0} MB/s",
        data.len() / 1_000_000,
        bytes / 1_000_000,
        best * 1e3,
        data.len() as f64 / best / 1e6
    );
}
