// Kafka's LeaderEpochFileCache (KIP-101, KIP-279): for each leader epoch, the first offset written in
// it. A follower asks the leader for the end offset of its latest epoch (OffsetForLeaderEpoch) and
// truncates to it, instead of to its high watermark, which could lose acknowledged data.
// Persisted to `leader-epoch-checkpoint` in Kafka's text format: version, count, "epoch offset" lines.
import * as path from "node:path";
import { writeFileAtomically } from "./checkpoint.ts";
import { nodeFileSystem, readTextFileOrNull, type FileSystem } from "./file-system.ts";

export const LEADER_EPOCH_CHECKPOINT_FILE = "leader-epoch-checkpoint";
const CHECKPOINT_VERSION = 0;
export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1;
/** One entry per leader change; a partition with more than this is a bug or a hostile file. */
const MAX_ENTRIES = 1_000_000;

export interface EpochEntry {
  epoch: number;
  startOffset: number;
}

export class LeaderEpochCache {
  /** Sorted by epoch; start offsets increase with epochs. */
  private epochs: EpochEntry[];
  readonly path: string;

  constructor(
    dir: string,
    private readonly files: FileSystem = nodeFileSystem,
  ) {
    this.path = path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE);
    this.epochs = readCheckpoint(this.path, files);
  }

  get entries(): readonly EpochEntry[] {
    return this.epochs;
  }

  get latestEpoch(): number {
    return this.epochs.length === 0 ? UNDEFINED_EPOCH : this.epochs[this.epochs.length - 1]!.epoch;
  }

  get latestEntry(): EpochEntry | undefined {
    return this.epochs[this.epochs.length - 1];
  }

  /**
   * Records that `epoch` starts at `startOffset`. Same epoch again with a later offset: ignored. Entries
   * that would break monotonicity (epoch >= epoch or startOffset >= startOffset) are removed first,
   * as Kafka does. Persists only when something changed.
   */
  assign(epoch: number, startOffset: number): void {
    if (!(epoch >= 0 && startOffset >= 0)) throw new RangeError(`leader epoch ${epoch} / start offset ${startOffset}`);
    const latest = this.latestEntry;
    if (latest && latest.epoch === epoch && latest.startOffset <= startOffset) return;
    this.epochs = this.epochs.filter((entry) => entry.epoch < epoch && entry.startOffset < startOffset);
    this.epochs.push({ epoch, startOffset });
    this.flush();
  }

  /**
   * OffsetForLeaderEpoch: the largest epoch <= requestedEpoch and the offset where the next epoch
   * starts (or logEndOffset if requestedEpoch is the latest). (-1, -1) when undefined.
   */
  endOffsetFor(requestedEpoch: number, logEndOffset: number): { epoch: number; endOffset: number } {
    if (requestedEpoch === UNDEFINED_EPOCH) return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    const latest = this.latestEntry;
    if (latest && latest.epoch === requestedEpoch) return { epoch: requestedEpoch, endOffset: logEndOffset };
    const higherIndex = this.epochs.findIndex((entry) => entry.epoch > requestedEpoch);
    if (higherIndex < 0) return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    const higher = this.epochs[higherIndex]!;
    if (higherIndex === 0) return { epoch: requestedEpoch, endOffset: higher.startOffset };
    return { epoch: this.epochs[higherIndex - 1]!.epoch, endOffset: higher.startOffset };
  }

  /** The log was truncated to endOffset: forget epochs that start at or after it. */
  truncateFromEnd(endOffset: number): void {
    const kept = this.epochs.filter((entry) => entry.startOffset < endOffset);
    if (kept.length === this.epochs.length) return;
    this.epochs = kept;
    this.flush();
  }

  /**
   * The log now starts at startOffset: drop epochs entirely before it; the epoch containing it now
   * starts there.
   */
  truncateFromStart(startOffset: number): void {
    let lastRemoved: EpochEntry | undefined;
    const kept: EpochEntry[] = [];
    for (const entry of this.epochs) {
      if (entry.startOffset <= startOffset) lastRemoved = entry;
      else kept.push(entry);
    }
    if (lastRemoved === undefined || (lastRemoved.startOffset === startOffset && kept.length === this.epochs.length - 1)) return;
    this.epochs = [{ epoch: lastRemoved.epoch, startOffset }, ...kept];
    this.flush();
  }

  clear(): void {
    this.epochs = [];
    this.flush();
  }

  private flush(): void {
    const lines = [String(CHECKPOINT_VERSION), String(this.epochs.length), ...this.epochs.map((entry) => `${entry.epoch} ${entry.startOffset}`)];
    writeFileAtomically(this.path, lines.join("\n") + "\n", this.files);
  }
}

function readCheckpoint(filePath: string, files: FileSystem): EpochEntry[] {
  const text = readTextFileOrNull(files, filePath);
  if (text === null) return [];
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  if (lines.length < 2 || Number(lines[0]) !== CHECKPOINT_VERSION) throw new Error(`${filePath}: unknown checkpoint version`);
  const count = Number(lines[1]);
  if (!Number.isSafeInteger(count) || count < 0 || count > MAX_ENTRIES || lines.length !== count + 2) throw new Error(`${filePath}: bad entry count`);
  const entries: EpochEntry[] = [];
  for (const line of lines.slice(2)) {
    const [epochText, offsetText] = line.trim().split(/\s+/);
    const epoch = Number(epochText);
    const startOffset = Number(offsetText);
    if (!Number.isSafeInteger(epoch) || !Number.isSafeInteger(startOffset) || epoch < 0 || startOffset < 0) throw new Error(`${filePath}: bad line "${line}"`);
    const previous = entries[entries.length - 1];
    if (previous && (epoch <= previous.epoch || startOffset < previous.startOffset)) throw new Error(`${filePath}: entries out of order`);
    entries.push({ epoch, startOffset });
  }
  return entries;
}
