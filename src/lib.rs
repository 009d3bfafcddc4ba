//! Python bindings for bygpt-codec-core: argument conversion only.
//!
//! `str` arguments are read in place (their Latin-1/UCS-2/UCS-4 storage), and
//! the GIL is released around any large amount of work.

use bygpt_codec_core::{
    jpblock, Codec, DecodeError, DecodeOptions, EncodeOptions, ErrorMode, IncrementalDecoder, NarrowBuffer,
    NarrowText, PaddingSide, Scheme, Stats, TextRef,
};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyMemoryError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::string::PyStringData;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyInt, PyList, PyString};

mod stream;

/// Work below this many units stays on the calling thread with the GIL held:
/// releasing it costs more than it saves on short texts.
const DETACH_MIN: usize = 1 << 16;

fn text_ref<'a>(s: &'a Bound<'_, PyString>) -> PyResult<TextRef<'a>> {
    // SAFETY: a str is immutable and `s` keeps it alive while the slice is used.
    Ok(match unsafe { s.data() }? {
        PyStringData::Ucs1(b) => TextRef::Latin1(b),
        PyStringData::Ucs2(u) => TextRef::Ucs2(u),
        PyStringData::Ucs4(u) => TextRef::Ucs4(u),
    })
}

fn parse_scheme(name: &str) -> PyResult<Scheme> {
    Scheme::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Scheme::ALL.iter().map(|s| s.name()).collect();
        PyValueError::new_err(format!("unknown scheme {name:?}; known schemes: {}", known.join(", ")))
    })
}

fn parse_errors(errors: &str) -> PyResult<ErrorMode> {
    match errors {
        "strict" => Ok(ErrorMode::Strict),
        "replace" => Ok(ErrorMode::Replace),
        other => Err(PyValueError::new_err(format!("errors must be 'strict' or 'replace', not {other:?}"))),
    }
}

/// Raises bygpt_codec.DecodeError (a ValueError with .position and .row).
fn decode_error(py: Python<'_>, e: &DecodeError, row: Option<usize>) -> PyErr {
    let msg = match row {
        Some(r) => format!("row {r}: {e}"),
        None => e.to_string(),
    };
    match py.import("bygpt_codec._errors").and_then(|m| m.getattr("DecodeError")) {
        Ok(cls) => match cls.call1((msg, e.position, row)) {
            Ok(inst) => PyErr::from_value(inst),
            Err(err) => err,
        },
        Err(err) => err,
    }
}

/// A Python str from decoded text. The storage kind is known, so the str is
/// allocated at its final size and filled with one copy (no re-scan).
fn py_str<'py>(py: Python<'py>, text: &NarrowText) -> PyResult<Bound<'py, PyString>> {
    let (len, maxchar, src, unit) = match text {
        NarrowText::Latin1(v) => (v.len(), if v.is_ascii() { 0x7F } else { 0xFF }, v.as_ptr(), 1),
        NarrowText::Ucs2(v) => (v.len(), 0xFFFF, v.as_ptr() as *const u8, 2),
        NarrowText::Ucs4(v) => (v.len(), 0x10_FFFF, v.as_ptr() as *const u8, 4),
    };
    // SAFETY: PyUnicode_New returns a fresh str of `len` code points whose
    // kind is exactly `unit` bytes (maxchar picks the same bucket CPython would
    // for this text, so the str is canonical); we fill it before anyone sees it.
    unsafe {
        let obj = pyo3::ffi::PyUnicode_New(len as isize, maxchar);
        let obj = Bound::from_owned_ptr_or_err(py, obj)?;
        std::ptr::copy_nonoverlapping(src, pyo3::ffi::PyUnicode_DATA(obj.as_ptr()) as *mut u8, len * unit);
        Ok(obj.cast_into_unchecked())
    }
}

/// Bytes of any accepted input: bytes, bytearray, uint8 buffers directly;
/// anything else (int arrays, tensors, lists of ints) through the Python helper,
/// which checks every value is in 0..=255.
fn with_bytes<R>(data: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> PyResult<R>) -> PyResult<R> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return f(b.as_bytes());
    }
    if let Ok(b) = data.cast::<PyByteArray>() {
        return f(&b.to_vec());
    }
    if let Ok(buf) = PyBuffer::<u8>::get(data) {
        if buf.dimensions() > 1 {
            return Err(PyValueError::new_err(format!(
                "expected one row of bytes (1-D), got a buffer of shape {:?}; use decode_batch for a batch",
                buf.shape()
            )));
        }
        return f(&buf.to_vec(data.py())?);
    }
    let py = data.py();
    let converted = py.import("bygpt_codec._convert")?.call_method1("as_bytes", (data,))?;
    f(converted.cast::<PyBytes>()?.as_bytes())
}

