//! Bindings for the command line's streaming work: encode, decode and measure
//! whole files between file descriptors with the GIL released, and pack blocks
//! of JSONL lines. The Python side opens files, names them in errors and
//! renames outputs; everything heavy happens here.

use std::fs::File;
use std::io;
use std::mem::ManuallyDrop;

use bygpt_codec_core::{
    pack_jsonl, run_stream, Codec, DecodeOptions, ErrorMode, InputErrors, Scheme, StreamDecoder,
    StreamEncoder, StreamError, StreamStats, SurrogateOutput, CHUNK,
};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

fn scheme(name: &str) -> PyResult<Scheme> {
    Scheme::from_name(name).ok_or_else(|| PyValueError::new_err(format!("unknown scheme {name:?}")))
}

fn input_errors(errors: &str) -> PyResult<InputErrors> {
    match errors {
        "strict" => Ok(InputErrors::Strict),
        "surrogateescape" => Ok(InputErrors::SurrogateEscape),
        other => {
            Err(PyValueError::new_err(format!("errors must be 'strict' or 'surrogateescape', not {other:?}")))
        }
    }
}

/// A file descriptor the caller keeps open for the whole call, borrowed as a
/// `File` that is never closed here.
#[cfg(unix)]
fn borrow_fd(fd: i32) -> PyResult<ManuallyDrop<File>> {
    use std::os::fd::FromRawFd;
    if fd < 0 {
        return Err(PyValueError::new_err(format!("bad file descriptor {fd}")));
    }
    // SAFETY: the Python caller owns `fd` and keeps it open until we return;
    // ManuallyDrop keeps us from closing it.
    Ok(ManuallyDrop::new(unsafe { File::from_raw_fd(fd) }))
}

#[cfg(not(unix))]
fn borrow_fd(_fd: i32) -> PyResult<ManuallyDrop<File>> {
    Err(pyo3::exceptions::PyNotImplementedError::new_err("streaming needs a Unix file descriptor"))
}

fn os_error(e: &io::Error, name: &str) -> PyErr {
    match e.raw_os_error() {
        Some(code) => {
            // io::Error's text ends in " (os error N)"; Python shows the code itself.
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or_default().to_string();
            PyOSError::new_err((code, text, name.to_string()))
        }
        None => PyOSError::new_err(format!("{name}: {e}")),
    }
}

/// Runs one stream with the GIL released. Between chunks (and when a read is
/// interrupted) it takes the GIL back to check for Ctrl-C and to call
/// `progress(bytes_read)`; an exception from either stops the run and is raised.
fn run_detached<S, E>(
    py: Python<'_>,
    in_fd: i32,
    out_fd: Option<i32>,
    names: (&str, &str),
    progress: Option<Py<PyAny>>,
    step: S,
) -> PyResult<(u64, u64)>
where
    S: bygpt_codec_core::ChunkStep<Error = E> + Send,
    E: std::fmt::Display + Send,
{
    let input_fd = borrow_fd(in_fd)?;
    let output_fd = out_fd.map(borrow_fd).transpose()?;
    let input: &File = &input_fd;
    let output: Option<&File> = output_fd.as_deref();
    let mut raised: Option<PyErr> = None;
    let result = py.detach(|| {
        let check = |done: u64| {
            Python::attach(|py| {
                let outcome = py.check_signals().and_then(|()| match &progress {
                    Some(cb) => cb.call1(py, (done,)).map(drop),
                    None => Ok(()),
                });
                outcome.map_err(|e| raised = Some(e)).is_ok()
            })
        };
        match output {
            Some(out) => run_stream(input, out, CHUNK, step, check),
            None => run_stream(input, io::sink(), CHUNK, step, check),
        }
    });
    result.map_err(|e| match e {
        StreamError::Data(e) => PyValueError::new_err(format!("{}: {e}", names.0)),
        StreamError::Read(e) => os_error(&e, names.0),
        StreamError::Write(e) => os_error(&e, names.1),
        StreamError::Stopped => {
            raised.take().unwrap_or_else(|| pyo3::exceptions::PyKeyboardInterrupt::new_err(()))
        }
    })
}

/// Encodes the whole of `in_fd` (UTF-8) into `out_fd`; returns (bytes read, bytes written).
#[pyfunction]
#[pyo3(signature = (scheme_name, in_fd, out_fd, *, errors, add_special_tokens, in_name, out_name, progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn _encode_fd(
    py: Python<'_>,
    scheme_name: &str,
    in_fd: i32,
    out_fd: i32,
    errors: &str,
    add_special_tokens: bool,
    in_name: &str,
    out_name: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<(u64, u64)> {
    let mut enc = StreamEncoder::new(scheme(scheme_name)?, input_errors(errors)?, add_special_tokens);
    let step = move |d: &[u8], last: bool, o: &mut Vec<Vec<u8>>| enc.encode(d, last, o);
    run_detached(py, in_fd, Some(out_fd), (in_name, out_name), progress, step)
}

