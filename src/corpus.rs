//! Bindings for training shards (the `bygpt-corpus` crate): the shard
//! writer that `pack`, `merge` and the Arrow paths write through, opening
//! and checking shards. Arguments and errors are translated here; the work
//! runs in Rust with the GIL released. Python creates the output files and
//! renames them into place (sidecar last).

use std::fs::File;
use std::os::fd::{BorrowedFd, IntoRawFd, OwnedFd};

use bygpt_codec_core::{Codec, Scheme};
use bygpt_corpus::pack::{pack_jsonl_input, pack_text_input, JsonlInput, PackError, PackOptions, Summary};
use bygpt_corpus::shard::{self, ShardError, ShardWriter};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::parse_scheme;
use crate::stream::{borrow_fd, detach_with_checks, os_error, stopped};

/// A file of our own over the caller's descriptor (a duplicate, so that the
/// caller's file object stays in charge of its own).
fn dup_file(fd: i32) -> PyResult<File> {
    if fd < 0 {
        return Err(PyValueError::new_err(format!("bad file descriptor {fd}")));
    }
    // SAFETY: the caller keeps `fd` open during this call; it is only duplicated here.
    let owned = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
    Ok(File::from(owned))
}

fn shard_error(py: Python<'_>, e: ShardError) -> PyErr {
    match e {
        ShardError::Format { .. } => PyValueError::new_err(e.to_string()),
        ShardError::Io { file, error } => os_error(py, &error, &file),
    }
}

fn pack_error(py: Python<'_>, e: PackError, raised: Option<PyErr>) -> PyErr {
    match e {
        PackError::Bad { message, not_json } => {
            let err = PyValueError::new_err(message);
            let _ = err.value(py).setattr("not_json", not_json);
            err
        }
        PackError::Shard(e) => shard_error(py, e),
        PackError::Read(name, e) => os_error(py, &e, &name),
        PackError::Stopped => stopped(raised),
    }
}

fn scheme_opt(name: Option<&str>) -> PyResult<Option<Scheme>> {
    name.map(parse_scheme).transpose()
}

/// Writes one shard pair (see `bygpt_corpus::shard::ShardWriter`).
#[pyclass(module = "bygpt_codec._native", name = "_ShardWriter")]
pub struct PyShardWriter {
    inner: Option<ShardWriter>,
}

impl PyShardWriter {
    fn writer(&mut self) -> PyResult<&mut ShardWriter> {
        self.inner.as_mut().ok_or_else(|| PyRuntimeError::new_err("this shard writer is finished"))
    }
}

type Packed = (u64, u64, Vec<String>);

fn summary_tuple(s: Summary) -> Packed {
    (s.lines, s.skipped, s.examples)
}

#[pymethods]
impl PyShardWriter {
    /// Over two fresh, empty regular files open for reading and writing.
    #[new]
    fn new(
        py: Python<'_>,
        scheme: &str,
        bin_fd: i32,
        bin_name: &str,
        idx_fd: i32,
        idx_name: &str,
    ) -> PyResult<Self> {
        let scheme = parse_scheme(scheme)?;
        let w = ShardWriter::new(scheme, dup_file(bin_fd)?, bin_name, dup_file(idx_fd)?, idx_name)
            .map_err(|e| shard_error(py, e))?;
        Ok(PyShardWriter { inner: Some(w) })
    }

