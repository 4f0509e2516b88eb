import { expect, test } from "bun:test";
import { ProtocolDecodeError, Reader } from "../../src/protocol/codec/reader.ts";
import { ProtocolEncodeError, Writer } from "../../src/protocol/codec/writer.ts";
import type { ExternalRecords } from "../../src/protocol/codec/records.ts";
import { fromHex, hex, rng } from "./model.ts";

function bytesOf(f: (w: Writer) => void, cap = 4): string {
  const w = new Writer(cap);
  f(w);
  return hex(w.toUint8Array());
}

test("fixed-size integers are big endian", () => {
  expect(bytesOf((w) => { w.writeInt8(-1); w.writeInt16(-2); w.writeUint16(65535); w.writeInt32(-3); w.writeUint32(4294967295); })).toBe(
    "ff" + "fffe" + "ffff" + "fffffffd" + "ffffffff",
  );
  const r = new Reader(fromHex("ff" + "fffe" + "ffff" + "fffffffd" + "ffffffff"));
  expect([r.readInt8(), r.readInt16(), r.readUint16(), r.readInt32(), r.readUint32()]).toEqual([-1, -2, 65535, -3, 4294967295]);
});

test("int64 as a JS number", () => {
  const cases: Array<[number, string]> = [
    [0, "0000000000000000"],
    [-1, "ffffffffffffffff"],
    [1, "0000000000000001"],
    [2 ** 32, "0000000100000000"],
    [-(2 ** 32), "ffffffff00000000"],
    [Number.MAX_SAFE_INTEGER, "001fffffffffffff"],
    [Number.MIN_SAFE_INTEGER, "ffe0000000000001"],
    [1700000000000, "0000018bcfe56800"],
  ];
  for (const [n, h] of cases) {
    expect(bytesOf((w) => w.writeInt64(n))).toBe(h);
    expect(new Reader(fromHex(h)).readInt64()).toBe(n);
  }
});

test("unsigned varints (protocol guide examples) and their limits", () => {
  const cases: Array<[number, string]> = [
    [0, "00"], [1, "01"], [127, "7f"], [128, "8001"], [300, "ac02"], [16383, "ff7f"], [16384, "808001"],
    [2 ** 31 - 1, "ffffffff07"], [2 ** 32 - 1, "ffffffff0f"],
  ];
  for (const [n, h] of cases) {
    expect(bytesOf((w) => w.writeUnsignedVarint(n))).toBe(h);
    const r = new Reader(fromHex(h));
    expect(r.readUnsignedVarint()).toBe(n);
    expect(r.remaining).toBe(0);
  }
  expect(() => new Reader(fromHex("ffffffffff01")).readUnsignedVarint()).toThrow(ProtocolDecodeError);
  expect(() => new Reader(fromHex("ffff")).readUnsignedVarint()).toThrow(ProtocolDecodeError);
});

test("zigzag varints and varlongs", () => {
  const ints: Array<[number, string]> = [[0, "00"], [-1, "01"], [1, "02"], [-2, "03"], [63, "7e"], [-64, "7f"], [64, "8001"],
    [2147483647, "feffffff0f"], [-2147483648, "ffffffff0f"]];
  for (const [n, h] of ints) {
    expect(bytesOf((w) => w.writeVarint(n))).toBe(h);
    expect(new Reader(fromHex(h)).readVarint()).toBe(n);
  }
  const longs: Array<[number, string]> = [[0, "00"], [-1, "01"], [1, "02"], [300, "d804"], [-2147483649, "8180808010"], [2147483648, "8080808010"],
    [Number.MAX_SAFE_INTEGER, "feffffffffffff1f"], [Number.MIN_SAFE_INTEGER, "fdffffffffffff1f"]];
  for (const [n, h] of longs) {
    expect(bytesOf((w) => w.writeVarlong(n))).toBe(h);
    expect(new Reader(fromHex(h)).readVarlong()).toBe(n);
  }
  expect(new Reader(fromHex("ffffffffffffffffff01")).readVarlong()).toBe(-(2 ** 63));
  expect(() => new Reader(fromHex("ffffffffffffffffffff01")).readVarlong()).toThrow(ProtocolDecodeError);
  const random = rng(1);
  for (let i = 0; i < 2000; i++) {
    const n = Math.trunc((random() * 2 - 1) * Number.MAX_SAFE_INTEGER / (i % 2 ? 1 : 2 ** 30));
    const w = new Writer(4);
    w.writeVarlong(n);
    expect(new Reader(w.toUint8Array()).readVarlong()).toBe(n);
  }
});