/// Decodes the whole of `in_fd` into UTF-8 on `out_fd`; returns (bytes read, bytes written).
/// `errors`: "strict", "replace" or "surrogateescape" (strict for malformed
/// data, lone surrogates U+DC80..U+DCFF written back as bytes).
#[pyfunction]
#[pyo3(signature = (scheme_name, in_fd, out_fd, *, errors, skip_special_tokens, in_name, out_name, progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn _decode_fd(
    py: Python<'_>,
    scheme_name: &str,
    in_fd: i32,
    out_fd: i32,
    errors: &str,
    skip_special_tokens: bool,
    in_name: &str,
    out_name: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<(u64, u64)> {
    let (mode, surrogates) = match errors {
        "strict" => (ErrorMode::Strict, SurrogateOutput::Strict),
        "replace" => (ErrorMode::Replace, SurrogateOutput::Replace),
        "surrogateescape" => (ErrorMode::Strict, SurrogateOutput::SurrogateEscape),
        other => {
            return Err(PyValueError::new_err(format!(
                "errors must be 'strict', 'replace' or 'surrogateescape', not {other:?}"
            )))
        }
    };
    let opts = DecodeOptions { errors: mode, skip_special_tokens };
    let mut dec = StreamDecoder::new(Codec::new(scheme(scheme_name)?), opts, surrogates);
    let step = move |d: &[u8], last: bool, o: &mut Vec<Vec<u8>>| dec.decode(d, last, o);
    run_detached(py, in_fd, Some(out_fd), (in_name, out_name), progress, step)
}

/// (scheme, chars, bytes, filler, straddling)
type StatsRow = (&'static str, u64, u64, u64, u64);

/// Statistics of the whole of `in_fd`: a list of (scheme, chars, bytes,
/// filler, straddling) for each scheme, and the input's size in bytes.
#[pyfunction]
#[pyo3(signature = (in_fd, *, errors, in_name, progress = None))]
pub fn _stats_fd(
    py: Python<'_>,
    in_fd: i32,
    errors: &str,
    in_name: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Vec<StatsRow>, u64)> {
    let mut stats = StreamStats::new(input_errors(errors)?);
    let step = |d: &[u8], last: bool, _: &mut Vec<Vec<u8>>| stats.feed(d, last);
    run_detached(py, in_fd, None, (in_name, ""), progress, step)?;
    let (totals, size) = stats.finish();
    let rows = StreamStats::SCHEMES
        .iter()
        .zip(totals)
        .map(|(s, t)| (s.name(), t.chars, t.bytes, t.filler, t.straddling))
        .collect();
    Ok((rows, size))
}

type PackResult<'py> = (Bound<'py, PyBytes>, Bound<'py, PyBytes>, u64, Vec<(u64, usize, String)>);

/// Packs a block of whole JSONL lines. Returns (encoded documents, their
/// lengths as little-endian uint64, lines in the block, skipped lines as
/// (line index, byte offset, message)). Without `skip_invalid` a bad line
/// raises ValueError with args (message, line index, byte offset).
#[pyfunction]
#[pyo3(signature = (scheme_name, block, *, field, skip_invalid))]
pub fn _pack_jsonl<'py>(
    py: Python<'py>,
    scheme_name: &str,
    block: &Bound<'py, PyAny>,
    field: &str,
    skip_invalid: bool,
) -> PyResult<PackResult<'py>> {
    let codec = Codec::new(scheme(scheme_name)?);
    let buf = PyBuffer::<u8>::get(block)?;
    if !buf.is_c_contiguous() {
        return Err(PyValueError::new_err("block must be a contiguous buffer"));
    }
    // SAFETY: `buf` holds the exporter's buffer (it cannot be freed or
    // resized) until it is dropped at the end of this function; a concurrent
    // writer could only change which text we read, never memory safety of it
    // being there... the CLI passes immutable bytes.
    let data = unsafe { std::slice::from_raw_parts(buf.buf_ptr() as *const u8, buf.len_bytes()) };
    let packed = py
        .detach(|| pack_jsonl(&codec, data, field, skip_invalid))
        .map_err(|bad| PyValueError::new_err((bad.message, bad.line, bad.offset)))?;
    let total: usize = packed.pieces.iter().map(Vec::len).sum();
    let bytes = PyBytes::new_with(py, total, |out| {
        let mut at = 0;
        for p in &packed.pieces {
            out[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        Ok(())
    })?;
    let lens: Vec<u8> = packed.doc_lens.iter().flat_map(|l| l.to_le_bytes()).collect();
    let skipped = packed.skipped.into_iter().map(|b| (b.line, b.offset, b.message)).collect();
    Ok((bytes, PyBytes::new(py, &lens), packed.lines, skipped))
}

/// Registers the functions above on the `_native` module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_encode_fd, m)?)?;
    m.add_function(wrap_pyfunction!(_decode_fd, m)?)?;
    m.add_function(wrap_pyfunction!(_stats_fd, m)?)?;
    m.add_function(wrap_pyfunction!(_pack_jsonl, m)?)?;
    Ok(())
}