    /// Packs the JSONL lines of `in_fd` (with `slice` = (lo, hi): those that
    /// start in that byte range of the file). Returns (lines, skipped, the
    /// first few skipped, located).
    #[pyo3(signature = (in_fd, name, *, field, skip_invalid, slice = None, progress = None))]
    #[allow(clippy::too_many_arguments)]
    fn pack_jsonl(
        &mut self,
        py: Python<'_>,
        in_fd: i32,
        name: &str,
        field: &str,
        skip_invalid: bool,
        slice: Option<(u64, u64)>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Packed> {
        let w = self.writer()?;
        let codec = Codec::new(w.scheme());
        let input = borrow_fd(in_fd)?;
        let file: &File = &input;
        let opts = PackOptions::new(field, skip_invalid);
        let mut summary = Summary::default();
        let (result, raised) = detach_with_checks(py, progress, |check| {
            let source = JsonlInput { reader: file, name, slice: slice.map(|(lo, hi)| (file, lo, hi)) };
            pack_jsonl_input(w, &codec, &opts, source, &mut summary, check)
        });
        result.map_err(|e| pack_error(py, e, raised))?;
        Ok(summary_tuple(summary))
    }

    /// Packs the whole of `in_fd` as one document (UTF-8 text). Returns
    /// (0, skipped, examples) as `pack_jsonl` does.
    #[pyo3(signature = (in_fd, name, *, skip_invalid, progress = None))]
    fn pack_text(
        &mut self,
        py: Python<'_>,
        in_fd: i32,
        name: &str,
        skip_invalid: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Packed> {
        let w = self.writer()?;
        let input = borrow_fd(in_fd)?;
        let file: &File = &input;
        let opts = PackOptions::new("text", skip_invalid);
        let mut summary = Summary::default();
        let (result, raised) = detach_with_checks(py, progress, |check| {
            pack_text_input(w, w.scheme(), &opts, file, name, &mut summary, check)
        });
        result.map_err(|e| pack_error(py, e, raised))?;
        Ok(summary_tuple(summary))
    }

    /// Appends encoded documents: `data` holds them back to back, `lengths`
    /// (uint64) their sizes. Both are copied while the GIL is held.
    fn add(&mut self, py: Python<'_>, data: PyBuffer<u8>, lengths: PyBuffer<u64>) -> PyResult<()> {
        let data = data.to_vec(py)?;
        let lengths = lengths.to_vec(py)?;
        if lengths.iter().sum::<u64>() != data.len() as u64 {
            return Err(PyValueError::new_err("the lengths do not add up to the data's size"));
        }
        let w = self.writer()?;
        py.detach(|| w.write(&data).and_then(|()| w.add_lengths(lengths))).map_err(|e| shard_error(py, e))
    }

    /// Appends checked shards, in order (see `bygpt_corpus::shard::merge`).
    #[pyo3(signature = (inputs, *, scheme = None, progress = None))]
    fn merge(
        &mut self,
        py: Python<'_>,
        inputs: Vec<String>,
        scheme: Option<&str>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let scheme = scheme_opt(scheme)?;
        let w = self.writer()?;
        let (result, raised) =
            detach_with_checks(py, progress, |check| shard::merge(&inputs, scheme, w, check));
        match result {
            Ok(true) => Ok(()),
            Ok(false) => Err(stopped(raised)),
            Err(e) => Err(shard_error(py, e)),
        }
    }

    /// Writes the index and returns the sidecar's JSON text.
    fn finish(&mut self, py: Python<'_>) -> PyResult<String> {
        let w = self.inner.take().ok_or_else(|| PyRuntimeError::new_err("this shard writer is finished"))?;
        py.detach(|| w.finish()).map(|car| car.to_json()).map_err(|e| shard_error(py, e))
    }

    #[getter]
    fn documents(&mut self) -> PyResult<u64> {
        Ok(self.writer()?.documents())
    }

    #[getter]
    fn bytes(&mut self) -> PyResult<u64> {
        Ok(self.writer()?.bytes())
    }
}

/// (scheme, sequences, documents, one sequence per document, .bin bytes,
/// .bin fd, .idx fd)
type Opened = (&'static str, u64, u64, bool, u64, i32, i32);

/// Opens and checks a shard; returns what it holds and two new file
/// descriptors (the caller closes them) of the very files that were checked.
#[pyfunction]
#[pyo3(signature = (prefix, scheme = None))]
pub fn _open_shard(py: Python<'_>, prefix: &str, scheme: Option<&str>) -> PyResult<Opened> {
    let scheme = scheme_opt(scheme)?;
    let s = py.detach(|| shard::open_shard(prefix, scheme)).map_err(|e| shard_error(py, e))?;
    let ix = &s.index;
    let out = (s.scheme.name(), ix.sequences, ix.documents, ix.one_sequence_per_document, ix.bin_bytes);
    let bin = OwnedFd::from(s.bin).into_raw_fd();
    let idx = OwnedFd::from(s.idx).into_raw_fd();
    Ok((out.0, out.1, out.2, out.3, out.4, bin, idx))
}

/// Opens and checks a shard, then strictly decodes every document. Returns
/// (scheme, documents, .bin bytes).
#[pyfunction]
#[pyo3(signature = (prefix, scheme = None, progress = None))]
pub fn _check_shard(
    py: Python<'_>,
    prefix: &str,
    scheme: Option<&str>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(&'static str, u64, u64)> {
    let scheme = scheme_opt(scheme)?;
    let (result, raised) = detach_with_checks(py, progress, |check| {
        shard::open_shard(prefix, scheme).and_then(|s| shard::check_documents(&s, check).map(|ok| (ok, s)))
    });
    match result {
        Ok((true, s)) => Ok((s.scheme.name(), s.index.documents, s.index.bin_bytes)),
        Ok((false, _)) => Err(stopped(raised)),
        Err(e) => Err(shard_error(py, e)),
    }
}

/// Registers the shard bindings on the `_native` module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyShardWriter>()?;
    m.add_function(wrap_pyfunction!(_open_shard, m)?)?;
    m.add_function(wrap_pyfunction!(_check_shard, m)?)?;
    Ok(())
}
