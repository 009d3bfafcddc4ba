//! Python bindings for bygpt-codec-core: argument and error translation only.
//!
//! `str` arguments are read in place (their Latin-1/UCS-2/UCS-4 storage), and
//! the GIL is released around any large amount of work. With the `abi3`
//! feature (the portable wheel) only the stable ABI is used, which costs a
//! copy of each non-ASCII `str` in and out.

use std::sync::Mutex;

use bygpt_codec_core::{
    byte_automaton, special_tokens_mask, truncate_rows, Codec, DecodeError, DecodeOptions, Decoder,
    EncodeOptions, ErrorMode, Layout, LayoutError, NarrowBuffer, NarrowText, Scheme, Side, Stats, TextRef,
    PARALLEL_MIN,
};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
#[cfg(not(feature = "abi3"))]
use pyo3::types::string::PyStringData;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyInt, PyList, PyString};

mod corpus;
mod stream;

/// A `str`'s code points for the encoder. With the full C API its storage is
/// read in place. Under the stable ABI (the abi3 wheel), which hides that
/// storage, ASCII is still read in place and other text is copied out once as
/// UCS-4.
enum PyText<'a> {
    Borrowed(TextRef<'a>),
    #[cfg(feature = "abi3")]
    Owned(Vec<u32>),
}

impl PyText<'_> {
    fn get(&self) -> TextRef<'_> {
        match self {
            PyText::Borrowed(t) => *t,
            #[cfg(feature = "abi3")]
            PyText::Owned(v) => TextRef::Ucs4(v),
        }
    }
}

#[cfg(not(feature = "abi3"))]
fn text_ref<'a>(s: &'a Bound<'_, PyString>) -> PyResult<PyText<'a>> {
    // SAFETY: a str is immutable and `s` keeps it alive while the slice is used.
    Ok(PyText::Borrowed(match unsafe { s.data() }? {
        PyStringData::Ucs1(b) => TextRef::Latin1(b),
        PyStringData::Ucs2(u) => TextRef::Ucs2(u),
        PyStringData::Ucs4(u) => TextRef::Ucs4(u),
    }))
}

#[cfg(feature = "abi3")]
fn text_ref<'a>(s: &'a Bound<'_, PyString>) -> PyResult<PyText<'a>> {
    use pyo3::ffi;
    let py = s.py();
    if s.call_method0(pyo3::intern!(py, "isascii"))?.is_truthy()? {
        let mut size: ffi::Py_ssize_t = 0;
        // SAFETY: the UTF-8 form of an ASCII str is its own storage, which
        // lives (unchanged) as long as `s`.
        let p = unsafe { ffi::PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
        if p.is_null() {
            return Err(PyErr::fetch(py));
        }
        let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), size as usize) };
        return Ok(PyText::Borrowed(TextRef::Latin1(bytes)));
    }
    // SAFETY: `s` is a str; PyUnicode_AsUCS4 writes exactly `n` code points
    // (no terminator) into a buffer of capacity `n` and fails otherwise.
    unsafe {
        let n = ffi::PyUnicode_GetLength(s.as_ptr());
        if n < 0 {
            return Err(PyErr::fetch(py));
        }
        let mut v: Vec<u32> = Vec::with_capacity(n as usize);
        if ffi::PyUnicode_AsUCS4(s.as_ptr(), v.as_mut_ptr(), n, 0).is_null() {
            return Err(PyErr::fetch(py));
        }
        v.set_len(n as usize);
        Ok(PyText::Owned(v))
    }
}

fn strings<'py>(texts: &Bound<'py, PyList>) -> PyResult<Vec<Bound<'py, PyString>>> {
    texts
        .iter()
        .enumerate()
        .map(|(k, t)| {
            t.cast_into::<PyString>().map_err(|e| {
                PyTypeError::new_err(format!("texts[{k}] must be str, not {}", e.into_inner().get_type()))
            })
        })
        .collect()
}

