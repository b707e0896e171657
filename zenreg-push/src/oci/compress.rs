//! Layer compression as a pipeline: the uncompressed bytes are hashed (the diff id) as they are
//! read, cut into blocks that a pool of worker threads (one per core) compresses at the same
//! time, and the compressed blocks come back in order to be hashed (the blob digest) and handed
//! to the uploader. Memory stays bounded by the blocks in flight, whatever the layer's size.
//!
//! gzip is block-parallel the way pigz is, and like pigz writes one gzip member: every block is
//! raw deflate primed with the last 32 KiB of the block before it as its dictionary (so the
//! ratio is that of one stream), ended with a sync flush (so the blocks concatenate), and the
//! member has one header and one trailer whose CRC-32 is combined from the blocks' own. Readers
//! that stop after a first member (Rust's `flate2::read::GzDecoder` among them) see the whole
//! layer. zstd uses the library's own multithreaded encoder.

use crate::oci::digest::Hasher;
use bytes::Bytes;
use flate2::{Crc, FlushCompress, Status};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, channel, sync_channel};
use std::sync::{Arc, Mutex};

/// Uncompressed bytes per gzip block: large enough that the sync flush at each block's end
/// costs nothing measurable, small enough that a 2-core machine has a few in flight per layer.
const BLOCK: usize = 2 * 1024 * 1024;
/// The first block of a gzip layer: small, so that its first compressed bytes go up within
/// milliseconds (a 2 MiB block at level 9 is 90 ms of an idle link; 1 % of a 100 Mbit/s push of
/// 600 MB). The blocks after it are primed with its last bytes, so it costs one sync flush.
const FIRST_BLOCK: usize = 128 * 1024;
/// Deflate's window: the dictionary a block is primed with is the previous block's last bytes.
const WINDOW: usize = 32 * 1024;
/// The gzip header: deflate, no flags, mtime 0, no extra flags, OS unknown. Equal input gives
/// equal bytes, so the blob cache can trust a digest across pushes.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Bytes handed to the uploader at a time when the compressor does not cut them itself.
const CHUNK: usize = 1024 * 1024;

/// How layers that arrive uncompressed are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip (every runtime pulls it).
    Gzip,
    /// zstd (containerd ≥ 1.5, Docker ≥ 23).
    Zstd,
    /// Uncompressed layers.
    None,
}

impl Compression {
    /// The name used on the command line and in output.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }

    /// The default level: zstd's own default; for gzip, level 1, chosen by measurement (see
    /// BENCHMARKS.md): about 10 % more bytes than level 6 for a third of the CPU time.
    pub fn default_level(self) -> i32 {
        match self {
            Compression::Gzip => 1,
            Compression::Zstd => 3,
            Compression::None => 0,
        }
    }

    /// The levels the codec takes.
    pub fn levels(self) -> std::ops::RangeInclusive<i32> {
        match self {
            Compression::Gzip => 0..=9,
            Compression::Zstd => 1..=19,
            Compression::None => 0..=0,
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "none" => Ok(Compression::None),
            other => Err(format!("unknown compression `{other}` (gzip, zstd or none)")),
        }
    }
}

/// What compressing one layer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    /// Digest of the uncompressed bytes.
    pub diff_id: String,
    /// Digest of the compressed blob.
    pub digest: String,
    /// Size of the compressed blob.
    pub size: u64,
    /// Size of the uncompressed bytes.
    pub uncompressed: u64,
}

/// Why compressing a layer stopped.
#[derive(Debug)]
pub enum CompressError {
    /// Reading the layer failed.
    Read(std::io::Error),
    /// The codec failed.
    Codec(String),
    /// The consumer of the compressed bytes went away (its own error says why).
    SinkClosed,
}

/// One block of a gzip layer for a worker: its bytes, the dictionary it is primed with, and
/// whether it ends the stream.
struct Job {
    data: Vec<u8>,
    dictionary: Vec<u8>,
    level: u32,
    last: bool,
    reply: SyncSender<Result<Block, String>>,
}

/// A compressed block and the CRC-32 of its uncompressed bytes.
struct Block {
    deflated: Vec<u8>,
    crc: Crc,
}

