// Where the log cleaner stopped (Kafka's cleaner-offset-checkpoint, kept here per partition directory):
// the first dirty offset (everything below it was cleaned against a map that covered it) and the timestamp
// of the oldest tombstone the last clean kept, so that a log nobody writes to is cleaned again once that
// tombstone passes delete.retention.ms. Text, written atomically: "0\n<firstDirtyOffset> <oldestTombstoneMs>\n".
import * as path from "node:path";
import { writeFileAtomically } from "./checkpoint.ts";
import { nodeFileSystem, readTextFileOrNull, type FileSystem } from "./file-system.ts";

export const CLEANER_CHECKPOINT_FILE = "cleaner-offset-checkpoint";
const VERSION = 0;
/** No tombstone is waiting for its delete horizon. */
export const NO_TOMBSTONE = -1;

export class CleanerCheckpoint {
  readonly path: string;
  /** 0 before the first clean: the whole log is dirty. */
  firstDirtyOffset = 0;
  /** Timestamp of the oldest tombstone kept by the last clean, or NO_TOMBSTONE. */
  oldestTombstoneMs = NO_TOMBSTONE;

  constructor(
    dir: string,
    private readonly files: FileSystem = nodeFileSystem,
  ) {
    this.path = path.join(dir, CLEANER_CHECKPOINT_FILE);
    this.read();
  }

  /** Records a finished clean. */
  update(firstDirtyOffset: number, oldestTombstoneMs: number): void {
    if (!(Number.isSafeInteger(firstDirtyOffset) && firstDirtyOffset >= 0)) throw new RangeError(`${this.path}: first dirty offset ${firstDirtyOffset}`);
    if (firstDirtyOffset === this.firstDirtyOffset && oldestTombstoneMs === this.oldestTombstoneMs) return;
    this.firstDirtyOffset = firstDirtyOffset;
    this.oldestTombstoneMs = oldestTombstoneMs;
    writeFileAtomically(this.path, `${VERSION}\n${firstDirtyOffset} ${oldestTombstoneMs}\n`, this.files);
  }

  /** The log was truncated below the checkpoint (Kafka's maybeTruncateCheckpoint): what is left is clean. */
  truncateTo(offset: number): void {
    if (this.firstDirtyOffset > offset) this.update(offset, this.oldestTombstoneMs);
  }

  private read(): void {
    const text = readTextFileOrNull(this.files, this.path);
    if (text === null) return;
    // Assert after reading: anything unexpected means "start over", which only costs a full clean.
    const match = /^0\n(\d{1,16}) (-1|\d{1,16})\n$/.exec(text);
    if (!match) return;
    const firstDirtyOffset = Number(match[1]);
    const oldestTombstoneMs = Number(match[2]);
    if (!Number.isSafeInteger(firstDirtyOffset) || !Number.isSafeInteger(oldestTombstoneMs)) return;
    this.firstDirtyOffset = firstDirtyOffset;
    this.oldestTombstoneMs = oldestTombstoneMs;
  }
}