fn parse_scheme(name: &str) -> PyResult<Scheme> {
    Scheme::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Scheme::ALL.iter().map(|s| s.name()).collect();
        PyValueError::new_err(format!("unknown scheme {name:?}; known schemes: {}", known.join(", ")))
    })
}

fn parse_errors(errors: &str) -> PyResult<ErrorMode> {
    ErrorMode::from_name(errors)
        .ok_or_else(|| PyValueError::new_err(format!("errors must be 'strict' or 'replace', not {errors:?}")))
}

fn parse_side(what: &str, side: &str) -> PyResult<Side> {
    Side::from_name(side)
        .ok_or_else(|| PyValueError::new_err(format!("{what} must be 'right' or 'left', not {side:?}")))
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

fn layout_error(e: LayoutError) -> PyErr {
    match e {
        LayoutError::TooLarge { .. } => PyMemoryError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// A Python str from decoded text. The storage kind is known, so the str is
/// allocated at its final size and filled in one pass (no re-scan).
#[cfg(not(feature = "abi3"))]
fn py_str<'py>(py: Python<'py>, text: NarrowText<'_>) -> PyResult<Bound<'py, PyString>> {
    let (len, maxchar) = match text {
        NarrowText::Ucs2 { units, bucket } => (units.len(), u32::from(bucket)),
        NarrowText::Ucs4(cps) => (cps.len(), 0x10_FFFF),
    };
    // SAFETY: PyUnicode_New returns a fresh str of `len` code points whose
    // kind is 1 byte for a bucket up to 0xFF, 2 up to 0xFFFF, else 4 (the
    // bucket is the one CPython would pick for this text, so the str is
    // canonical); each arm writes exactly `len` units of that kind before
    // anyone sees the str.
    unsafe {
        let obj = pyo3::ffi::PyUnicode_New(len as isize, maxchar);
        let obj = Bound::from_owned_ptr_or_err(py, obj)?;
        let data = pyo3::ffi::PyUnicode_DATA(obj.as_ptr());
        match text {
            NarrowText::Ucs2 { units, bucket } if bucket <= 0xFF => {
                let dst = std::slice::from_raw_parts_mut(data as *mut u8, len);
                dst.iter_mut().zip(units).for_each(|(d, &u)| *d = u as u8);
            }
            NarrowText::Ucs2 { units, .. } => {
                std::ptr::copy_nonoverlapping(units.as_ptr(), data as *mut u16, len)
            }
            NarrowText::Ucs4(cps) => std::ptr::copy_nonoverlapping(cps.as_ptr(), data as *mut u32, len),
        }
        Ok(obj.cast_into_unchecked())
    }
}

/// A Python str from decoded text, through the stable ABI's decoders (the
/// abi3 wheel): UTF-16 when no surrogate is present (so none can pair up;
/// CPython narrows Latin-1 itself), else UTF-32 with `surrogatepass`, so lone
/// surrogates survive.
#[cfg(feature = "abi3")]
fn py_str<'py>(py: Python<'py>, text: NarrowText<'_>) -> PyResult<Bound<'py, PyString>> {
    use pyo3::ffi;
    const NATIVE: std::os::raw::c_int = if cfg!(target_endian = "little") { -1 } else { 1 };
    fn utf32(v: &[u32]) -> *mut ffi::PyObject {
        let mut order = NATIVE;
        // SAFETY: the pointer and byte length describe `v`; the handler name is a C string.
        unsafe {
            ffi::PyUnicode_DecodeUTF32(
                v.as_ptr().cast(),
                (v.len() * 4) as isize,
                c"surrogatepass".as_ptr(),
                &mut order,
            )
        }
    }
    let obj = match text {
        NarrowText::Ucs2 { units, .. } if !units.iter().any(|u| (0xD800..0xE000).contains(u)) => {
            let mut order = NATIVE;
            // SAFETY: the pointer and byte length describe `units`.
            unsafe {
                ffi::PyUnicode_DecodeUTF16(
                    units.as_ptr().cast(),
                    (units.len() * 2) as isize,
                    std::ptr::null(),
                    &mut order,
                )
            }
        }
        NarrowText::Ucs2 { units, .. } => utf32(&units.iter().map(|&u| u32::from(u)).collect::<Vec<u32>>()),
        NarrowText::Ucs4(cps) => utf32(cps),
    };
    // SAFETY: each decoder returns a new reference to a str, or NULL with an exception set.
    unsafe { Ok(Bound::from_owned_ptr_or_err(py, obj)?.cast_into_unchecked()) }
}

/// Memory for decoded batch rows, kept between calls. A batch's rows are
/// decoded on worker threads and freed on the caller's once they are strs;
/// glibc hands such freed memory straight back to the OS (madvise), so
/// without reuse every call page-faults its whole output in again, which
/// made batch decoding 1.7x slower on one thread (measured, 2,000 rows of
/// 1,000 characters). At most `SCRATCH_UNITS` UTF-16 units are kept.
static SCRATCH: Mutex<Vec<Vec<u16>>> = Mutex::new(Vec::new());
const SCRATCH_UNITS: usize = 8 << 20; // 16 MiB

fn scratch_buffer(capacity: usize) -> NarrowBuffer {
    let storage = SCRATCH.lock().ok().and_then(|mut pool| pool.pop()).unwrap_or_default();
    NarrowBuffer::reusing(storage, capacity)
}

fn return_scratch(buffers: Vec<NarrowBuffer>) {
    let Ok(mut pool) = SCRATCH.lock() else { return };
    let mut kept: usize = pool.iter().map(Vec::capacity).sum();
    for b in buffers {
        let storage = b.recycle();
        kept += storage.capacity();
        if kept > SCRATCH_UNITS {
            break;
        }
        pool.push(storage);
    }
}

/// Input bytes, and whether the GIL may be released while they are read.
#[derive(Clone, Copy)]
struct Input<'a> {
    data: &'a [u8],
    /// Nothing can write them: an immutable `bytes`, or our own copy.
    frozen: bool,
}

/// Bytes of any accepted input. `bytes` are immutable and read in place,
/// with the GIL released for large work. Any other C-contiguous buffer
/// (bytearray, numpy, memoryview) is also read in place, but with the GIL
/// held throughout, so that no Python code can write it meanwhile (work is
/// still spread over threads). Other buffers are copied. C-contiguous int64
/// buffers are narrowed to bytes here, every value checked to be in 0..=255;
/// anything else (other int arrays, tensors, lists of ints) goes through the
/// Python helper, which checks the same.
fn with_bytes<R>(data: &Bound<'_, PyAny>, f: impl FnOnce(Input<'_>) -> PyResult<R>) -> PyResult<R> {
    with_buffer(data, false, f)
}

/// [`with_bytes`], also accepting a matrix when `matrix` is set (then any
/// layout the Python helper converts: strided, big-endian, other int types).
fn with_buffer<R>(
    data: &Bound<'_, PyAny>,
    matrix: bool,
    f: impl FnOnce(Input<'_>) -> PyResult<R>,
) -> PyResult<R> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return f(Input { data: b.as_bytes(), frozen: true });
    }
    if let Ok(buf) = PyBuffer::<u8>::get(data) {
        if buf.dimensions() > 1 && !matrix {
            return Err(PyValueError::new_err(format!(
                "expected one row of bytes (1-D), got a buffer of shape {:?}; use decode_batch for a batch",
                buf.shape()
            )));
        }
        if buf.is_c_contiguous() {
            // SAFETY: `buf` holds the exporter's buffer (it cannot be freed or
            // resized) until it is dropped at the end of this function, and the
            // GIL stays held while the slice is read (`frozen: false`), so no
            // Python code can write it meanwhile.
            let data = unsafe { std::slice::from_raw_parts(buf.buf_ptr() as *const u8, buf.len_bytes()) };
            return f(Input { data, frozen: false });
        }
        return f(Input { data: &buf.to_vec(data.py())?, frozen: true });
    }
    // int64 ids (numpy, or a torch tensor's .numpy()): what models hand back.
    // Narrowed here in one pass, instead of numpy's min, max and astype.
    if let Ok(buf) = PyBuffer::<i64>::get(data) {
        // PyBuffer's format check ignores the byte order: ">q" passes it.
        let native = match buf.format().to_bytes().first() {
            Some(b'>' | b'!') => cfg!(target_endian = "big"),
            Some(b'<') => cfg!(target_endian = "little"),
            _ => true,
        };
        if native && buf.is_c_contiguous() && buf.dimensions() == if matrix { 2 } else { 1 } {
            // SAFETY: as above: the buffer is held until dropped and the GIL
            // stays held while the slice is read and copied; get() has checked
            // the item size and alignment. An empty buffer may have no storage.
            let ids: &[i64] = match buf.item_count() {
                0 => &[],
                n => unsafe { std::slice::from_raw_parts(buf.buf_ptr() as *const i64, n) },
            };
            let narrowed = narrow_to_bytes(ids).map_err(|(at, value)| {
                PyValueError::new_err(format!(
                    "byte values must be in 0..255; found {value} at flat index {at}"
                ))
            })?;
            return f(Input { data: &narrowed, frozen: true });
        }
    }
    let py = data.py();
    let convert = py.import("bygpt_codec._convert")?;
    let converted = if matrix {
        convert.call_method1("as_uint8_matrix", (data,))?.get_item(0)?
    } else {
        convert.call_method1("as_bytes", (data,))?
    };
    f(Input { data: converted.cast::<PyBytes>()?.as_bytes(), frozen: true })
}

