/**
 * Hostile input: every truncation of valid encodings, random garbage, and valid
 * encodings with bytes flipped. The readers must throw ProtocolDecodeError (never
 * another error type, never hang) or decode.
 */
import { expect, test } from "bun:test";
import { ProtocolDecodeError, Reader } from "../../src/protocol/codec/reader.ts";
import { Writer } from "../../src/protocol/codec/writer.ts";
import { ValueBuilder, codecOf, messages, rng, seedOf, versionsOf } from "./model.ts";

function decodeOrDecodeError(read: (r: Reader, v: number) => unknown, bytes: Uint8Array, v: number, what: string): boolean {
  try {
    read(new Reader(bytes), v);
    return true;
  } catch (e) {
    if (!(e instanceof ProtocolDecodeError)) {
      throw new Error(`${what}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    }
    return false;
  }
}

function encodeRandom(name: string, v: number, seed: string): Uint8Array {
  const msg = messages.find((m) => m.name === name)!;
  const b = new ValueBuilder(msg, rng(seedOf(seed)));
  const w = new Writer();
  codecOf(name).write(w, v, b.struct(b.root(), v).input);
  return new Uint8Array(w.toUint8Array());
}

test("every truncation of every message at every version throws ProtocolDecodeError", () => {
  let cuts = 0;
  for (const msg of messages) {
    const { read } = codecOf(msg.name);
    for (const v of versionsOf(msg.validVersions)) {
      const bytes = encodeRandom(msg.name, v, `truncate ${msg.name} ${v}`);
      for (let cut = 0; cut < bytes.length; cut++) {
        const ok = decodeOrDecodeError(read, bytes.slice(0, cut), v, `${msg.name} v${v} cut at ${cut}/${bytes.length}`);
        if (ok) throw new Error(`${msg.name} v${v} decoded from ${cut} of ${bytes.length} bytes`);
        cuts++;
      }
    }
  }
  expect(cuts).toBeGreaterThan(10000);
});

test("truncations of views into a larger buffer (Reader over a subarray) also throw", () => {
  const bytes = encodeRandom("FetchResponse", 12, "fetch in a big buffer");
  const big = new Uint8Array(bytes.length + 100).fill(0x7f);
  big.set(bytes, 50);
  const { read } = codecOf("FetchResponse");
  expect(decodeOrDecodeError(read, big.subarray(50, 50 + bytes.length), 12, "whole")).toBe(true);
  for (let cut = 0; cut < bytes.length; cut++) {
    expect(decodeOrDecodeError(read, big.subarray(50, 50 + cut), 12, `cut ${cut}`)).toBe(false);
  }
});

test("random garbage decodes or throws ProtocolDecodeError for every message and version", () => {
  const random = rng(12345);
  let decoded = 0;
  let rejected = 0;
  for (const msg of messages) {
    const { read } = codecOf(msg.name);
    for (const v of versionsOf(msg.validVersions)) {
      for (let i = 0; i < 20; i++) {
        const len = Math.floor(random() * (i < 10 ? 16 : 300));
        const bytes = new Uint8Array(len);
        // Mostly small bytes so that lengths and counts are often plausible.
        for (let j = 0; j < len; j++) bytes[j] = random() < 0.6 ? Math.floor(random() * 4) : Math.floor(random() * 256);
        if (decodeOrDecodeError(read, bytes, v, `${msg.name} v${v} garbage #${i}`)) decoded++;
        else rejected++;
      }
    }
  }
  expect(rejected).toBeGreaterThan(0);
  expect(decoded + rejected).toBeGreaterThan(10000);
});

test("valid encodings with corrupted bytes decode or throw ProtocolDecodeError", () => {
  const random = rng(777);
  for (const msg of messages) {
    const { read } = codecOf(msg.name);
    for (const v of versionsOf(msg.validVersions)) {
      const bytes = encodeRandom(msg.name, v, `corrupt ${msg.name} ${v}`);
      if (bytes.length === 0) continue;
      for (let i = 0; i < 10; i++) {
        const copy = bytes.slice();
        const flips = 1 + Math.floor(random() * 3);
        for (let k = 0; k < flips; k++) {
          const at = Math.floor(random() * copy.length);
          copy[at] = random() < 0.5 ? 0xff : Math.floor(random() * 256);
        }
        decodeOrDecodeError(read, copy, v, `${msg.name} v${v} corrupted #${i}`);
      }
    }
  }
});

test("huge declared lengths are rejected before allocating", () => {
  const { read } = codecOf("ProduceRequest");
  // v3: transactional id null, acks, timeout, then a topic array claiming 2^31-1 entries.
  const bytes = new Uint8Array([0xff, 0xff, 0, 1, 0, 0, 0x75, 0x30, 0x7f, 0xff, 0xff, 0xff, 0, 0]);
  expect(() => read(new Reader(bytes), 3)).toThrow(ProtocolDecodeError);
  expect(() => read(new Reader(bytes), 3)).toThrow(/array length 2147483647 exceeds/);
  // v9: compact array length varint 0xffffffff.
  const flex = new Uint8Array([0x00, 0, 1, 0, 0, 0x75, 0x30, 0xff, 0xff, 0xff, 0xff, 0x0f]);
  expect(() => read(new Reader(flex), 9)).toThrow(ProtocolDecodeError);
});

test("unsupported versions are rejected", () => {
  const { read } = codecOf("ProduceRequest");
  expect(() => read(new Reader(new Uint8Array(64)), 12)).toThrow(ProtocolDecodeError);
  expect(() => read(new Reader(new Uint8Array(64)), -1)).toThrow(ProtocolDecodeError);
});
