//! Bindings for the command line's streaming work (the `bygpt-corpus` crate):
//! encode, decode and measure whole files between file descriptors with the
//! GIL released. The Python side opens files, names them in errors and
//! renames outputs. Shards are in `corpus.rs`.

use std::fs::File;
use std::io;
use std::mem::ManuallyDrop;

use bygpt_codec_core::{
    Codec, InputErrors, Scheme, StreamEncoder, StreamStats, Utf8Errors, Utf8StreamDecoder,
};
use bygpt_corpus::io::{run_stream, StreamError, CHUNK};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use crate::parse_scheme;

fn input_errors(errors: &str) -> PyResult<InputErrors> {
    InputErrors::from_name(errors).ok_or_else(|| {
        PyValueError::new_err(format!("errors must be 'strict' or 'surrogateescape', not {errors:?}"))
    })
}

/// A file descriptor the caller keeps open for the whole call, borrowed as a
/// `File` that is never closed here.
#[cfg(unix)]
pub(crate) fn borrow_fd(fd: i32) -> PyResult<ManuallyDrop<File>> {
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

/// OSError(errno, strerror, name), with the text from Python's `os.strerror`.
pub(crate) fn os_error(py: Python<'_>, e: &io::Error, name: &str) -> PyErr {
    let Some(code) = e.raw_os_error() else {
        return PyOSError::new_err(format!("{name}: {e}"));
    };
    let text = py
        .import("os")
        .and_then(|os| os.call_method1("strerror", (code,)))
        .and_then(|t| t.extract::<String>())
        .unwrap_or_else(|_| e.kind().to_string());
    PyOSError::new_err((code, text, name.to_string()))
}

type Step<'a, E> = Box<dyn FnMut(&[u8], bool, &mut Vec<Vec<u8>>) -> Result<(), E> + Send + 'a>;

/// Runs one stream with the GIL released. While it runs it takes the GIL
/// back between chunks (and when a read is interrupted) to check for Ctrl-C
/// and to call `progress(bytes_read)`; an exception from either stops the
/// run and is raised.
fn run_detached<E: std::fmt::Display + Send>(
    py: Python<'_>,
    in_fd: i32,
    out_fd: Option<i32>,
    names: (&str, &str),
    progress: Option<Py<PyAny>>,
    step: Step<'_, E>,
) -> PyResult<(u64, u64)> {
    let input_fd = borrow_fd(in_fd)?;
    let output_fd = out_fd.map(borrow_fd).transpose()?;
    let input: &File = &input_fd;
    let output: Option<&File> = output_fd.as_deref();
    let (result, raised) = detach_with_checks(py, progress, |check| match output {
        Some(out) => run_stream(input, out, CHUNK, step, check),
        None => run_stream(input, io::sink(), CHUNK, step, check),
    });
    result.map_err(|e| match e {
        StreamError::Data(e) => PyValueError::new_err(format!("{}: {e}", names.0)),
        StreamError::Read(e) => os_error(py, &e, names.0),
        StreamError::Write(e) => os_error(py, &e, names.1),
        StreamError::Stopped => stopped(raised),
    })
}

/// Runs `work` with the GIL released, giving it a check to call between
/// pieces of work with the bytes done so far: the check takes the GIL back
/// for Ctrl-C and `progress(done)`, and returns false (keeping the
/// exception, returned second) when either raised.
pub(crate) fn detach_with_checks<T: Send>(
    py: Python<'_>,
    progress: Option<Py<PyAny>>,
    work: impl FnOnce(&mut (dyn FnMut(u64) -> bool + Send)) -> T + Send,
) -> (T, Option<PyErr>) {
    let mut raised: Option<PyErr> = None;
    let result = py.detach(|| {
        let mut check = |done: u64| {
            Python::attach(|py| {
                let outcome = py.check_signals().and_then(|()| match &progress {
                    Some(cb) => cb.call1(py, (done,)).map(drop),
                    None => Ok(()),
                });
                outcome.map_err(|e| raised = Some(e)).is_ok()
            })
        };
        work(&mut check)
    });
    (result, raised)
}

/// The exception of a run its check stopped: what the callback raised, or Ctrl-C.
pub(crate) fn stopped(raised: Option<PyErr>) -> PyErr {
    raised.unwrap_or_else(|| pyo3::exceptions::PyKeyboardInterrupt::new_err(()))
}

/// Transcodes the whole of `in_fd` into `out_fd`; returns (bytes read,
/// bytes written). `direction` "encode": UTF-8 text in, `errors` "strict" or
/// "surrogateescape", `special_tokens` wraps the text in <|bos|>/<|eos|>.
/// "decode": encoded bytes in, UTF-8 out, `errors` "strict", "replace" or
/// "surrogateescape", `special_tokens` keeps special blocks as their names.
#[pyfunction]
#[pyo3(signature = (direction, scheme_name, in_fd, out_fd, *, errors, special_tokens, in_name, out_name, progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn _transcode_fd(
    py: Python<'_>,
    direction: &str,
    scheme_name: &str,
    in_fd: i32,
    out_fd: i32,
    errors: &str,
    special_tokens: bool,
    in_name: &str,
    out_name: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<(u64, u64)> {
    let scheme = parse_scheme(scheme_name)?;
    let names = (in_name, out_name);
    match direction {
        "encode" => {
            let mut enc = StreamEncoder::new(scheme, input_errors(errors)?, special_tokens);
            let step: Step<'_, _> = Box::new(move |d, last, o| enc.encode(d, last, o));
            run_detached(py, in_fd, Some(out_fd), names, progress, step)
        }
        "decode" => {
            let policy = Utf8Errors::from_name(errors).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "errors must be 'strict', 'replace' or 'surrogateescape', not {errors:?}"
                ))
            })?;
            let mut dec = Utf8StreamDecoder::new(Codec::new(scheme), policy, !special_tokens);
            let step: Step<'_, _> = Box::new(move |d, last, o| dec.decode(d, last, o));
            run_detached(py, in_fd, Some(out_fd), names, progress, step)
        }
        other => Err(PyValueError::new_err(format!("direction must be 'encode' or 'decode', not {other:?}"))),
    }
}

/// (scheme, chars, bytes, filler, straddling)
type StatsRow = (&'static str, u64, u64, u64, u64);

/// Statistics of the whole of `in_fd` under every scheme: a list of (scheme,
/// chars, bytes, filler, straddling), and the input's size in bytes.
#[pyfunction]
#[pyo3(signature = (in_fd, *, errors, in_name, progress = None))]
pub fn _stats_fd(
    py: Python<'_>,
    in_fd: i32,
    errors: &str,
    in_name: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Vec<StatsRow>, u64)> {
    let mut stats = StreamStats::new(&Scheme::ALL, input_errors(errors)?);
    let totals = {
        let stats = &mut stats;
        let step: Step<'_, _> = Box::new(move |d, last, _| stats.feed(d, last));
        run_detached(py, in_fd, None, (in_name, ""), progress, step)?
    };
    let rows = stats
        .finish()
        .into_iter()
        .map(|(s, t)| (s.name(), t.chars, t.bytes, t.filler, t.straddling))
        .collect();
    Ok((rows, totals.0))
}

/// Registers the functions above on the `_native` module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_transcode_fd, m)?)?;
    m.add_function(wrap_pyfunction!(_stats_fd, m)?)?;
    Ok(())
}
