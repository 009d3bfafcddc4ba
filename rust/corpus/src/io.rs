//! Runs a chunked stream processor (encoder, decoder, statistics) from a
//! reader to a writer with bounded memory, on three threads: the calling
//! thread reads (so that a signal such as Ctrl-C interrupts a blocked read and
//! `check` can act on it), a worker processes each chunk (using all cores
//! inside), and a writer writes, so reading, processing and writing overlap.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::Duration;

/// Input bytes per chunk. Memory stays a small multiple of this whatever the
/// input's size: two input buffers, and at most two chunks of output queued.
pub const CHUNK: usize = 8 << 20;

/// How often a run waiting on its worker calls `check` (for Ctrl-C, progress).
const TICK: Duration = Duration::from_millis(50);

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

/// A chunk of input on its way to the worker: buffer, bytes used, last?
type Chunk = (Vec<u8>, usize, bool);

/// Feeds all of `input` through `step` in chunks of `chunk` bytes and writes
/// its output to `output`. `step` gets each chunk once, with whether it ends
/// the input, and appends output buffers. `check` is called with the bytes
/// read so far between chunks, while waiting, and when a read is interrupted
/// by a signal; returning false stops the run. Returns (bytes read, bytes written).
pub fn run_stream<E, R, W>(
    mut input: R,
    output: W,
    chunk: usize,
    mut step: impl FnMut(&[u8], bool, &mut Vec<Vec<u8>>) -> Result<(), E> + Send,
    mut check: impl FnMut(u64) -> bool,
) -> Result<(u64, u64), StreamError<E>>
where
    E: Send,
    R: Read,
    W: Write + Send,
{
    let chunk = chunk.max(64);
    std::thread::scope(|scope| {
        let (work_tx, work_rx) = sync_channel::<Chunk>(1);
        let (free_tx, free_rx) = sync_channel::<Vec<u8>>(2);
        let (out_tx, out_rx) = sync_channel::<Vec<Vec<u8>>>(2);
        let writer = scope.spawn(move || write_all(output, out_rx));
        let worker = scope.spawn(move || -> Result<(), E> {
            for (buf, n, last) in work_rx {
                let mut out = Vec::new();
                step(&buf[..n], last, &mut out)?;
                if !out.is_empty() && out_tx.send(out).is_err() {
                    return Ok(()); // the writer failed; its error is reported
                }
                if last {
                    break;
                }
                let _ = free_tx.send(buf);
            }
            Ok(())
        });
        let mut read = 0u64;
        let mut spare = vec![Vec::new(), Vec::new()];
        let outcome = (|| -> Result<(), StreamError<E>> {
            loop {
                let mut buf = match spare.pop() {
                    Some(b) => b,
                    None => match wait(&free_rx, &mut check, read)? {
                        Some(b) => b,
                        None => return Ok(()), // the worker stopped; its result tells why
                    },
                };
                buf.resize(chunk, 0);
                let n = fill(&mut input, &mut buf, &mut check, read)?;
                read += n as u64;
                let last = n < chunk;
                if work_tx.send((buf, n, last)).is_err() || last {
                    return Ok(());
                }
                if !check(read) {
                    return Err(StreamError::Stopped);
                }
            }
        })();
        drop(work_tx);
        let worked = worker.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        let written = writer.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        match (worked, outcome, written) {
            (Err(e), _, _) => Err(StreamError::Data(e)),
            (_, Err(e), _) => Err(e),
            (_, _, Err(e)) => Err(StreamError::Write(e)),
            (Ok(()), Ok(()), Ok(w)) => Ok((read, w)),
        }
    })
}

/// The next free buffer, calling `check` while waiting; `None` if the worker is gone.
fn wait<E>(
    free: &Receiver<Vec<u8>>,
    check: &mut impl FnMut(u64) -> bool,
    read: u64,
) -> Result<Option<Vec<u8>>, StreamError<E>> {
    loop {
        match free.recv_timeout(TICK) {
            Ok(b) => return Ok(Some(b)),
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
            Err(RecvTimeoutError::Timeout) => {
                if !check(read) {
                    return Err(StreamError::Stopped);
                }
            }
        }
    }
}

fn write_all<W: Write>(mut output: W, chunks: Receiver<Vec<Vec<u8>>>) -> io::Result<u64> {
    let mut written = 0u64;
    for pieces in chunks {
        for piece in &pieces {
            output.write_all(piece)?;
            written += piece.len() as u64;
        }
    }
    output.flush()?;
    Ok(written)
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
    use bygpt_codec_core::{Codec, InputErrors, Scheme, StreamEncoder};

    fn encoder(
        scheme: Scheme,
    ) -> impl FnMut(&[u8], bool, &mut Vec<Vec<u8>>) -> Result<(), bygpt_codec_core::InvalidUtf8> + Send {
        let mut enc = StreamEncoder::new(scheme, InputErrors::Strict, false);
        move |d, last, o| enc.encode(d, last, o)
    }

    #[test]
    fn encodes_reader_to_writer() {
        let text = "吾輩は猫である。".repeat(1000);
        for chunk in [64, 100, 4096, 1 << 20] {
            let mut out = Vec::new();
            let (r, w) =
                run_stream(text.as_bytes(), &mut out, chunk, encoder(Scheme::Jpblock), |_| true).unwrap();
            assert_eq!(r, text.len() as u64);
            assert_eq!(w, out.len() as u64);
            assert_eq!(out, Codec::new(Scheme::Jpblock).encode_str(&text));
        }
        let mut out = Vec::new();
        assert_eq!(run_stream(&b""[..], &mut out, 64, encoder(Scheme::Utf8), |_| true).unwrap(), (0, 0));
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
    fn errors_and_stops_are_reported() {
        let text = "abc".repeat(10_000);
        let err = run_stream(text.as_bytes(), Full, 100, encoder(Scheme::Utf8), |_| true).unwrap_err();
        assert!(matches!(err, StreamError::Write(e) if e.raw_os_error() == Some(28)));
        let err = run_stream(text.as_bytes(), io::sink(), 100, encoder(Scheme::Utf8), |_| false).unwrap_err();
        assert!(matches!(err, StreamError::Stopped));
        let mut bad = text.into_bytes();
        bad[5000] = 0xFF;
        let err = run_stream(&bad[..], io::sink(), 100, encoder(Scheme::Utf8), |_| true).unwrap_err();
        assert!(matches!(err, StreamError::Data(e) if e.offset == 5000));
    }
}
