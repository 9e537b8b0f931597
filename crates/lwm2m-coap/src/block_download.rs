//! Client side of a Block2 download (RFC 7959 §2.4): joins the blocks of a
//! response and says which block to ask for next.

use crate::block::{size_of_szx, BlockOption};
use crate::message::Response;
use crate::options::number;

/// Why a download cannot continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DownloadError {
    /// Wrong block, wrong size or a changed ETag.
    Protocol,
    /// The body exceeds the reassembly limit.
    TooLarge,
}

/// What to do after a block was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Ask for this block next.
    Next(BlockOption),
    /// The whole body is here.
    Done(Response),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockDownload {
    /// The first block's response (code and options), payload accumulating.
    response: Response,
    etag: Option<Vec<u8>>,
    /// SZX we ask for in follow-ups (never larger than the server's).
    szx: u8,
    max_body: usize,
}

impl BlockDownload {
    /// Starts from the first block (`block` is its Block2 option, num 0).
    pub(crate) fn start(
        first: Response,
        block: BlockOption,
        our_szx: u8,
        max_body: usize,
    ) -> Result<(Self, Progress), DownloadError> {
        if block.num != 0 {
            return Err(DownloadError::Protocol);
        }
        if first.options.size2().is_some_and(|s| s as usize > max_body) {
            return Err(DownloadError::TooLarge);
        }
        let mut response = first;
        let payload = std::mem::take(&mut response.payload);
        let etag = response.options.etag().map(<[u8]>::to_vec);
        response.options.remove(number::BLOCK2);
        response.options.remove(number::SIZE2);
        let mut download = Self {
            response,
            etag,
            szx: our_szx.min(block.szx),
            max_body,
        };
        let progress = download.append(block, &payload)?;
        Ok((download, progress))
    }

    /// Accepts the next block's response.
    pub(crate) fn on_block(
        &mut self,
        block: BlockOption,
        etag: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<Progress, DownloadError> {
        if etag != self.etag.as_deref() {
            return Err(DownloadError::Protocol);
        }
        if block.offset() != self.response.payload.len() {
            return Err(DownloadError::Protocol);
        }
        self.append(block, payload)
    }

    fn append(&mut self, block: BlockOption, payload: &[u8]) -> Result<Progress, DownloadError> {
        // Every block but the last is exactly one block size (§2.2).
        if block.more && payload.len() != block.size() || payload.len() > block.size() {
            return Err(DownloadError::Protocol);
        }
        if self.response.payload.len() + payload.len() > self.max_body {
            return Err(DownloadError::TooLarge);
        }
        self.response.payload.extend_from_slice(payload);
        if !block.more {
            return Ok(Progress::Done(self.response.clone()));
        }
        // Ask for the next offset at our size (<= the server's, so it divides the offset).
        self.szx = self.szx.min(block.szx);
        let num = self.response.payload.len() / size_of_szx(self.szx);
        let num = u32::try_from(num).map_err(|_| DownloadError::TooLarge)?;
        Ok(Progress::Next(BlockOption {
            num,
            more: false,
            szx: self.szx,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::ResponseCode;

    fn block(num: u32, more: bool, szx: u8) -> BlockOption {
        BlockOption { num, more, szx }
    }

    fn first(payload: &[u8], b: BlockOption) -> Response {
        let mut r = Response::content(0, payload.to_vec());
        r.options.set_block2(b);
        r.options.set_uint(number::SIZE2, 40);
        r
    }

    #[test]
    fn joins_blocks() {
        let (mut d, p) = BlockDownload::start(
            first(&[1; 16], block(0, true, 0)),
            block(0, true, 0),
            6,
            1000,
        )
        .unwrap();
        assert_eq!(p, Progress::Next(block(1, false, 0)));
        assert_eq!(
            d.on_block(block(1, true, 0), None, &[2; 16]).unwrap(),
            Progress::Next(block(2, false, 0))
        );
        match d.on_block(block(2, false, 0), None, &[3; 8]).unwrap() {
            Progress::Done(r) => {
                assert_eq!(r.payload.len(), 40);
                assert_eq!(r.code, ResponseCode::CONTENT);
                assert!(r.options.block2().is_none() && r.options.size2().is_none());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn asks_for_smaller_blocks_if_preferred() {
        let (_, p) = BlockDownload::start(
            first(&[0; 64], block(0, true, 2)),
            block(0, true, 2),
            0,
            1000,
        )
        .unwrap();
        assert_eq!(
            p,
            Progress::Next(block(4, false, 0)),
            "offset 64 at 16-byte blocks"
        );
    }

    #[test]
    fn protocol_errors() {
        assert_eq!(
            BlockDownload::start(
                first(&[0; 16], block(1, true, 0)),
                block(1, true, 0),
                6,
                1000
            )
            .err(),
            Some(DownloadError::Protocol)
        );
        let (mut d, _) = BlockDownload::start(
            first(&[0; 16], block(0, true, 0)),
            block(0, true, 0),
            6,
            1000,
        )
        .unwrap();
        assert_eq!(
            d.on_block(block(2, true, 0), None, &[0; 16]),
            Err(DownloadError::Protocol),
            "gap"
        );
        assert_eq!(
            d.on_block(block(1, true, 0), None, &[0; 15]),
            Err(DownloadError::Protocol),
            "short middle block"
        );
        assert_eq!(
            d.on_block(block(1, true, 0), Some(b"x"), &[0; 16]),
            Err(DownloadError::Protocol),
            "etag changed"
        );
    }

    #[test]
    fn limits() {
        let mut r = first(&[0; 16], block(0, true, 0));
        r.options.set_uint(number::SIZE2, 5000);
        assert_eq!(
            BlockDownload::start(r, block(0, true, 0), 6, 1000).err(),
            Some(DownloadError::TooLarge)
        );
        let mut r = first(&[0; 16], block(0, true, 0));
        r.options.remove(number::SIZE2);
        let (mut d, _) = BlockDownload::start(r, block(0, true, 0), 6, 20).unwrap();
        assert_eq!(
            d.on_block(block(1, true, 0), None, &[0; 16]),
            Err(DownloadError::TooLarge)
        );
    }
}