test("strings: classic, nullable, compact, unicode", () => {
  expect(bytesOf((w) => w.writeString("héllo"))).toBe("0006" + "68c3a96c6c6f");
  expect(bytesOf((w) => w.writeNullableString(null))).toBe("ffff");
  expect(bytesOf((w) => w.writeCompactString(""))).toBe("01");
  expect(bytesOf((w) => w.writeCompactNullableString(null))).toBe("00");
  for (const s of ["", "a", "名前😀", "x".repeat(42), "é".repeat(42), "y".repeat(43), "z".repeat(5000), "😀".repeat(100)]) {
    const w = new Writer(2);
    w.writeString(s);
    w.writeCompactString(s);
    w.writeNullableString(s);
    w.writeCompactNullableString(s);
    const r = new Reader(w.toUint8Array());
    expect([r.readString(), r.readCompactString(), r.readNullableString(), r.readCompactNullableString()]).toEqual([s, s, s, s]);
    expect(r.remaining).toBe(0);
  }
  expect(() => new Writer().writeString("x".repeat(40000))).toThrow(ProtocolEncodeError);
  expect(() => new Writer().writeCompactString("x".repeat(40000))).toThrow(ProtocolEncodeError);
});

test("invalid lengths throw ProtocolDecodeError", () => {
  expect(() => new Reader(fromHex("ffff")).readString()).toThrow(ProtocolDecodeError); // null for non-nullable
  expect(() => new Reader(fromHex("fffe")).readNullableString()).toThrow(ProtocolDecodeError); // -2
  expect(() => new Reader(fromHex("0005616263")).readString()).toThrow(ProtocolDecodeError); // beyond the end
  expect(() => new Reader(fromHex("00")).readCompactString()).toThrow(ProtocolDecodeError);
  expect(() => new Reader(fromHex("fffffffe")).readNullableBytes()).toThrow(ProtocolDecodeError);
  expect(() => new Reader(fromHex("ffffffff")).readBytes()).toThrow(ProtocolDecodeError);
  expect(() => new Reader(fromHex("ffffffff")).readArrayLength()).toThrow(ProtocolDecodeError);
  expect(new Reader(fromHex("ffffffff")).readNullableArrayLength()).toBe(-1);
  expect(() => new Reader(fromHex("fffffffe")).readNullableArrayLength()).toThrow(ProtocolDecodeError);
  expect(() => new Reader(fromHex("00000003" + "0000")).readArrayLength()).toThrow(ProtocolDecodeError); // 3 > 2 bytes left
  expect(new Reader(fromHex("00")).readCompactNullableArrayLength()).toBe(-1);
  expect(() => new Reader(fromHex("00")).readCompactArrayLength()).toThrow(ProtocolDecodeError);
  expect(() => new Reader(fromHex("ff")).readRecords(false)).toThrow(ProtocolDecodeError);
  expect(new Reader(fromHex("ffffffff")).readRecords(false)).toBeNull();
  expect(() => new Reader(fromHex("ffffffff")).readRecords(false, false)).toThrow(ProtocolDecodeError);
  for (const f of ["readInt8", "readInt16", "readInt32", "readInt64", "readFloat64", "readUuid", "readBool", "readUnsignedVarint"] as const) {
    expect(() => new Reader(new Uint8Array(0))[f]()).toThrow(ProtocolDecodeError);
  }
});

test("bytes, uuids and records are views of the input", () => {
  const buf = fromHex("00000003" + "aabbcc" + "04" + "010203" + "00112233445566778899aabbccddeeff" + "00000002" + "beef");
  const r = new Reader(buf);
  const a = r.readBytes();
  const b = r.readCompactBytes();
  const u = r.readUuid();
  const rec = r.readRecords(false)!;
  expect(hex(a)).toBe("aabbcc");
  expect(hex(b)).toBe("010203");
  expect(hex(u)).toBe("00112233445566778899aabbccddeeff");
  expect(hex(rec)).toBe("beef");
  for (const v of [a, b, u, rec]) expect(v.buffer).toBe(buf.buffer);
  buf[4] = 0x11;
  expect(a[0]).toBe(0x11);
});

