//! File and corpus work on top of `bygpt-codec-core`: streaming a file
//! through an encoder or decoder with bounded memory ([`io`]), reading one
//! text field out of JSON lines ([`jsonl`]) and packing documents into
//! training data ([`pack`]). The format itself is the core crate's; this
//! crate adds I/O, threads for I/O and JSON.

pub mod io;
pub mod json_stream;
pub mod jsonl;
pub mod pack;
pub mod shard;
