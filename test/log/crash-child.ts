// Child process for crash.test.ts: appends to a PartitionLog in a loop and reports each append on stdout
// after it returned, until the parent kills it with SIGKILL. Usage: bun crash-child.ts <dir> <tag>
import * as fs from "node:fs";
import { PartitionLog } from "../../src/log/partition-log.ts";
import { buildBatch } from "../../src/records/compression.ts";

const [dir, tag] = process.argv.slice(2);
if (!dir || !tag) throw new Error("usage: crash-child.ts <dir> <tag>");
const log = PartitionLog.open({ dir, config: { segmentBytes: 256 * 1024, indexIntervalBytes: 1024 }, recover: true });
fs.writeSync(1, `open ${log.logEndOffset}\n`);
const maxAppends = 1_000_000; // the parent kills long before; the bound keeps a stray child finite
for (let index = 0; index < maxAppends; index++) {
  const count = 1 + (index % 9);
  // Sizes from ~100 bytes to ~40 KiB, so the kill can land inside a large write.
  const valueBytes = index % 13 === 0 ? 4000 : 10;
  const batch = buildBatch({
    records: Array.from({ length: count }, (_, record) => ({ value: `${tag}${index}-${record}`.padEnd(valueBytes, "#") })),
    timestampMs: 1_700_000_000_000 + index,
  });
  const info = log.appendAsLeader(batch, 1, Date.now());
  if (info.errorCode !== 0) throw new Error(`append failed ${JSON.stringify(info)}`);
  const appended = info as { baseOffset: number; lastOffset: number };
  fs.writeSync(1, `${tag}${index} ${appended.baseOffset} ${appended.lastOffset}\n`);
}