/// `ids` as bytes, or the first id outside 0..=255 (its index and value).
fn narrow_to_bytes(ids: &[i64]) -> Result<Vec<u8>, (usize, i64)> {
    // Checked a few thousand at a time without branching per id (vectorised),
    // then narrowed in a second vectorised pass.
    const RUN: usize = 4096;
    for (k, run) in ids.chunks(RUN).enumerate() {
        if run.iter().fold(0u64, |acc, &v| acc | (v as u64 >> 8)) != 0 {
            let i = run.iter().position(|v| !(0..=255).contains(v)).unwrap_or(0);
            return Err((k * RUN + i, run[i]));
        }
    }
    // Truncating cast: every id is in 0..=255 here.
    Ok(ids.iter().map(|&v| v as u8).collect())
}

/// Runs `f` with the GIL released when the work is large and `frozen` says
/// nothing it reads can be written meanwhile.
fn maybe_detach<T: Send>(py: Python<'_>, size: usize, frozen: bool, f: impl FnOnce() -> T + Send) -> T {
    if size >= PARALLEL_MIN && frozen {
        py.detach(f)
    } else {
        f()
    }
}

/// The padded buffers of a batch: (ids, mask, special mask or None, rows, width).
type Batch<'py> =
    (Bound<'py, PyByteArray>, Bound<'py, PyByteArray>, Option<Bound<'py, PyByteArray>>, usize, usize);

/// Lays `rows` out into new bytearrays, the GIL released for large batches.
fn lay_out<'py, R: AsRef<[u8]> + Sync>(
    py: Python<'py>,
    layout: &Layout,
    rows: &[R],
    special: bool,
) -> PyResult<Batch<'py>> {
    let plan = layout.plan(rows).map_err(layout_error)?;
    let n = plan.bytes;
    let buffer = || -> PyResult<Bound<'py, PyByteArray>> {
        let b = PyByteArray::new(py, &[]);
        b.resize(n)
            .map_err(|_| layout_error(LayoutError::TooLarge { rows: plan.rows, width: plan.width }))?;
        Ok(b)
    };
    let ids = buffer()?;
    let mask = buffer()?;
    let special_buf = if special { Some(buffer()?) } else { None };
    // SAFETY: the bytearrays were just created here and are not shared with
    // any other code until returned, so nothing else can resize or touch them
    // while we write, GIL released or not.
    unsafe {
        let ids_slice = ids.as_bytes_mut();
        let mask_slice = mask.as_bytes_mut();
        let special_slice = special_buf.as_ref().map(|s| s.as_bytes_mut());
        maybe_detach(py, n, true, || layout.fill(&plan, rows, ids_slice, mask_slice, special_slice));
    }
    Ok((ids, mask, special_buf, plan.rows, plan.width))
}

