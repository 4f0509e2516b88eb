// What an abort costs the partition's worker (bun bench/txnindex-fsync.ts): the ABORT marker of a transaction
// with data writes and fsyncs its `.txnindex` entry first (transaction-index.ts), on the worker thread, while
// a COMMIT marker only appends. Real files on the data disk (not tmpfs), one PartitionLog, markers alternating
// with a 1 KiB transactional batch so every ABORT ends a transaction with data.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Bench } from "tinybench";
import { PartitionLog } from "../src/log/partition-log.ts";
import { TransactionIndex } from "../src/log/transaction-index.ts";
import { buildBatch } from "../src/records/compression.ts";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "bunka-txnindex-bench-"));
const log = PartitionLog.open({ dir: path.join(root, "p-0"), config: { segmentBytes: 1 << 30 }, recover: false });
const index = TransactionIndex.load(root, 0, Number.MAX_SAFE_INTEGER).index;
const value = "v".repeat(1024);
let sequence = 0;
let entryOffset = 0;

function transactionalBatch(producerId: number): Uint8Array {
  return buildBatch({ producerId, producerEpoch: 0, baseSequence: sequence++, isTransactional: true, records: [{ key: "k", value }] });
}

function endTransaction(commit: boolean): void {
  const data = log.appendAsLeader(transactionalBatch(1), 0, Date.now());
  if (data.errorCode !== 0) throw new Error(`append: ${JSON.stringify(data)}`);
  const marker = log.appendMarker({ producerId: 1, producerEpoch: 0, coordinatorEpoch: 0, commit }, 0, Date.now());
  if (marker.errorCode !== 0) throw new Error(`marker: ${JSON.stringify(marker)}`);
}

const bench = new Bench({ time: 2000, warmupTime: 200 });
bench
  .add("1 KiB transactional batch + COMMIT marker (no .txnindex write)", () => endTransaction(true))
  .add("1 KiB transactional batch + ABORT marker (.txnindex entry written and fsynced first)", () => endTransaction(false))
  .add(".txnindex entry alone: 34-byte pwrite + fsync", () => {
    entryOffset += 2;
    index.append({ producerId: 1, firstOffset: entryOffset - 1, lastOffset: entryOffset, lastStableOffset: entryOffset + 1 });
  });
try {
  await bench.run();
  for (const task of bench.tasks) {
    const result = task.result as { latency?: { mean: number; p50?: number; p99: number } } | undefined;
    const ms = (value: number | undefined) => (value ?? NaN).toFixed(3);
    console.log(`${task.name}: mean ${ms(result?.latency?.mean)} ms, p50 ${ms(result?.latency?.p50)} ms, p99 ${ms(result?.latency?.p99)} ms`);
  }
} finally {
  log.close();
  fs.rmSync(root, { recursive: true, force: true });
}
