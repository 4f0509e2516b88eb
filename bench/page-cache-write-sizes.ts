// How fast new page cache fills, by the size of each pwrite (why src/log/page-cache-writes.ts writes appends in
// 16 KiB pieces). Each point writes a new file from one warm buffer, after waiting for the memory the previous
// (deleted) file gave back to be reported to the host, as on the dev VM (bench/analysis.md, "The machine").
//   bun bench/page-cache-write-sizes.ts [MiB per file = 1536] [sizes = 4096,16384,65536,1048576,8388608] [wait ms = 8000] [rounds = 1]
// Sizes above 1 MiB are written as one pwritev of 1 MiB parts (as coalesced appends once were).
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync, writevSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const MIB = 1024 * 1024;
const [totalMiB = "1536", sizesText = "4096,16384,65536,1048576,8388608", waitText = "8000", roundsText = "1"] = process.argv.slice(2);
const totalBytes = Number(totalMiB) * MIB;
const sizes = sizesText.split(",").map(Number);
const waitMs = Number(waitText);
const rounds = Math.min(Number(roundsText), 10);
const dir = mkdtempSync(join(tmpdir(), "bunka-write-sizes-"));
const source = new Uint8Array(MIB).fill(7);

try {
  for (let round = 0; round < rounds; round++) {
    for (const size of sizes) {
      await Bun.sleep(waitMs);
      const path = join(dir, `file-${size}`);
      const fd = openSync(path, "w");
      const started = performance.now();
      let slowestMs = 0;
      for (let position = 0; position < totalBytes; ) {
        const callStarted = performance.now();
        if (size > MIB) position += writevSync(fd, Array.from({ length: size / MIB }, () => source), position);
        else position += writeSync(fd, source, 0, size, position);
        slowestMs = Math.max(slowestMs, performance.now() - callStarted);
      }
      const seconds = (performance.now() - started) / 1000;
      closeSync(fd);
      unlinkSync(path);
      console.log(`round ${round + 1}, ${size} B writes: ${(totalBytes / seconds / 1e9).toFixed(2)} GB/s, slowest call ${slowestMs.toFixed(1)} ms`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