/// Worker threads that compress gzip blocks, shared by every layer of a push so that the
/// blocks of several layers (or of one large layer) keep every core busy.
///
/// Its queue is unbounded: what bounds memory is each layer's window of blocks in flight. A
/// bounded queue made a layer wait to hand in a block while its first block was already
/// compressed, so the first bytes of a push waited until every layer had filled its window
/// (about 0.3 s of an idle link at the start of a 4-layer push at 100 Mbit/s).
pub struct Pool {
    jobs: Mutex<Option<Sender<Job>>>,
    workers: usize,
}

impl Pool {
    /// A pool of `workers` threads (at least one).
    pub fn new(workers: usize) -> Arc<Pool> {
        let workers = workers.max(1);
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers {
            let receiver = Arc::clone(&receiver);
            // A worker that cannot be spawned only lowers parallelism; the pool needs one, and
            // `compress` falls back to compressing on its own thread when none runs.
            let _ = std::thread::Builder::new().name(format!("zenreg-gzip-{index}")).spawn(move || worker(&receiver));
        }
        Arc::new(Pool { jobs: Mutex::new(Some(sender)), workers })
    }

    /// A pool with one worker per core.
    pub fn per_core() -> Arc<Pool> {
        Pool::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// How many workers it has.
    pub fn workers(&self) -> usize {
        self.workers
    }

    fn submit(&self, job: Job) -> Result<(), Job> {
        let sender = match self.jobs.lock() {
            Ok(guard) => guard.clone(),
            Err(_) => None,
        };
        match sender {
            Some(sender) => sender.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the channel ends the workers.
        if let Ok(mut guard) = self.jobs.lock() {
            guard.take();
        }
    }
}

fn worker(receiver: &Mutex<Receiver<Job>>) {
    loop {
        let job = match receiver.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let _ = job.reply.send(deflate_block(&job));
    }
}

/// Raw deflate of one block, primed with its dictionary, ended with a sync flush (or, for the
/// last block, with the stream's end), and the CRC-32 of its bytes.
fn deflate_block(job: &Job) -> Result<Block, String> {
    let mut crc = Crc::new();
    crc.update(&job.data);
    let mut deflate = flate2::Compress::new(flate2::Compression::new(job.level), false);
    if !job.dictionary.is_empty() {
        deflate.set_dictionary(&job.dictionary).map_err(|e| e.to_string())?;
    }
    let flush = if job.last { FlushCompress::Finish } else { FlushCompress::Sync };
    let mut deflated = Vec::with_capacity(job.data.len() / 2 + 1024);
    loop {
        if deflated.capacity() - deflated.len() < 1024 {
            deflated.reserve(deflated.capacity().max(64 * 1024));
        }
        let consumed = usize::try_from(deflate.total_in()).map_err(|e| e.to_string())?;
        let input = job.data.get(consumed..).unwrap_or_default();
        let status = deflate.compress_vec(input, &mut deflated, flush).map_err(|e| e.to_string())?;
        let all_in = usize::try_from(deflate.total_in()).map_err(|e| e.to_string())? == job.data.len();
        match status {
            Status::StreamEnd => break,
            // A flush is complete once a call leaves output room unused.
            Status::Ok | Status::BufError if !job.last && all_in && deflated.len() < deflated.capacity() => break,
            Status::Ok | Status::BufError => {}
        }
    }
    Ok(Block { deflated, crc })
}

/// The whole gzip member of `data` in one block, on the calling thread.
#[cfg(test)]
fn gzip_one_block(data: &[u8], level: u32) -> Result<Vec<u8>, String> {
    let (reply, _) = sync_channel(1);
    let block = deflate_block(&Job { data: data.to_vec(), dictionary: Vec::new(), level, last: true, reply })?;
    let mut member = GZIP_HEADER.to_vec();
    member.extend_from_slice(&block.deflated);
    member.extend_from_slice(&block.crc.sum().to_le_bytes());
    member.extend_from_slice(&block.crc.amount().to_le_bytes());
    Ok(member)
}

/// Reads until `buffer` is full or the input ends; returns how many bytes were read.
fn read_full(input: &mut dyn Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        let Some(rest) = buffer.get_mut(filled..) else { break };
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The compressed side: hashes and counts what goes to the sink.
struct Output<'a> {
    hasher: Hasher,
    sink: &'a mut dyn FnMut(Bytes) -> bool,
}

impl Output<'_> {
    fn emit(&mut self, data: Vec<u8>) -> Result<(), CompressError> {
        if data.is_empty() {
            return Ok(());
        }
        self.hasher.update(&data);
        if (self.sink)(Bytes::from(data)) { Ok(()) } else { Err(CompressError::SinkClosed) }
    }
}

impl Write for Output<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.emit(data.to_vec()).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "sink closed"))?;
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A writer that gathers small writes into chunks of [`CHUNK`] bytes for the sink.
struct Batched<'a, 'b> {
    output: &'a mut Output<'b>,
    pending: Vec<u8>,
}