/// The codec. Immutable: share one between threads freely.
#[pyclass(module = "bygpt_codec._native", name = "_Codec", subclass, frozen)]
struct PyCodec {
    codec: Codec,
}

/// A yes/no argument taken as Python's `bool(x)` would, as the Python layer
/// did before `encode` moved here.
#[derive(Clone, Copy)]
struct Flag(bool);

impl<'a, 'py> FromPyObject<'a, 'py> for Flag {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        obj.is_truthy().map(Flag)
    }
}

/// Truncation arguments: (max bytes or None, "right" | "left").
#[derive(FromPyObject)]
struct TruncationArgs(Option<usize>, String);

/// Encoding arguments: (parse_special, bos, eos, truncation), as `Codec.encode_rows` and `Codec.encode_batch` build them.
#[derive(FromPyObject)]
struct EncodeArgs(bool, bool, bool, TruncationArgs);

/// Layout arguments: (width or None, multiple_of, max_length, padding_side,
/// int64, special_mask), as `Codec._layout` builds them.
#[derive(FromPyObject)]
struct LayoutArgs(Option<usize>, Option<usize>, Option<usize>, String, bool, bool);

impl LayoutArgs {
    /// The core's layout, and whether to write the special-tokens mask.
    fn parse(&self) -> PyResult<(Layout, bool)> {
        let LayoutArgs(width, multiple_of, max_len, ref side, int64, special) = *self;
        let padding_side = parse_side("padding_side", side)?;
        Ok((Layout { width, multiple_of, max_len, padding_side, int64 }, special))
    }
}

