// Record data reaches the page cache in writes that end at multiples of 16 KiB of the file.
//
// Why: the kernel sizes a page-cache folio by the length of the write that creates it (ext4's large folios),
// and on a VM that hands free guest memory back to its host (virtio free-page reporting), the first touch of
// memory freed a while ago faults through the hypervisor. Measured on the dev VM (kernel 6.18, ext4, bench
// note "The machine" in bench/analysis.md): 1.5 GiB written to a new file 8 s after the previous one was
// deleted ran at 2.1-3.6 GB/s in 16 KiB pwrites (seven runs) and at 0.09-0.19 GB/s in 4 KiB, 8 KiB, 32 KiB,
// 64 KiB, 1 MiB or 8 MiB ones, whose pages the host had to fault in; with warm pages 16 KiB and 1 MiB both ran
// at 3.6 GB/s, so the extra calls cost nothing measurable. Coalesced appends used to go out as one pwritev of
// several MiB (0.06 GB/s in the same test). Pieces end at aligned file offsets, so an unaligned append's
// first piece fills the folio the previous append began.
import type { FileSystem } from "./file-system.ts";

export const PAGE_CACHE_WRITE_BYTES = 16 * 1024;

/** A pwrite on a regular file writes everything unless the disk is full; retry a few times. */
const MAX_WRITE_ATTEMPTS = 8;

/**
 * Writes `parts` back to back at `position` of `fd`, in pieces ending at multiples of PAGE_CACHE_WRITE_BYTES
 * (several small parts within one piece go out in one pwritev). Throws, naming `what`, when the disk keeps
 * refusing bytes.
 */
export function writePartsAt(files: FileSystem, fd: number, parts: readonly Uint8Array[], position: number, what: string): void {
  if (parts.length === 1) {
    writeBytesAt(files, fd, parts[0]!, position, what);
    return;
  }
  let pieceStart = position;
  let pieceBytes = 0;
  let piece: Uint8Array[] = [];
  for (const part of parts) {
    let offset = 0;
    while (offset < part.byteLength) {
      const room = PAGE_CACHE_WRITE_BYTES - ((pieceStart + pieceBytes) % PAGE_CACHE_WRITE_BYTES);
      const taken = Math.min(room, part.byteLength - offset);
      piece.push(offset === 0 && taken === part.byteLength ? part : part.subarray(offset, offset + taken));
      pieceBytes += taken;
      offset += taken;
      if (taken === room) {
        writePiece(files, fd, piece, pieceBytes, pieceStart, what);
        pieceStart += pieceBytes;
        pieceBytes = 0;
        piece = [];
      }
    }
  }
  if (pieceBytes > 0) writePiece(files, fd, piece, pieceBytes, pieceStart, what);
}

/** One buffer at `position`, in pieces ending at multiples of PAGE_CACHE_WRITE_BYTES. */
export function writeBytesAt(files: FileSystem, fd: number, bytes: Uint8Array, position: number, what: string): void {
  let writtenBytes = 0;
  for (let attempt = 0; writtenBytes < bytes.byteLength; ) {
    const at = position + writtenBytes;
    const pieceBytes = Math.min(PAGE_CACHE_WRITE_BYTES - (at % PAGE_CACHE_WRITE_BYTES), bytes.byteLength - writtenBytes);
    const written = files.write(fd, bytes, writtenBytes, pieceBytes, at);
    writtenBytes += written;
    if (written < pieceBytes && ++attempt >= MAX_WRITE_ATTEMPTS) throw new Error(`${what}: wrote ${writtenBytes} of ${bytes.byteLength} bytes at ${position}`);
  }
}

/** One pwritev of a piece's parts; a short write (disk full) is finished part by part. */
function writePiece(files: FileSystem, fd: number, parts: Uint8Array[], totalBytes: number, position: number, what: string): void {
  if (parts.length === 1) {
    writeBytesAt(files, fd, parts[0]!, position, what);
    return;
  }
  const writtenBytes = files.writev(fd, parts, position);
  if (writtenBytes === totalBytes) return;
  let partStart = 0;
  for (const part of parts) {
    const partEnd = partStart + part.byteLength;
    if (partEnd > writtenBytes) {
      const skip = Math.max(0, writtenBytes - partStart);
      writeBytesAt(files, fd, part.subarray(skip), position + partStart + skip, what);
    }
    partStart = partEnd;
  }
}