fn maybe_detach<T: Send>(py: Python<'_>, size: usize, f: impl FnOnce() -> T + Send) -> T {
    if size >= DETACH_MIN {
        py.detach(f)
    } else {
        f()
    }
}

/// The codec. Immutable: share one between threads freely.
#[pyclass(module = "bygpt_codec._native", name = "_Codec", subclass, frozen)]
struct PyCodec {
    codec: Codec,
}

#[pymethods]
impl PyCodec {
    #[new]
    #[pyo3(signature = (scheme = "jpblock", special_tokens = None))]
    fn new(scheme: &str, special_tokens: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let scheme = parse_scheme(scheme)?;
        let extra: Vec<(String, u32)> = match special_tokens {
            None => Vec::new(),
            Some(obj) if obj.is_instance_of::<PyDict>() => obj
                .cast::<PyDict>()?
                .iter()
                .map(|(k, v)| {
                    let name: String = k.extract()?;
                    // Extract wide and range-check here, so a negative or huge id is
                    // a ValueError naming the token rather than an OverflowError.
                    if !v.is_instance_of::<PyInt>() {
                        return Err(PyTypeError::new_err(format!(
                            "special token {name:?} id must be an int"
                        )));
                    }
                    let id = v.extract::<u32>().map_err(|_| {
                        PyValueError::new_err(format!(
                            "special token {name:?} has id {v}; extra ids must be in 256..=16777215"
                        ))
                    })?;
                    Ok((name, id))
                })
                .collect::<PyResult<_>>()?,
            Some(obj) if obj.is_instance_of::<PyString>() => {
                return Err(PyTypeError::new_err(
                    "special_tokens must be a dict of name -> id or a list of names",
                ))
            }
            Some(obj) => {
                let names: Vec<String> = obj.extract()?;
                names.into_iter().zip(256u32..).collect()
            }
        };
        let codec =
            Codec::with_special_tokens(scheme, extra).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self { codec })
    }

    /// The scheme's name: "jpblock" or "utf8".
    #[getter]
    fn scheme(&self) -> &'static str {
        self.codec.scheme().name()
    }

    /// Every special token as (name, id), sorted by id.
    fn _special_tokens(&self) -> Vec<(String, u32)> {
        self.codec.special_tokens().iter().map(|(n, i)| (n.to_string(), i)).collect()
    }

    /// The 4-byte block of a special token.
    fn special_bytes<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyBytes>> {
        match self.codec.special_block(name) {
            Some(block) => Ok(PyBytes::new(py, &block)),
            None => {
                let known: Vec<String> =
                    self.codec.special_tokens().iter().map(|(n, _)| n.to_string()).collect();
                Err(PyValueError::new_err(format!(
                    "unknown special token {name:?}; known: {}",
                    known.join(", ")
                )))
            }
        }
    }

    /// Encodes a str; the result's length is a multiple of 4.
    #[pyo3(signature = (text, *, parse_special = false, add_special_tokens = false))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &Bound<'py, PyString>,
        parse_special: bool,
        add_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let t = text_ref(text)?;
        let opts = EncodeOptions { parse_special, add_special_tokens, max_len: None };
        let (bytes, _) = maybe_detach(py, t.units(), || self.codec.encode(t, &opts))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Decodes bytes (or any buffer of uint8, or integers in 0..=255) to str.
    #[pyo3(signature = (data, *, errors = "strict", skip_special_tokens = false))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        errors: &str,
        skip_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyString>> {
        let opts = DecodeOptions { errors: parse_errors(errors)?, skip_special_tokens };
        with_bytes(data, |bytes| {
            let cps = maybe_detach(py, bytes.len(), || {
                let mut sink = NarrowBuffer::with_capacity(bytes.len());
                self.codec.decode_into(bytes, &opts, &mut sink).map(|()| sink.into_narrow())
            })
            .map_err(|e| decode_error(py, &e, None))?;
            py_str(py, &cps)
        })
    }

    /// Encodes a list of str into one buffer: ids (rows*width) then mask.
    /// Returns (ids, mask, rows, width). With `int64`, each value takes 8 bytes
    /// (little-endian int64, for torch). Argument checks live in the Python layer.
    #[pyo3(signature = (texts, *, left, max_length, truncation, pad_to_max_length, parse_special, add_special_tokens, int64 = false))]
    #[allow(clippy::too_many_arguments)]
    fn _encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyList>,
        left: bool,
        max_length: Option<usize>,
        truncation: bool,
        pad_to_max_length: bool,
        parse_special: bool,
        add_special_tokens: bool,
        int64: bool,
    ) -> PyResult<(Bound<'py, PyByteArray>, Bound<'py, PyByteArray>, usize, usize)> {
        let strings: Vec<Bound<'py, PyString>> = texts
            .iter()
            .enumerate()
            .map(|(k, t)| {
                t.cast_into::<PyString>().map_err(|e| {
                    PyTypeError::new_err(format!("texts[{k}] must be str, not {}", e.into_inner().get_type()))
                })
            })
            .collect::<PyResult<_>>()?;
        let refs: Vec<TextRef<'_>> = strings.iter().map(text_ref).collect::<PyResult<_>>()?;
        let opts =
            EncodeOptions { parse_special, add_special_tokens, max_len: max_length.filter(|_| truncation) };
        let units: usize = refs.iter().map(TextRef::units).sum();
        let rows = maybe_detach(py, units, || self.codec.encode_batch(&refs, &opts))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let longest = rows.iter().map(Vec::len).max().unwrap_or(0);
        if let Some(max) = max_length {
            if let Some((k, row)) = rows.iter().enumerate().find(|(_, r)| r.len() > max) {
                return Err(PyValueError::new_err(format!(
                    "row {k} encodes to {} bytes, over max_length {max}; pass truncation=True to cut it",
                    row.len()
                )));
            }
        }
        let width = match max_length {
            Some(max) if pad_to_max_length => max,
            _ => longest,
        };
        let side = if left { PaddingSide::Left } else { PaddingSide::Right };
        // Checked: a huge max_length with padding="max_length" must be a
        // MemoryError, not an overflow that panics further down.
        let unit = if int64 { 8 } else { 1 };
        let n =
            rows.len().checked_mul(width * unit).filter(|n| n.checked_mul(2).is_some()).ok_or_else(|| {
                PyMemoryError::new_err(format!("a batch of {} rows x {width} bytes is too large", rows.len()))
            })?;
        // Two buffers, not one of twice the size: glibc serves blocks over its
        // mmap threshold (up to 32 MB) with fresh pages, and page faults then
        // dominate a large int64 batch.
        let mut mask_buf: Option<Bound<'py, PyByteArray>> = None;
        let out = PyByteArray::new_with(py, n, |ids| {
            mask_buf = Some(PyByteArray::new_with(py, n, |mask| {
                maybe_detach(py, n, || {
                    if int64 {
                        bygpt_codec_core::fill_padded_i64(&rows, width, side, ids, mask)
                    } else {
                        bygpt_codec_core::fill_padded(&rows, width, side, ids, mask)
                    }
                });
                Ok(())
            })?);
            Ok(())
        })?;
        let mask = mask_buf.expect("new_with ran its closure");
        Ok((out, mask, rows.len(), width))
    }

    /// Decodes a list of bytes objects, in parallel for large batches.
    #[pyo3(signature = (rows, *, errors, skip_special_tokens))]
    fn _decode_rows<'py>(
        &self,
        py: Python<'py>,
        rows: Vec<Bound<'py, PyBytes>>,
        errors: &str,
        skip_special_tokens: bool,
    ) -> PyResult<Vec<Bound<'py, PyString>>> {
        let opts = DecodeOptions { errors: parse_errors(errors)?, skip_special_tokens };
        let slices: Vec<&[u8]> = rows.iter().map(|r| r.as_bytes()).collect();
        self.decode_slices(py, &slices, &opts)
    }

    /// Decodes a C-contiguous uint8 matrix (any buffer) given its row width.
    /// The buffer is read in place: a caller that mutates it from another
    /// thread meanwhile gets unspecified text, never a crash.
    #[pyo3(signature = (matrix, width, *, errors, skip_special_tokens))]
    fn _decode_matrix<'py>(
        &self,
        py: Python<'py>,
        matrix: &Bound<'py, PyAny>,
        width: usize,
        errors: &str,
        skip_special_tokens: bool,
    ) -> PyResult<Vec<Bound<'py, PyString>>> {
        let opts = DecodeOptions { errors: parse_errors(errors)?, skip_special_tokens };
        let buf = PyBuffer::<u8>::get(matrix)?;
        if !buf.is_c_contiguous() {
            return Err(PyValueError::new_err("matrix must be C-contiguous"));
        }
        if width == 0 || buf.len_bytes() % width != 0 {
            return Err(PyValueError::new_err(format!(
                "width {width} does not divide {} bytes",
                buf.len_bytes()
            )));
        }
        // SAFETY: `buf` holds the exporter's buffer (it cannot be freed or
        // resized) until it is dropped at the end of this function.
        let data = unsafe { std::slice::from_raw_parts(buf.buf_ptr() as *const u8, buf.len_bytes()) };
        let slices: Vec<&[u8]> = data.chunks(width).collect();
        self.decode_slices(py, &slices, &opts)
    }

    /// A streaming decoder: feed chunks, get text as soon as it is complete.
    #[pyo3(signature = (*, errors = "strict", skip_special_tokens = false))]
    fn incremental_decoder(&self, errors: &str, skip_special_tokens: bool) -> PyResult<PyIncrementalDecoder> {
        let opts = DecodeOptions { errors: parse_errors(errors)?, skip_special_tokens };
        Ok(PyIncrementalDecoder { inner: self.codec.incremental_decoder(opts) })
    }

    /// The automaton of valid encoded streams: (next as little-endian int32
    /// `[states * 256]` with -1 for an invalid byte, start state, code_start
    /// per state, block offset per state).
    fn _byte_automaton<'py>(&self, py: Python<'py>) -> (Bound<'py, PyBytes>, u32, Vec<bool>, Vec<u8>) {
        let a = bygpt_codec_core::byte_automaton(&self.codec);
        let next: Vec<u8> = a.next.iter().flat_map(|&t| (t as i32).to_le_bytes()).collect();
        (PyBytes::new(py, &next), a.start, a.code_start, a.offset)
    }

    /// (chars, bytes, filler, straddling) of `text` under this codec's scheme.
    fn _stats(&self, py: Python<'_>, text: &Bound<'_, PyString>) -> PyResult<(u64, u64, u64, u64)> {
        let t = text_ref(text)?;
        let s = maybe_detach(py, t.units(), || Stats::measure(self.codec.scheme(), t));
        Ok((s.chars, s.bytes, s.filler, s.straddling))
    }
}

