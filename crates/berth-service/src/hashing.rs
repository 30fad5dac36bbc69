//! A stream adapter that hashes and counts the bytes passing through it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use berth_core::Hasher;
use bytes::Bytes;
use futures::Stream;

pub(crate) struct HashingStream<S> {
    inner: S,
    pub(crate) hasher: Hasher,
    pub(crate) count: u64,
    /// The most bytes the body may carry (from Content-Length or Content-Range).
    limit: Option<u64>,
}

impl<S> HashingStream<S> {
    pub(crate) fn new(inner: S, hasher: Hasher, limit: Option<u64>) -> Self {
        HashingStream {
            inner,
            hasher,
            count: 0,
            limit,
        }
    }
}

impl<S> Stream for HashingStream<S>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.count += chunk.len() as u64;
                if this.limit.is_some_and(|limit| this.count > limit) {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "body is longer than its declared length",
                    ))));
                }
                this.hasher.update(&chunk);
                Poll::Ready(Some(Ok(chunk)))
            }
            other => other,
        }
    }
}