impl Write for Batched<'_, '_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(data);
        if self.pending.len() >= CHUNK {
            let full = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK + 128 * 1024));
            self.output.emit(full).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "sink closed"))?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The zlib-rs level that gives gzip level `level`. zlib-rs follows zlib-ng, whose levels 3–6
/// use its "medium" strategy rather than the lazy matching `gzip -6` (and zlib's level 6) uses;
/// its level 7 is that lazy matching, with a longer chain. So level 6, the one users pin for
/// `gzip -6`'s bytes, compresses as zlib-rs 7: on a tar of Python 3.11's standard library
/// +0.97 % against `gzip -6` (zlib-rs 6: +1.63 %), on perl's library −0.94 % (+1.12 %), at
/// 38 MB/s per core (zlib-rs 6: 64 MB/s; zlib's own level 6: 29 MB/s). Binaries stay further
/// off at any level but 9 (gcc's libraries: +1.57 %; BENCHMARKS.md §7).
fn zlib_level(level: i32) -> u32 {
    match level.clamp(0, 9) as u32 {
        6 => 7,
        other => other,
    }
}

/// Reads `input` to its end and compresses it with `compression` at `level`, handing the
/// compressed bytes in order to `sink` (which returns `false` when it no longer wants them).
pub fn compress(
    input: &mut dyn Read,
    compression: Compression,
    level: i32,
    pool: &Pool,
    sink: &mut dyn FnMut(Bytes) -> bool,
) -> Result<Compressed, CompressError> {
    let mut diff = Hasher::new();
    let mut output = Output { hasher: Hasher::new(), sink };
    match compression {
        Compression::Gzip => gzip_blocks(input, zlib_level(level), pool, &mut diff, &mut output)?,
        Compression::Zstd => {
            let workers = pool.workers() as u32;
            let mut batched = Batched { output: &mut output, pending: Vec::with_capacity(CHUNK + 128 * 1024) };
            let codec = |e: std::io::Error| CompressError::Codec(e.to_string());
            let mut encoder = zstd::stream::write::Encoder::new(&mut batched, level).map_err(codec)?;
            if workers > 1 {
                encoder.multithread(workers).map_err(codec)?;
            }
            let mut buffer = vec![0u8; CHUNK];
            loop {
                let n = read_full(input, &mut buffer).map_err(CompressError::Read)?;
                if n == 0 {
                    break;
                }
                let chunk = buffer.get(..n).unwrap_or_default();
                diff.update(chunk);
                encoder.write_all(chunk).map_err(sink_or_codec)?;
            }
            encoder.finish().map_err(sink_or_codec)?;
            let rest = std::mem::take(&mut batched.pending);
            output.emit(rest)?;
        }
        Compression::None => loop {
            let mut buffer = vec![0u8; CHUNK];
            let n = read_full(input, &mut buffer).map_err(CompressError::Read)?;
            if n == 0 {
                break;
            }
            buffer.truncate(n);
            diff.update(&buffer);
            output.emit(buffer)?;
        },
    }
    let uncompressed = diff.bytes();
    let size = output.hasher.bytes();
    Ok(Compressed { diff_id: diff.finish(), digest: output.hasher.finish(), size, uncompressed })
}

/// How a layer's bytes are encoded, as their first bytes say (gzip and zstd have magic numbers;
/// anything else is taken as a tar, which the diff-id check then judges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    /// An uncompressed tar.
    Tar,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Form {
    /// The form of bytes starting with `head`.
    pub fn sniff(head: &[u8]) -> Form {
        match head {
            [0x1f, 0x8b, ..] => Form::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Form::Zstd,
            _ => Form::Tar,
        }
    }

    /// The form a layer media type names (`None` for a type that names none of these).
    pub fn of_media_type(media_type: &str) -> Option<Form> {
        if media_type.ends_with("gzip") {
            Some(Form::Gzip)
        } else if media_type.ends_with("zstd") {
            Some(Form::Zstd)
        } else if media_type.ends_with(".tar") {
            Some(Form::Tar)
        } else {
            None
        }
    }

    /// The form [`compress`] gives with `compression`.
    pub fn of(compression: Compression) -> Form {
        match compression {
            Compression::Gzip => Form::Gzip,
            Compression::Zstd => Form::Zstd,
            Compression::None => Form::Tar,
        }
    }
}