impl PyCodec {
    fn encode_options(&self, args: &EncodeArgs) -> PyResult<EncodeOptions> {
        let EncodeArgs(parse_special, bos, eos, ref cut) = *args;
        Ok(EncodeOptions {
            parse_special,
            bos,
            eos,
            max_len: cut.0,
            truncation_side: parse_side("truncation_side", &cut.1)?,
        })
    }

    fn encode_rows(
        &self,
        py: Python<'_>,
        texts: &Bound<'_, PyList>,
        opts: &EncodeOptions,
    ) -> PyResult<Vec<Vec<u8>>> {
        let strings = strings(texts)?;
        let texts: Vec<PyText<'_>> = strings.iter().map(text_ref).collect::<PyResult<_>>()?;
        let refs: Vec<TextRef<'_>> = texts.iter().map(PyText::get).collect();
        let units: usize = refs.iter().map(TextRef::units).sum();
        maybe_detach(py, units, true, || self.codec.encode_batch(&refs, opts))
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Decodes rows (in parallel when large; without the GIL when `frozen`) into strs.
    fn decode_slices<'py>(
        &self,
        py: Python<'py>,
        rows: &[&[u8]],
        frozen: bool,
        opts: &DecodeOptions,
    ) -> PyResult<Vec<Bound<'py, PyString>>> {
        let total = rows.iter().map(|r| r.len()).sum();
        let decoded =
            maybe_detach(py, total, frozen, || self.codec.decode_batch(rows, opts, scratch_buffer, |b| b))
                .map_err(|(k, e)| decode_error(py, &e, Some(k)))?;
        let strs = decoded.iter().map(|b| py_str(py, b.text())).collect();
        return_scratch(decoded);
        strs
    }
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
                names.into_iter().zip(bygpt_codec_core::FIRST_USER_ID..).collect()
            }
        };
        let codec =
            Codec::with_special_tokens(scheme, extra).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self { codec })
    }

    /// The scheme's name.
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

    /// Encodes ``text``; the result's length is a multiple of 4.
    ///
    /// Special-token names in the text stay plain text unless
    /// ``parse_special``. ``add_special_tokens`` wraps the text in
    /// ``<|bos|>`` ... ``<|eos|>`` blocks; ``add_bos``/``add_eos`` choose
    /// each one on its own (they default to ``add_special_tokens``).
    // Defined here rather than in Python: one short prompt pays the argument
    // handling on every call, and a Python wrapper doubled it (issue 10).
    #[pyo3(
        signature = (text, *, parse_special = Flag(false), add_special_tokens = Flag(false), add_bos = None, add_eos = None),
        text_signature = "(self, /, text, *, parse_special=False, add_special_tokens=False, add_bos=None, add_eos=None)"
    )]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &Bound<'py, PyAny>,
        parse_special: Flag,
        add_special_tokens: Flag,
        add_bos: Option<Flag>,
        add_eos: Option<Flag>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let text = text.cast::<PyString>().map_err(|_| {
            let kind = text.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            PyTypeError::new_err(format!("text must be str, not {kind}"))
        })?;
        let text = text_ref(text)?;
        let t = text.get();
        let opts = EncodeOptions {
            parse_special: parse_special.0,
            bos: add_bos.unwrap_or(add_special_tokens).0,
            eos: add_eos.unwrap_or(add_special_tokens).0,
            max_len: None,
            truncation_side: Side::Right,
        };
        let (bytes, _) = maybe_detach(py, t.units(), true, || self.codec.encode(t, &opts))
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
        with_bytes(data, |input| {
            let bytes = input.data;
            let text = maybe_detach(py, bytes.len(), input.frozen, || {
                let mut sink = NarrowBuffer::with_capacity(bytes.len());
                self.codec.decoder(opts).decode_parallel(bytes, true, &mut sink).map(|()| sink)
            })
            .map_err(|e| decode_error(py, &e, None))?;
            py_str(py, text.text())
        })
    }

    /// Encodes each str into its own bytes (unpadded, whole blocks).
    #[pyo3(signature = (texts, encoding))]
    fn _encode_rows<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyList>,
        encoding: EncodeArgs,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let rows = self.encode_rows(py, texts, &self.encode_options(&encoding)?)?;
        Ok(rows.iter().map(|r| PyBytes::new(py, r)).collect())
    }

    /// Encodes a list of str into one padded batch.
    #[pyo3(signature = (texts, encoding, layout))]
    fn _encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyList>,
        encoding: EncodeArgs,
        layout: LayoutArgs,
    ) -> PyResult<Batch<'py>> {
        let opts = self.encode_options(&encoding)?;
        let (layout, special) = layout.parse()?;
        layout.plan::<&[u8]>(&[]).map_err(layout_error)?; // refuse a bad layout before encoding
        let rows = self.encode_rows(py, texts, &opts)?;
        lay_out(py, &layout, &rows, special)
    }

    /// Pads (and optionally truncates to whole blocks) rows of bytes into one batch.
    #[pyo3(signature = (rows, truncation, layout))]
    fn _pad_rows<'py>(
        &self,
        py: Python<'py>,
        rows: Vec<Bound<'py, PyBytes>>,
        truncation: TruncationArgs,
        layout: LayoutArgs,
    ) -> PyResult<Batch<'py>> {
        let (layout, special) = layout.parse()?;
        let slices: Vec<&[u8]> = rows.iter().map(|r| r.as_bytes()).collect();
        match truncation.0 {
            None => lay_out(py, &layout, &slices, special),
            Some(keep) => {
                let side = parse_side("truncation_side", &truncation.1)?;
                let cut = truncate_rows(self.codec.scheme(), &slices, keep, side);
                lay_out(py, &layout, &cut, special)
            }
        }
    }

    /// 1 over each special block of `row`, 0 elsewhere.
    fn _special_tokens_mask<'py>(&self, py: Python<'py>, row: &Bound<'py, PyBytes>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &special_tokens_mask(row.as_bytes()))
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
        self.decode_slices(py, &slices, true, &opts)
    }

    /// Decodes a uint8 matrix (any buffer) given its row width, read in place
    /// (see `with_buffer` for when the GIL is released).
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
        with_buffer(matrix, true, |input| {
            let data = input.data;
            if width == 0 || data.len() % width != 0 {
                return Err(PyValueError::new_err(format!(
                    "width {width} does not divide {} bytes",
                    data.len()
                )));
            }
            let slices: Vec<&[u8]> = data.chunks(width).collect();
            self.decode_slices(py, &slices, input.frozen, &opts)
        })
    }

    /// A streaming decoder: feed chunks, get text as soon as it is complete.
    #[pyo3(signature = (*, errors = "strict", skip_special_tokens = false))]
    fn incremental_decoder(&self, errors: &str, skip_special_tokens: bool) -> PyResult<PyIncrementalDecoder> {
        let opts = DecodeOptions { errors: parse_errors(errors)?, skip_special_tokens };
        Ok(PyIncrementalDecoder { inner: Mutex::new(self.codec.decoder(opts)) })
    }

    /// (chars, bytes, filler, straddling) of `text` under this codec's scheme.
    fn _stats(&self, py: Python<'_>, text: &Bound<'_, PyString>) -> PyResult<(u64, u64, u64, u64)> {
        let text = text_ref(text)?;
        let t = text.get();
        let s = maybe_detach(py, t.units(), true, || Stats::measure(self.codec.scheme(), t));
        Ok((s.chars, s.bytes, s.filler, s.straddling))
    }

    /// The automaton of valid encoded streams: (next as little-endian int32
    /// `[states * 256]` with -1 for an invalid byte, start state, code_start
    /// per state, block offset per state).
    fn _byte_automaton<'py>(&self, py: Python<'py>) -> (Bound<'py, PyBytes>, u32, Vec<bool>, Vec<u8>) {
        let a = py.detach(|| byte_automaton(&self.codec));
        let next: Vec<u8> = a.next.iter().flat_map(|&t| (t as i32).to_le_bytes()).collect();
        (PyBytes::new(py, &next), a.start, a.code_start, a.offset)
    }
}

