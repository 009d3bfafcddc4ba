//! Runs a chunked stream processor (encoder, decoder, statistics) from a reader
//! to a writer with bounded memory: it reads on the calling thread, processes
//! each chunk on all cores, and writes on a writer thread, so that writing
//! overlaps the next chunk's work.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::mpsc::sync_channel;

/// Input bytes per chunk. Memory stays a small multiple of this whatever the
/// input's size: one input buffer, and at most 4 chunks of output in flight.
pub const CHUNK: usize = 8 << 20;

/// Why a stream stopped.
#[derive(Debug)]
pub enum StreamError<E> {
    /// The processor refused the data (bad input).
    Data(E),
    Read(io::Error),
    Write(io::Error),
    /// The `check` callback asked to stop (e.g. Ctrl-C).
    Stopped,
}

impl<E: fmt::Display> fmt::Display for StreamError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Data(e) => e.fmt(f),
            Self::Read(e) => write!(f, "read failed: {e}"),
            Self::Write(e) => write!(f, "write failed: {e}"),
            Self::Stopped => f.write_str("stopped"),
        }
    }
}

/// A chunk processor: given the next bytes (what it left last time first) and
/// whether they end the input, it appends output and returns how many bytes it
/// took. It may leave only a few bytes (an unfinished character or code).
pub trait ChunkStep {
    type Error;
    fn step(&mut self, data: &[u8], last: bool, out: &mut Vec<Vec<u8>>) -> Result<usize, Self::Error>;
}

impl<E, F: FnMut(&[u8], bool, &mut Vec<Vec<u8>>) -> Result<usize, E>> ChunkStep for F {
    type Error = E;
    fn step(&mut self, data: &[u8], last: bool, out: &mut Vec<Vec<u8>>) -> Result<usize, E> {
        self(data, last, out)
    }
}

/// Feeds all of `input` through `step` in chunks of `chunk` bytes and writes
/// its output to `output`. `check` is called with the bytes read so far after
/// every chunk and when a read is interrupted by a signal; returning false
/// stops the run. Returns (bytes read, bytes written).
pub fn run_stream<S: ChunkStep, R: Read, W: Write + Send>(
    mut input: R,
    output: W,
    chunk: usize,
    mut step: S,
    mut check: impl FnMut(u64) -> bool,
) -> Result<(u64, u64), StreamError<S::Error>> {
    let chunk = chunk.max(64);
    let mut buf: Vec<u8> = Vec::new();
    let mut keep = 0;
    let mut read = 0u64;
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Vec<Vec<u8>>>(2);
        let writer = scope.spawn(move || -> io::Result<u64> {
            let mut output = output;
            let mut written = 0u64;
            for pieces in rx {
                for piece in &pieces {
                    output.write_all(piece)?;
                    written += piece.len() as u64;
                }
            }
            output.flush()?;
            Ok(written)
        });
        // Ok(true): done; Ok(false): the writer hung up (its error follows).
        let mut run = || -> Result<bool, StreamError<S::Error>> {
            loop {
                buf.resize(keep + chunk, 0);
                let n = fill(&mut input, &mut buf[keep..], &mut check, read)?;
                read += n as u64;
                let last = n < chunk;
                let len = keep + n;
                let mut out = Vec::new();
                let took = step.step(&buf[..len], last, &mut out).map_err(StreamError::Data)?;
                if !out.is_empty() && tx.send(out).is_err() {
                    return Ok(false);
                }
                if last {
                    return Ok(true);
                }
                buf.copy_within(took.min(len)..len, 0);
                keep = len - took.min(len);
                if !check(read) {
                    return Err(StreamError::Stopped);
                }
            }
        };
        let result = run();
        drop(tx);
        let written = match writer.join() {
            Ok(w) => w,
            Err(_) => Err(io::Error::other("the writer thread panicked")),
        };
        match (result, written) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(StreamError::Write(e)),
            (Ok(_), Ok(w)) => Ok((read, w)),
        }
    })
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn fill<R: Read, E>(
    input: &mut R,
    buf: &mut [u8],
    check: &mut impl FnMut(u64) -> bool,
    done: u64,
) -> Result<usize, StreamError<E>> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                if !check(done + n as u64) {
                    return Err(StreamError::Stopped);
                }
            }
            Err(e) => return Err(StreamError::Read(e)),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InputErrors, Scheme, StreamEncoder};

    #[test]
    fn encodes_reader_to_writer() {
        let text = "吾輩は猫である。".repeat(1000);
        let mut enc = StreamEncoder::new(Scheme::Jpblock, InputErrors::Strict, false);
        let mut out = Vec::new();
        let step = |d: &[u8], last: bool, o: &mut Vec<Vec<u8>>| enc.encode(d, last, o);
        let (r, w) = run_stream(text.as_bytes(), &mut out, 100, step, |_| true).unwrap();
        assert_eq!(r, text.len() as u64);
        assert_eq!(w, out.len() as u64);
        assert_eq!(out, crate::Codec::new(Scheme::Jpblock).encode_str(&text));
    }

    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(28))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn write_errors_and_stops_are_reported() {
        let text = "abc".repeat(10_000);
        let mut enc = StreamEncoder::new(Scheme::Utf8, InputErrors::Strict, false);
        let step = |d: &[u8], last: bool, o: &mut Vec<Vec<u8>>| enc.encode(d, last, o);
        let err = run_stream(text.as_bytes(), Full, 100, step, |_| true).unwrap_err();
        assert!(matches!(err, StreamError::Write(e) if e.raw_os_error() == Some(28)));
        let mut enc = StreamEncoder::new(Scheme::Utf8, InputErrors::Strict, false);
        let step = |d: &[u8], last: bool, o: &mut Vec<Vec<u8>>| enc.encode(d, last, o);
        let err = run_stream(text.as_bytes(), io::sink(), 100, step, |_| false).unwrap_err();
        assert!(matches!(err, StreamError::Stopped));
    }
}