impl PyCodec {
    /// Decodes rows (in parallel, without the GIL, when large) into strs.
    fn decode_slices<'py>(
        &self,
        py: Python<'py>,
        rows: &[&[u8]],
        opts: &DecodeOptions,
    ) -> PyResult<Vec<Bound<'py, PyString>>> {
        let total = rows.iter().map(|r| r.len()).sum();
        let decoded = maybe_detach(py, total, || {
            self.codec.decode_batch_with(rows, opts, NarrowBuffer::with_capacity, NarrowBuffer::into_narrow)
        })
        .map_err(|(k, e)| decode_error(py, &e, Some(k)))?;
        decoded.iter().map(|t| py_str(py, t)).collect()
    }
}

/// Decodes a byte stream chunk by chunk; the joined output equals one-shot decoding.
#[pyclass(module = "bygpt_codec._native", name = "IncrementalDecoder")]
struct PyIncrementalDecoder {
    inner: IncrementalDecoder,
}

#[pymethods]
impl PyIncrementalDecoder {
    /// Decodes `chunk`; with final=True an unfinished code at the end is an
    /// error (or U+FFFD) and the decoder is ready for a new stream.
    #[pyo3(signature = (chunk, r#final = false))]
    fn decode<'py>(
        &mut self,
        py: Python<'py>,
        chunk: &Bound<'py, PyAny>,
        r#final: bool,
    ) -> PyResult<Bound<'py, PyString>> {
        let inner = &mut self.inner;
        with_bytes(chunk, |bytes| {
            let mut sink = NarrowBuffer::with_capacity(bytes.len());
            inner.decode(bytes, r#final, &mut sink).map_err(|e| decode_error(py, &e, None))?;
            py_str(py, &sink.into_narrow())
        })
    }

    /// Forgets any held bytes and starts a new stream at offset 0.
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// Bytes of the stream consumed so far.
    #[getter]
    fn position(&self) -> u64 {
        self.inner.position()
    }
}