test("tagged fields: skip, read by callback, size checks", () => {
  // two fields: tag 0 size 2 (abcd), tag 5 size 1 (01)
  const section = "02" + "00" + "02" + "abcd" + "05" + "01" + "01";
  const r = new Reader(fromHex(section + "ee"));
  r.skipTaggedFields();
  expect(r.readInt8()).toBe(-18);
  const seen: Array<[number, number]> = [];
  new Reader(fromHex(section)).readTaggedFields((tag, size, rr) => {
    seen.push([tag, size]);
    if (tag === 5) expect(rr.readInt8()).toBe(1);
  });
  expect(seen).toEqual([[0, 2], [5, 1]]);
  expect(() => new Reader(fromHex("01" + "00" + "05" + "abcd")).skipTaggedFields()).toThrow(ProtocolDecodeError);
  expect(() =>
    new Reader(fromHex("01" + "00" + "01" + "abcd")).readTaggedFields((_t, _s, rr) => { rr.readInt16(); }),
  ).toThrow(/overran/);
});

test("writer: tagged field sizes are inserted in front of the data", () => {
  const w = new Writer(4);
  w.writeUnsignedVarint(2);
  let s = w.beginTaggedField(1);
  w.writeInt32(7);
  w.endTaggedField(s);
  s = w.beginTaggedField(2);
  w.writeRaw(new Uint8Array(200).fill(9));
  w.endTaggedField(s);
  w.writeInt8(1);
  const out = w.toUint8Array();
  // count 2; tag 1, size 4, int32 7; tag 2, size 200 (c8 01), data
  expect(hex(out.subarray(0, 7))).toBe("02" + "01" + "04" + "00000007");
  expect(hex(out.subarray(7, 12))).toBe("02" + "c801" + "0909");
  expect(out.length).toBe(1 + 2 + 4 + 1 + 2 + 200 + 1);
  expect(out[out.length - 2]).toBe(9);
  expect(out[out.length - 1]).toBe(1);
});

test("writer: external records leave holes; finish() returns chunks in order", () => {
  const ext1: ExternalRecords & { file: string } = { external: true, sizeBytes: 1000, file: "a.log" };
  const ext2: ExternalRecords = { external: true, sizeBytes: 5 };
  const w = new Writer(4);
  const at = w.reserveInt32();
  w.writeInt16(1);
  w.writeRecords(ext1, false);
  w.writeRecords(ext2, true);
  w.writeRecords(new Uint8Array([1, 2]), true);
  w.writeRecords(null, false);
  w.writeRecords(null, true);
  w.patchInt32(at, w.sizeBytes - 4);
  const parts = w.finish();
  expect(parts.length).toBe(5);
  expect(hex(parts[0] as Uint8Array)).toBe("000003fc" + "0001" + "000003e8");
  expect(parts[1]).toBe(ext1);
  expect(hex(parts[2] as Uint8Array)).toBe("06");
  expect(parts[3]).toBe(ext2);
  expect(hex(parts[4] as Uint8Array)).toBe("030102" + "ffffffff" + "00");
  expect(w.sizeBytes).toBe(4 + 2 + 4 + 1000 + 1 + 5 + 3 + 4 + 1);
  expect(() => w.toUint8Array()).toThrow(ProtocolEncodeError);
  // Holes cannot be moved by a tagged field.
  const w2 = new Writer();
  const s = w2.beginTaggedField(0);
  w2.writeRecords(ext2, true);
  expect(() => w2.endTaggedField(s)).toThrow(ProtocolEncodeError);
});

test("writer: finish() without external parts is one view; growth keeps the data", () => {
  const w = new Writer(1);
  for (let i = 0; i < 10000; i++) w.writeInt32(i);
  const parts = w.finish();
  expect(parts.length).toBe(1);
  const r = new Reader(parts[0] as Uint8Array);
  for (let i = 0; i < 10000; i++) expect(r.readInt32()).toBe(i);
  expect(() => w.patchInt32(w.offset, 1)).toThrow(ProtocolEncodeError);
  expect(() => new Writer().writeUuid(new Uint8Array(15))).toThrow(ProtocolEncodeError);
});
