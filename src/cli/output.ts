// What every `bunka` command prints: tables for people, JSON for scripts, one-line errors, progress on stderr.

/** An error the user can act on: printed as one line (no stack trace), exit code 1. */
export class CliError extends Error {}

export function table(headers: string[], rows: (string | number | boolean | null)[][]): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => (cell === null ? "-" : String(cell))))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => row[column]!.length)));
  return cells.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()).join("\n");
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value));
}

/**
 * A progress line on stderr, redrawn at most 10 times a second, only when stderr is a terminal (scripts and
 * pipes see nothing); finish() ends the line.
 */
export class Progress {
  private lastDrawMs = 0;
  private drawn = false;
  private readonly enabled = process.stderr.isTTY === true;

  constructor(private readonly label: string, private readonly total: number | null) {}

  update(done: number, detail = ""): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDrawMs < 100 && done !== this.total) return;
    this.lastDrawMs = now;
    this.drawn = true;
    const width = 30;
    const bar = this.total ? `[${"#".repeat(Math.round((Math.min(done, this.total) / this.total) * width)).padEnd(width, ".")}] ${done}/${this.total}` : `${done}`;
    process.stderr.write(`\r${this.label} ${bar} ${detail}\x1b[K`);
  }

  finish(): void {
    if (this.drawn) process.stderr.write("\n");
    this.drawn = false;
  }
}

/** One line for any failure: the message of a known error, the message (not the stack) of anything else. */
export function errorLine(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: string }).code;
    if ((code === "ECONNREFUSED" || /ECONNREFUSED|Connection refused/i.test(error.message)) && !error.message.includes("is the broker running")) return `${error.message.split("\n")[0]} (is the broker running?)`;
    return error.message.split("\n")[0]!;
  }
  return String(error);
}
