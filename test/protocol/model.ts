/**
 * Test helpers: the schema model written by the generator (schema-model.json),
 * a seeded random value builder driven by it, and the values a reader must
 * produce (defaults for fields absent in a version).
 */
import modelJson from "../../src/protocol/generated/schema-model.json";
import * as generated from "../../src/protocol/generated/index.ts";
import type { Reader } from "../../src/protocol/codec/reader.ts";
import type { Writer } from "../../src/protocol/codec/writer.ts";

export interface MField {
  prop: string;
  type: string;
  versions: string;
  nullable?: string;
  tagged?: string;
  tag?: number;
  flexible?: string;
  default?: number | boolean | string | null;
}

export interface MStruct {
  name: string;
  versions: string;
  fields: MField[];
}

export interface MMessage {
  name: string;
  type: string;
  apiKey?: number;
  validVersions: string;
  flexibleVersions: string;
  structs: MStruct[];
}

export const messages: MMessage[] = (modelJson as unknown as { messages: MMessage[] }).messages;

export function inRange(v: number, spec: string | undefined): boolean {
  if (spec === undefined || spec === "none") return false;
  if (spec.endsWith("+")) return v >= Number(spec.slice(0, -1));
  const [lo, hi] = spec.split("-");
  return v >= Number(lo) && v <= Number(hi ?? lo);
}

export function versionsOf(spec: string): number[] {
  const [lo, hi] = spec.split("-");
  const out: number[] = [];
  for (let v = Number(lo); v <= Number(hi ?? lo); v++) out.push(v);
  return out;
}

type Codec = {
  read: (r: Reader, v: number) => unknown;
  write: (w: Writer, v: number, m: any) => void;
};

export function codecOf(name: string): Codec {
  const g = generated as unknown as Record<string, unknown>;
  const read = g[`read${name}`];
  const write = g[`write${name}`];
  if (typeof read !== "function" || typeof write !== "function") throw new Error(`no codec for ${name}`);
  return { read: read as Codec["read"], write: write as Codec["write"] };
}