/// The jpblock 2-byte table, for tests that re-derive it.
#[pyfunction]
fn _jp_table() -> Vec<u16> {
    jpblock::TABLE.to_vec()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCodec>()?;
    m.add_class::<PyIncrementalDecoder>()?;
    m.add_function(wrap_pyfunction!(_jp_table, m)?)?;
    stream::register(m)?;
    m.add("BLOCK", bygpt_codec_core::BLOCK)?;
    m.add("FILLER", bygpt_codec_core::FILLER)?;
    m.add("SPECIAL_LEAD", bygpt_codec_core::SPECIAL_LEAD)?;
    m.add("BOS_ID", bygpt_codec_core::BOS_ID)?;
    m.add("EOS_ID", bygpt_codec_core::EOS_ID)?;
    m.add("MASK_ID", bygpt_codec_core::MASK_ID)?;
    m.add("BOS", bygpt_codec_core::BOS)?;
    m.add("EOS", bygpt_codec_core::EOS)?;
    m.add("MASK", bygpt_codec_core::MASK)?;
    m.add("FIRST_USER_SPECIAL_ID", bygpt_codec_core::FIRST_USER_ID)?;
    m.add("SCHEMES", Scheme::ALL.iter().map(|s| s.name()).collect::<Vec<_>>())?;
    Ok(())
}
