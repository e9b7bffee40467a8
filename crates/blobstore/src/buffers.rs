//! The write buffers of a store's blob writers, handed from one blob to the next.
//!
//! A writer of a large blob gathers network-sized chunks in a [`BUFFER_SIZE`] buffer before
//! writing them to its partial file. Allocated per blob and freed at its commit, those buffers
//! made a pull's resident memory grow with its number of layers: glibc serves the first one
//! with `mmap`, and freeing it raises its mmap threshold above the buffer size, so every later
//! buffer (and every other large allocation) comes from the arena of whichever thread asked,
//! and each of those arenas keeps freed memory resident. A store's writers therefore share a
//! pool: the buffers are allocated once, at most as many as writers of large blobs were ever
//! open at once, and reused.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::writer::BUFFER_SIZE;

/// How many idle buffers a pool keeps; buffers returned beyond that are freed.
const MAX_IDLE: usize = 16;

/// The pool of write buffers of one [`Store`](crate::Store).
#[derive(Default)]
pub(crate) struct BufferPool {
    idle: Mutex<Vec<Vec<u8>>>,
    allocated: AtomicUsize,
}

impl BufferPool {
    /// An empty buffer of [`BUFFER_SIZE`] capacity: an idle one, or a new one when all are in
    /// use. It returns to the pool when dropped.
    pub(crate) fn take(self: &Arc<Self>) -> WriteBuffer {
        let idle = self.lock().pop();
        let bytes = idle.unwrap_or_else(|| {
            self.allocated.fetch_add(1, Ordering::Relaxed);
            Vec::with_capacity(BUFFER_SIZE)
        });
        WriteBuffer {
            bytes,
            pool: Arc::clone(self),
        }
    }

    /// How many buffers the pool has allocated so far.
    pub(crate) fn allocated(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }

    fn give_back(&self, mut bytes: Vec<u8>) {
        bytes.clear();
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE {
            idle.push(bytes);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("idle", &self.lock().len())
            .field("allocated", &self.allocated())
            .finish()
    }
}

/// A buffer taken from a [`BufferPool`], returned to it when dropped.
pub(crate) struct WriteBuffer {
    bytes: Vec<u8>,
    pool: Arc<BufferPool>,
}

impl WriteBuffer {
    /// The bytes gathered so far.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether `len` more bytes fit without growing the buffer.
    pub(crate) fn fits(&self, len: usize) -> bool {
        len <= self.bytes.capacity() - self.bytes.len()
    }

    /// Whether `len` bytes are at least a whole buffer (better written directly).
    pub(crate) fn is_large(&self, len: usize) -> bool {
        len >= self.bytes.capacity()
    }

    /// Appends `data`, which must fit ([`WriteBuffer::fits`]).
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
    }

    /// Empties the buffer.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
    }
}

impl Drop for WriteBuffer {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.bytes));
    }
}

impl fmt::Debug for WriteBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteBuffer")
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_once_returned() {
        let pool = Arc::new(BufferPool::default());
        for _ in 0..10 {
            let mut buffer = pool.take();
            assert!(buffer.bytes().is_empty());
            buffer.push(b"data");
        }
        assert_eq!(pool.allocated(), 1, "one buffer served ten writers in turn");
        let held: Vec<WriteBuffer> = (0..3).map(|_| pool.take()).collect();
        assert_eq!(pool.allocated(), 3, "three at once need three");
        drop(held);
        let again = pool.take();
        assert!(again.bytes().is_empty(), "returned buffers come back empty");
        assert!(again.fits(BUFFER_SIZE) && !again.fits(BUFFER_SIZE + 1));
        assert_eq!(pool.allocated(), 3);
    }

    #[test]
    fn idle_buffers_beyond_the_limit_are_freed() {
        let pool = Arc::new(BufferPool::default());
        let held: Vec<WriteBuffer> = (0..MAX_IDLE + 2).map(|_| pool.take()).collect();
        drop(held);
        assert_eq!(pool.lock().len(), MAX_IDLE);
    }
}