/// Decodes a byte stream chunk by chunk; the joined output equals one-shot
/// decoding. One stream per decoder: a second thread calling it while one
/// call is running gets a RuntimeError instead of interleaved streams.
#[pyclass(module = "bygpt_codec._native", name = "IncrementalDecoder", frozen)]
struct PyIncrementalDecoder {
    inner: Mutex<Decoder>,
}

impl PyIncrementalDecoder {
    fn lock(&self) -> PyResult<std::sync::MutexGuard<'_, Decoder>> {
        self.inner.try_lock().map_err(|_| {
            PyRuntimeError::new_err(
                "this IncrementalDecoder is in use by another thread; use one decoder per stream and thread",
            )
        })
    }
}

#[pymethods]
impl PyIncrementalDecoder {
    /// Decodes `chunk`; with final=True an unfinished code at the end is an
    /// error (or U+FFFD) and the decoder is ready for a new stream. On error
    /// the decoder is left as it was before the call.
    #[pyo3(signature = (chunk, r#final = false))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        chunk: &Bound<'py, PyAny>,
        r#final: bool,
    ) -> PyResult<Bound<'py, PyString>> {
        let mut dec = self.lock()?;
        with_bytes(chunk, |input| {
            let mut sink = NarrowBuffer::with_capacity(input.data.len());
            dec.decode(input.data, r#final, &mut sink).map_err(|e| decode_error(py, &e, None))?;
            py_str(py, sink.text())
        })
    }

    /// `<IncrementalDecoder scheme='jpblock' errors='strict' skip_special_tokens=False
    /// position=8 pending=b'\xe1'>`; never blocks, even while another thread decodes.
    fn __repr__(&self) -> String {
        let Ok(dec) = self.inner.try_lock() else {
            return "<IncrementalDecoder (in use by another thread)>".to_string();
        };
        let errors = match dec.options().errors {
            ErrorMode::Strict => "strict",
            ErrorMode::Replace => "replace",
        };
        let pending: String = dec
            .pending()
            .iter()
            .map(|&b| match b {
                b'\\' | b'\'' => format!("\\{}", b as char),
                0x20..=0x7e => (b as char).to_string(),
                _ => format!("\\x{b:02x}"),
            })
            .collect();
        format!(
            "<IncrementalDecoder scheme='{}' errors='{errors}' skip_special_tokens={} position={} pending=b'{pending}'>",
            dec.codec().scheme().name(),
            if dec.options().skip_special_tokens { "True" } else { "False" },
            dec.position(),
        )
    }

    /// Forgets any held bytes and starts a new stream at offset 0.
    fn reset(&self) -> PyResult<()> {
        self.lock()?.reset();
        Ok(())
    }

    /// Bytes of the stream consumed so far.
    #[getter]
    fn position(&self) -> PyResult<u64> {
        Ok(self.lock()?.position())
    }

    /// Bytes held back for the next chunk (the start of an unfinished code).
    #[getter]
    fn pending(&self) -> PyResult<Vec<u8>> {
        Ok(self.lock()?.pending().to_vec())
    }

    #[getter]
    fn scheme(&self) -> PyResult<&'static str> {
        Ok(self.lock()?.codec().scheme().name())
    }

    #[getter]
    fn errors(&self) -> PyResult<&'static str> {
        Ok(match self.lock()?.options().errors {
            ErrorMode::Strict => "strict",
            ErrorMode::Replace => "replace",
        })
    }

    #[getter]
    fn skip_special_tokens(&self) -> PyResult<bool> {
        Ok(self.lock()?.options().skip_special_tokens)
    }
}

