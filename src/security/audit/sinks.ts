// Where audit lines go: the broker's log stream (stderr, the default), or a file given by audit.log.file.
// The file is opened at start (a path that cannot be opened stops the start: an audit trail asked for is
// never silently missing) and appended to with asynchronous writes, one at a time, so the event loop never
// waits for the disk. Lines waiting beyond audit.log.buffer.max.bytes are dropped and counted; the count is
// written as its own line once there is room again.
import { closeSync, openSync, write } from "node:fs";

export interface AuditSink {
  write(line: string): void;
  /** Resolves once what was accepted is written (bounded by the caller's shutdown). */
  close(): Promise<void>;
}

/** The broker's log function: the audit lines are among the other log lines, one JSON object each. */
export function logStreamSink(log: (message: string) => void): AuditSink {
  return { write: (line) => log(line), close: async () => undefined };
}

export class FileAuditSink implements AuditSink {
  private readonly fd: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private writing: Promise<void> | null = null;
  private droppedLines = 0;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly bufferMaxBytes: number,
    private readonly log: (message: string) => void,
  ) {
    try {
      this.fd = openSync(path, "a", 0o600);
    } catch (error) {
      throw new Error(`config: audit.log.file ${path} cannot be opened for appending: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  write(line: string): void {
    if (this.closed) return;
    const bytes = line.length * 3 + 1; // UTF-8 upper bound: the check costs no encoding
    if (this.pendingBytes + bytes > this.bufferMaxBytes) {
      this.droppedLines++;
      return;
    }
    this.pending.push(line);
    this.pendingBytes += bytes;
    this.writing ??= this.drain();
  }

  /** Writes what is pending, batch by batch, until nothing is left. */
  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0 || this.droppedLines > 0) {
        if (this.droppedLines > 0) {
          this.pending.push(JSON.stringify({ event: "audit", result: "dropped", lines: this.droppedLines, reason: `more than audit.log.buffer.max.bytes=${this.bufferMaxBytes} waited for the disk`, time: new Date().toISOString() }));
          this.droppedLines = 0;
        }
        const batch = Buffer.from(`${this.pending.join("\n")}\n`);
        this.pending = [];
        this.pendingBytes = 0;
        await writeFully(this.fd, batch);
      }
    } catch (error) {
      this.log(`writing the audit log ${this.path} failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.writing = null;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.writing;
    closeSync(this.fd);
  }
}

/** fs.write in the thread pool until every byte is out (a short write is retried from where it stopped). */
async function writeFully(fd: number, bytes: Buffer): Promise<void> {
  let offset = 0;
  for (let attempts = 0; offset < bytes.byteLength; attempts++) {
    if (attempts >= 1024) throw new Error(`short writes: ${offset} of ${bytes.byteLength} bytes after ${attempts} attempts`);
    offset += await new Promise<number>((resolve, reject) => write(fd, bytes, offset, bytes.byteLength - offset, null, (error, written) => (error ? reject(error) : resolve(written))));
  }
}