/// Hands the raw bytes that pass through to a sink in chunks of [`CHUNK`] bytes, hashing them.
struct Tee<'a> {
    input: &'a mut dyn Read,
    output: Output<'a>,
    pending: Vec<u8>,
}

impl Tee<'_> {
    fn flush_pending(&mut self) -> std::io::Result<()> {
        let full = std::mem::take(&mut self.pending);
        self.output.emit(full).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "sink closed"))
    }
}

impl Read for Tee<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read(buffer)?;
        self.pending.extend_from_slice(buffer.get(..n).unwrap_or_default());
        if self.pending.len() >= CHUNK {
            self.flush_pending()?;
        }
        Ok(n)
    }
}

/// A writer that only hashes.
struct HashWriter(Hasher);

impl Write for HashWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.update(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads a layer that is already compressed (`form` gzip or zstd) to its end and hands its
/// bytes unchanged to `sink`, decompressing them on the way only to learn the diff id: the
/// blob goes up byte-exact, and its digest stays the one its source gave it.
pub fn pass_through(
    input: &mut dyn Read,
    form: Form,
    sink: &mut dyn FnMut(Bytes) -> bool,
) -> Result<Compressed, CompressError> {
    let mut tee = Tee { input, output: Output { hasher: Hasher::new(), sink }, pending: Vec::with_capacity(CHUNK) };
    let mut diff = HashWriter(Hasher::new());
    let decoded = match form {
        Form::Gzip => std::io::copy(&mut flate2::read::MultiGzDecoder::new(&mut tee), &mut diff),
        Form::Zstd => zstd::stream::read::Decoder::new(&mut tee).and_then(|mut d| std::io::copy(&mut d, &mut diff)),
        Form::Tar => std::io::copy(&mut tee, &mut diff),
    };
    decoded.map_err(sink_or_codec)?;
    // What the decoder left unread (it stops at the end of its stream) is part of the blob.
    std::io::copy(&mut tee, &mut std::io::sink()).map_err(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => CompressError::SinkClosed,
        _ => CompressError::Read(e),
    })?;
    tee.flush_pending().map_err(|_| CompressError::SinkClosed)?;
    let uncompressed = diff.0.bytes();
    let size = tee.output.hasher.bytes();
    Ok(Compressed { diff_id: diff.0.finish(), digest: tee.output.hasher.finish(), size, uncompressed })
}

fn sink_or_codec(error: std::io::Error) -> CompressError {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        CompressError::SinkClosed
    } else {
        CompressError::Codec(error.to_string())
    }
}