/// The code tables of a table-driven scheme, for tests that re-derive them:
/// (code points of the 1-byte codes 0x00..0xDF, the 2-byte table).
#[pyfunction]
fn _code_tables(scheme: &str) -> PyResult<(Vec<u16>, Vec<u16>)> {
    let scheme = parse_scheme(scheme)?;
    match (scheme.one_byte_table(), scheme.two_byte_table()) {
        (Some(one), Some(two)) => Ok((one.to_vec(), two.to_vec())),
        _ => Err(PyValueError::new_err(format!("{scheme} has no code tables"))),
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCodec>()?;
    m.add_class::<PyIncrementalDecoder>()?;
    m.add_function(wrap_pyfunction!(_code_tables, m)?)?;
    stream::register(m)?;
    corpus::register(m)?;
    m.add("SCHEMES", Scheme::ALL.iter().map(|s| s.name()).collect::<Vec<_>>())?;
    m.add("SCHEME_IDS", Scheme::ALL.iter().map(|s| (s.name(), s.id())).collect::<Vec<_>>())?;
    use bygpt_codec_core as core;
    let numbers = [
        ("BLOCK", core::BLOCK as u32),
        ("FILLER", u32::from(core::FILLER)),
        ("SPECIAL_LEAD", u32::from(core::SPECIAL_LEAD)),
        ("BOS_ID", core::BOS_ID),
        ("EOS_ID", core::EOS_ID),
        ("MASK_ID", core::MASK_ID),
        ("FIRST_USER_SPECIAL_ID", core::FIRST_USER_ID),
        ("MAX_SPECIAL_ID", core::MAX_ID),
    ];
    for (name, value) in numbers {
        m.add(name, value)?;
    }
    for (name, value) in [("BOS", core::BOS), ("EOS", core::EOS), ("MASK", core::MASK)] {
        m.add(name, value)?;
    }
    Ok(())
}
