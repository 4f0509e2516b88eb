/**
 * Round trip of every generated message at every valid version: random values
 * (seeded, driven by the schema model) for every field the version has, written,
 * read back, compared with what was written (fields the version lacks read back
 * as their defaults). Also write({}) reads back as all defaults.
 */
import { expect, test } from "bun:test";
import { Reader } from "../../src/protocol/codec/reader.ts";
import { Writer } from "../../src/protocol/codec/writer.ts";
import { ValueBuilder, codecOf, messages, rng, seedOf, versionsOf } from "./model.ts";

const ITERATIONS = 12;

test("the schema model covers requests, responses, headers and data types", () => {
  const types = new Set(messages.map((m) => m.type));
  expect([...types].sort()).toEqual(["data", "header", "request", "response"]);
  expect(messages.length).toBeGreaterThan(150);
});

for (const msg of messages) {
  test(`${msg.name} round-trips at versions ${msg.validVersions}`, () => {
    const { read, write } = codecOf(msg.name);
    const random = rng(seedOf(msg.name));
    const b = new ValueBuilder(msg, random);
    for (const v of versionsOf(msg.validVersions)) {
      for (let i = 0; i <= ITERATIONS; i++) {
        const { input, expected } = i === 0 ? { input: {}, expected: b.defaults(b.root(), v) } : b.struct(b.root(), v);
        const w = new Writer(i % 2 === 0 ? 16 : 256);
        write(w, v, input);
        // A plain Uint8Array copy: decoded byte fields are views of it.
        const bytes = new Uint8Array(w.toUint8Array());
        expect(w.sizeBytes).toBe(bytes.length);
        const r = new Reader(bytes);
        let decoded: unknown;
        try {
          decoded = read(r, v);
        } catch (e) {
          throw new Error(`${msg.name} v${v} iteration ${i}: ${(e as Error).message}`);
        }
        if (!Bun.deepEquals(decoded, expected, true)) {
          // Show a readable diff.
          expect({ version: v, iteration: i, value: decoded }).toEqual({ version: v, iteration: i, value: expected });
        }
        expect(r.offset).toBe(bytes.length);
        // Writing what was read gives the same bytes.
        const w2 = new Writer();
        write(w2, v, decoded);
        expect(Bun.deepEquals(w2.toUint8Array(), w.toUint8Array())).toBe(true);
      }
    }
  });
}