fn gzip_blocks(
    input: &mut dyn Read,
    level: u32,
    pool: &Pool,
    diff: &mut Hasher,
    output: &mut Output<'_>,
) -> Result<(), CompressError> {
    // Blocks in flight for this layer: enough to keep every worker busy while this thread
    // reads the next block, few enough to bound memory (2 × workers × BLOCK in and out).
    let window = pool.workers() * 2;
    let mut pending: VecDeque<Receiver<Result<Block, String>>> = VecDeque::new();
    let mut crc = Crc::new();
    let stopped = || CompressError::Codec("a compression worker stopped".into());
    let emit = |block: Result<Block, String>, output: &mut Output<'_>, crc: &mut Crc| {
        let block = block.map_err(CompressError::Codec)?;
        crc.combine(&block.crc);
        output.emit(block.deflated)
    };
    let collect = |receiver: Receiver<Result<Block, String>>, output: &mut Output<'_>, crc: &mut Crc| {
        emit(receiver.recv().map_err(|_| stopped())?, output, crc)
    };
    output.emit(GZIP_HEADER.to_vec())?;
    let mut dictionary = Vec::new();
    let mut ended = false;
    let mut size = FIRST_BLOCK;
    while !ended {
        let mut data = vec![0u8; size];
        let n = read_full(input, &mut data).map_err(CompressError::Read)?;
        data.truncate(n);
        diff.update(&data);
        // A short read is the end; a full block may be the last one too, and then an empty
        // final block follows it.
        ended = n < size;
        size = BLOCK;
        let next_dictionary = data.get(data.len().saturating_sub(WINDOW)..).unwrap_or_default().to_vec();
        let (reply, receiver) = sync_channel(1);
        let job = Job { data, dictionary: std::mem::take(&mut dictionary), level, last: ended, reply };
        dictionary = next_dictionary;
        match pool.submit(job) {
            Ok(()) => pending.push_back(receiver),
            // No worker runs: compress here rather than fail.
            Err(job) => {
                while let Some(receiver) = pending.pop_front() {
                    collect(receiver, output, &mut crc)?;
                }
                let block = deflate_block(&job).map_err(CompressError::Codec)?;
                crc.combine(&block.crc);
                output.emit(block.deflated)?;
            }
        }
        // Blocks already compressed go on before the next read, not only when the window is full.
        while let Some(receiver) = pending.front() {
            match receiver.try_recv() {
                Ok(block) => {
                    pending.pop_front();
                    emit(block, output, &mut crc)?;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Err(stopped()),
            }
        }
        while pending.len() >= window {
            if let Some(receiver) = pending.pop_front() {
                collect(receiver, output, &mut crc)?;
            }
        }
    }
    while let Some(receiver) = pending.pop_front() {
        collect(receiver, output, &mut crc)?;
    }
    let mut trailer = Vec::with_capacity(8);
    trailer.extend_from_slice(&crc.sum().to_le_bytes());
    trailer.extend_from_slice(&crc.amount().to_le_bytes());
    output.emit(trailer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::digest::sha256;

    fn sample(len: usize) -> Vec<u8> {
        // Text-like and compressible, as real layers are.
        (0..len)
            .map(|i| b"the quick brown fox jumps over the lazy dog 0123456789\n"[i % 55] ^ ((i / 4096) as u8 & 3))
            .collect()
    }

    fn run(compression: Compression, data: &[u8]) -> (Compressed, Vec<u8>) {
        let pool = Pool::new(2);
        let mut out = Vec::new();
        let result = compress(&mut &data[..], compression, compression.default_level(), &pool, &mut |chunk| {
            out.extend_from_slice(&chunk);
            true
        })
        .unwrap_or_else(|e| panic!("{e:?}"));
        (result, out)
    }

    /// What a reader that stops after the first gzip member sees.
    fn first_member(gzip: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(gzip).read_to_end(&mut back).unwrap();
        back
    }

    #[test]
    fn parallel_gzip_is_one_member() {
        for len in [
            BLOCK * 3 + 12345,
            FIRST_BLOCK + BLOCK,
            BLOCK * 2,
            BLOCK,
            BLOCK - 1,
            FIRST_BLOCK + 1,
            FIRST_BLOCK,
            FIRST_BLOCK - 1,
            1,
        ] {
            let data = sample(len);
            let (result, out) = run(Compression::Gzip, &data);
            assert_eq!(result.diff_id, sha256(&data));
            assert_eq!(result.digest, sha256(&out));
            assert_eq!(result.size, out.len() as u64);
            // The whole layer comes out of the first member, and nothing follows it.
            assert_eq!(first_member(&out), data, "{len} bytes");
            let mut decoder = flate2::read::GzDecoder::new(&out[..]);
            std::io::copy(&mut decoder, &mut std::io::sink()).unwrap();
            assert!(decoder.into_inner().is_empty(), "{len} bytes: bytes after the member");
            // Deterministic: the same input gives the same blob.
            assert_eq!(run(Compression::Gzip, &data).0, result);
        }
    }

    #[test]
    fn blocks_primed_with_their_dictionary_compress_like_one_stream() {
        let data = sample(BLOCK * 4 + 999);
        let pool = Pool::new(2);
        let mut out = Vec::new();
        compress(&mut &data[..], Compression::Gzip, 6, &pool, &mut |chunk| {
            out.extend_from_slice(&chunk);
            true
        })
        .unwrap();
        let whole = gzip_one_block(&data, 6).unwrap();
        assert_eq!(first_member(&whole), data);
        // The sync flushes cost a few bytes per block, nothing more.
        assert!(out.len() <= whole.len() + 5 * 64, "{} against {}", out.len(), whole.len());
    }

    /// A tar of perl's library, as a layer of real files would hold it.
    fn perl_tar() -> Vec<u8> {
        let output = std::process::Command::new("tar")
            .args(["-C", "/usr/share", "-cf", "-", "perl"])
            .output()
            .expect("tar runs (and /usr/share/perl, of perl-modules, is there)");
        assert!(output.status.success(), "tar: {}", String::from_utf8_lossy(&output.stderr));
        assert!(output.stdout.len() > 10_000_000, "/usr/share/perl is a library of over 10 MB");
        output.stdout
    }

    /// What `gzip ARG` makes of `input` (fed from a thread of its own, so that a large input
    /// and output cannot block each other).
    fn gzip(arg: &str, input: &[u8]) -> std::process::Output {
        let mut gzip = std::process::Command::new("gzip")
            .arg(arg)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("gzip runs");
        let mut stdin = gzip.stdin.take().unwrap();
        let fed = input.to_vec();
        let feeding = std::thread::spawn(move || stdin.write_all(&fed));
        let output = gzip.wait_with_output().unwrap();
        feeding.join().unwrap().unwrap();
        output
    }

    #[test]
    fn level_6_sends_no_more_than_1_percent_over_gzip_6() {
        let data = perl_tar();
        let theirs = gzip("-6", &data).stdout.len() as f64;
        let pool = Pool::per_core();
        let mut ours = 0usize;
        compress(&mut &data[..], Compression::Gzip, 6, &pool, &mut |chunk| {
            ours += chunk.len();
            true
        })
        .unwrap();
        let over = ours as f64 / theirs - 1.0;
        assert!(over <= 0.01, "level 6 sent {ours} bytes, gzip -6 {theirs}: {:+.2} %", over * 100.0);
    }

    #[test]
    fn gzip_checks_its_own_layers() {
        let data = sample(BLOCK * 2 + 77);
        let (_, out) = run(Compression::Gzip, &data);
        let checked = gzip("-t", &out);
        assert!(checked.status.success(), "gzip -t: {}", String::from_utf8_lossy(&checked.stderr));
        assert!(checked.stderr.is_empty(), "gzip -t: {}", String::from_utf8_lossy(&checked.stderr));
    }

    #[test]
    fn zstd_and_none_round_trip() {
        let data = sample(5 * 1024 * 1024 + 7);
        let (result, out) = run(Compression::Zstd, &data);
        assert_eq!(result.diff_id, sha256(&data));
        assert_eq!(result.digest, sha256(&out));
        assert_eq!(zstd::stream::decode_all(&out[..]).unwrap(), data);
        let (plain, out) = run(Compression::None, &data);
        assert_eq!(plain.digest, plain.diff_id);
        assert_eq!(out, data);
    }

    #[test]
    fn compressed_layers_pass_through_byte_exact() {
        let data = sample(3 * 1024 * 1024 + 11);
        for compression in [Compression::Gzip, Compression::Zstd] {
            let (made, blob) = run(compression, &data);
            let form = Form::sniff(&blob);
            assert_eq!(form, Form::of(compression));
            let mut out = Vec::new();
            let passed = pass_through(&mut &blob[..], form, &mut |chunk| {
                out.extend_from_slice(&chunk);
                true
            })
            .unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(out, blob, "{compression:?}: the bytes changed");
            assert_eq!((passed.digest, passed.diff_id, passed.size), (made.digest, made.diff_id, made.size));
        }
        assert_eq!(Form::sniff(&data), Form::Tar);
        // Damaged compressed bytes are refused, not passed on.
        let (_, mut blob) = run(Compression::Gzip, &data);
        let middle = blob.len() / 2;
        blob.truncate(middle);
        assert!(pass_through(&mut &blob[..], Form::Gzip, &mut |_| true).is_err());
    }

    #[test]
    fn an_empty_layer_is_a_valid_gzip_stream() {
        let (result, out) = run(Compression::Gzip, &[]);
        assert_eq!(result.uncompressed, 0);
        assert!(first_member(&out).is_empty());
        assert_eq!(out, gzip_one_block(&[], 1).unwrap());
    }

    #[test]
    fn a_closed_sink_stops_the_layer() {
        let pool = Pool::new(2);
        let data = sample(BLOCK * 4);
        let result = compress(&mut &data[..], Compression::Gzip, 1, &pool, &mut |_| false);
        assert!(matches!(result, Err(CompressError::SinkClosed)));
    }
}
