/** A tiny indented line buffer for emitting TypeScript. */
export class Code {
  private readonly lines: string[] = [];
  private depth = 0;

  line(text = ""): this {
    this.lines.push(text === "" ? "" : "  ".repeat(this.depth) + text);
    return this;
  }

  /** Emits `text` (normally ending in "{") and indents. */
  open(text: string): this {
    this.line(text);
    this.depth++;
    return this;
  }

  /** Dedents, emits `text` (like "} else {") and indents again. */
  mid(text: string): this {
    this.depth--;
    this.line(text);
    this.depth++;
    return this;
  }

  /** Dedents and emits `text` (normally "}"). */
  close(text = "}"): this {
    this.depth--;
    if (this.depth < 0) throw new Error("Code: unbalanced close()");
    return this.line(text);
  }

  append(other: Code): this {
    for (const l of other.lines) this.lines.push(l === "" ? "" : "  ".repeat(this.depth) + l);
    return this;
  }

  toString(): string {
    if (this.depth !== 0) throw new Error("Code: unbalanced open()");
    return this.lines.join("\n") + "\n";
  }
}

/** A JSDoc comment body that cannot end the comment early. */
export function docText(text: string): string {
  return text.replace(/\*\//g, "*\\/").replace(/\s+/g, " ").trim();
}
