// High watermarks survive restarts in `replication-offset-checkpoint` (Kafka's file and text format):
// without it a restarted leader would report committed records as uncommitted until every follower
// fetched again, and `latest` offsets would go backwards.
import { existsSync, readFileSync } from "node:fs";
import { writeFileDurably } from "../util/durable-file.ts";
import { open, rename } from "node:fs/promises";
import { join } from "node:path";

const FILE_NAME = "replication-offset-checkpoint";
const FORMAT_VERSION = 0;

export class HighWatermarkCheckpoint {
  private readonly path: string;
  private readonly loaded = new Map<string, number>();

  constructor(dataDir: string) {
    this.path = join(dataDir, FILE_NAME);
    if (!existsSync(this.path)) return;
    const lines = readFileSync(this.path, "utf8").split("\n");
    if (Number(lines[0]) !== FORMAT_VERSION) return;
    const count = Number(lines[1]);
    for (let i = 0; i < count && i + 2 < lines.length; i++) {
      const line = lines[i + 2]!;
      const lastSpace = line.lastIndexOf(" ");
      const middleSpace = line.lastIndexOf(" ", lastSpace - 1);
      if (middleSpace <= 0) continue;
      const topic = line.slice(0, middleSpace);
      const partition = Number(line.slice(middleSpace + 1, lastSpace));
      const highWatermark = Number(line.slice(lastSpace + 1));
      if (Number.isInteger(partition) && Number.isSafeInteger(highWatermark)) this.loaded.set(`${topic}\u0000${partition}`, highWatermark);
    }
  }

  get(topic: string, partition: number): number {
    return this.loaded.get(`${topic}\u0000${partition}`) ?? 0;
  }

  private format(entries: Iterable<{ topic: string; partition: number; highWatermark: number }>): string {
    const lines: string[] = [];
    for (const entry of entries) lines.push(`${entry.topic} ${entry.partition} ${entry.highWatermark}`);
    return `${FORMAT_VERSION}\n${lines.length}\n${lines.join("\n")}\n`;
  }

  /**
   * The periodic write, off the socket thread: an fsync here can wait for a journal commit that carries
   * everything the partition workers wrote meanwhile (ext4 data=ordered), which would stall every client.
   */
  async writeInBackground(entries: Iterable<{ topic: string; partition: number; highWatermark: number }>): Promise<void> {
    const text = this.format(entries);
    const temporaryPath = `${this.path}.tmp`;
    const handle = await open(temporaryPath, "w");
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporaryPath, this.path);
  }

  /** Writes every partition's high watermark atomically (temporary file, fsync, rename); used at shutdown. */
  write(entries: Iterable<{ topic: string; partition: number; highWatermark: number }>): void {
    writeFileDurably(this.path, Buffer.from(this.format(entries)));
  }
}