/** mulberry32: small seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seedOf(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

const PRIMITIVES = new Set(["bool", "int8", "int16", "uint16", "int32", "uint32", "int64", "float64", "string", "bytes", "uuid", "records"]);
const ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._ ";
const UNICODE = ["é", "ß", "名前", "😀", "Ω", "\u0000", "ü"];

export class ValueBuilder {
  private readonly structs: Map<string, MStruct>;

  constructor(readonly msg: MMessage, readonly random: () => number) {
    this.structs = new Map(msg.structs.map((s) => [s.name, s]));
  }

  root(): MStruct {
    return this.msg.structs[0];
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  private bytes(maxLen: number): Uint8Array {
    const b = new Uint8Array(this.int(0, maxLen));
    for (let i = 0; i < b.length; i++) b[i] = this.int(0, 255);
    return b;
  }

  private string(): string {
    const p = this.random();
    const len = p < 0.7 ? this.int(0, 12) : p < 0.9 ? this.int(30, 60) : this.int(100, 300);
    let s = "";
    while (s.length < len) {
      s += this.random() < 0.1 ? UNICODE[this.int(0, UNICODE.length - 1)] : ALPHABET[this.int(0, ALPHABET.length - 1)];
    }
    return s;
  }

  private primitive(type: string): unknown {
    const special = this.random() < 0.15;
    switch (type) {
      case "bool":
        return this.random() < 0.5;
      case "int8":
        return special ? [-128, -1, 0, 127][this.int(0, 3)] : this.int(-128, 127);
      case "int16":
        return special ? [-32768, -1, 0, 32767][this.int(0, 3)] : this.int(-32768, 32767);
      case "uint16":
        return special ? [0, 65535][this.int(0, 1)] : this.int(0, 65535);
      case "int32":
        return special ? [-2147483648, -1, 0, 2147483647][this.int(0, 3)] : this.int(-2147483648, 2147483647);
      case "uint32":
        return special ? [0, 4294967295][this.int(0, 1)] : this.int(0, 4294967295);
      case "int64":
        return special
          ? [-1, 0, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 32, -(2 ** 32)][this.int(0, 5)]
          : Math.trunc((this.random() * 2 - 1) * Number.MAX_SAFE_INTEGER);
      case "float64":
        return special ? [0, 1.5, -2.25, 1e300][this.int(0, 3)] : (this.random() - 0.5) * 1e9;
      case "string":
        return this.string();
      case "bytes":
        return this.bytes(24);
      case "records":
        return this.bytes(48);
      case "uuid": {
        const u = new Uint8Array(16);
        for (let i = 0; i < 16; i++) u[i] = this.int(0, 255);
        return u;
      }
    }
    throw new Error(`unknown primitive ${type}`);
  }

  /** A random non-null value of `type` at version v: what to write and what a reader returns. */
  valueOf(type: string, v: number, depth: number): { input: unknown; expected: unknown } {
    if (type.startsWith("[]")) {
      const n = depth > 3 ? 0 : this.int(0, 3);
      const input: unknown[] = [];
      const expected: unknown[] = [];
      for (let i = 0; i < n; i++) {
        const e = this.valueOf(type.slice(2), v, depth + 1);
        input.push(e.input);
        expected.push(e.expected);
      }
      return { input, expected };
    }
    if (PRIMITIVES.has(type)) {
      const value = this.primitive(type);
      return { input: value, expected: value };
    }
    return this.struct(this.structs.get(type)!, v, depth + 1);
  }

  /**
   * A random struct value at version v: `input` to write (sometimes with fields the
   * version lacks, which the writer must ignore) and what a reader returns for it.
   */
  struct(s: MStruct, v: number, depth = 0): { input: Record<string, unknown>; expected: Record<string, unknown> } {
    const input: Record<string, unknown> = {};
    const expected: Record<string, unknown> = {};
    for (const f of s.fields) {
      if (inRange(v, f.versions)) {
        if (inRange(v, f.nullable) && this.random() < 0.2) {
          input[f.prop] = null;
          expected[f.prop] = null;
        } else {
          const value = this.valueOf(f.type, v, depth);
          input[f.prop] = value.input;
          expected[f.prop] = value.expected;
        }
      } else {
        if (this.random() < 0.5) input[f.prop] = this.valueOf(f.type, v, depth + 2).input;
        expected[f.prop] = absentDefault(f, this.structs);
      }
    }
    return { input, expected };
  }

  /** What a reader returns for `write({})` at version v. */
  defaults(s: MStruct, v: number): Record<string, unknown> {
    return writtenDefaults(s, v, this.structs);
  }
}

/** The value a reader gives a field absent in the version read. */
export function absentDefault(f: MField, structs: Map<string, MStruct>): unknown {
  if (f.default === null) return null;
  if (f.type.startsWith("[]")) return [];
  switch (f.type) {
    case "bool":
      return f.default ?? false;
    case "string":
      return f.default ?? "";
    case "bytes":
      return new Uint8Array(0);
    case "uuid":
      return new Uint8Array(16);
    case "records":
      return null;
    case "int8":
    case "int16":
    case "uint16":
    case "int32":
    case "uint32":
    case "int64":
    case "float64":
      return f.default ?? 0;
  }
  const s = structs.get(f.type)!;
  const out: Record<string, unknown> = {};
  for (const g of s.fields) out[g.prop] = absentDefault(g, structs);
  return out;
}

/** What a reader returns at version v for a struct written from `{}`. */
function writtenDefaults(s: MStruct, v: number, structs: Map<string, MStruct>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of s.fields) {
    if (!inRange(v, f.versions)) out[f.prop] = absentDefault(f, structs);
    else if (f.type === "records" && f.default !== null && f.nullable === undefined) out[f.prop] = new Uint8Array(0);
    else if (!PRIMITIVES.has(f.type) && !f.type.startsWith("[]") && f.default !== null) {
      out[f.prop] = writtenDefaults(structs.get(f.type)!, v, structs);
    } else out[f.prop] = absentDefault(f, structs);
  }
  return out;
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

export function fromHex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/[^0-9a-f]/gi, ""), "hex"));
}
