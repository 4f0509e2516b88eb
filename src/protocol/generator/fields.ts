/**
 * Field-level helpers shared by the type, reader and writer emitters:
 * TypeScript types, default values, and splitting a field's versions into
 * cases with a constant encoding (compact or not, nullable or not).
 */
import { NONE, formatRange, intersect, isEmpty, type FieldSpec, type FieldType, type Range, type StructSpec } from "./schema.ts";

/** Runtime names a generated file may import; emitters record what they use. */
export type RuntimeName =
  | "Reader"
  | "Writer"
  | "Input"
  | "Records"
  | "ProtocolDecodeError"
  | "ProtocolEncodeError"
  | "nullNotAllowed"
  | "isZeroUuid"
  | "EMPTY_BYTES"
  | "ZERO_UUID";

export class FileContext {
  readonly used = new Set<RuntimeName>();
  /** Structs that need a `default<Name>()` factory (non-nullable struct fields). */
  readonly needsDefault = new Set<StructSpec>();
  /** Structs that need an `isDefault<Name>()` check (tagged struct fields). */
  readonly needsIsDefault = new Set<StructSpec>();

  use(name: RuntimeName): string {
    this.used.add(name);
    return name;
  }
}

export function isNullableAnywhere(f: FieldSpec): boolean {
  return !isEmpty(f.nullableVersions);
}

export function isTagged(f: FieldSpec): boolean {
  return !isEmpty(f.taggedVersions);
}

export function baseTsType(t: FieldType, fc: FileContext): string {
  switch (t.kind) {
    case "struct":
      return t.struct.tsName;
    case "array": {
      const e = baseTsType(t.element, fc);
      return `${e}[]`;
    }
    case "primitive":
      switch (t.name) {
        case "bool":
          return "boolean";
        case "string":
          return "string";
        case "bytes":
        case "uuid":
          return "Uint8Array";
        case "records":
          return fc.use("Records");
        default:
          return "number";
      }
  }
}

export function fieldTsType(f: FieldSpec, fc: FileContext): string {
  const base = baseTsType(f.type, fc);
  if (f.type.kind === "primitive" && f.type.name === "records") return base; // Records includes null
  return isNullableAnywhere(f) ? `${base} | null` : base;
}

function primitiveDefault(f: FieldSpec): string {
  const t = f.type;
  if (t.kind !== "primitive") throw new Error("not a primitive");
  const d = f.defaultValue;
  switch (t.name) {
    case "bool":
      return d === true ? "true" : "false";
    case "string":
      return JSON.stringify(typeof d === "string" ? d : "");
    default:
      return typeof d === "number" ? String(d) : "0";
  }
}

/** The value a reader gives a field that is absent in the version read (a fresh value). */
export function readDefault(f: FieldSpec, fc: FileContext): string {
  if (f.defaultValue === null) return "null";
  const t = f.type;
  switch (t.kind) {
    case "array":
      return "[]";
    case "struct":
      fc.needsDefault.add(t.struct);
      return `default${t.struct.tsName}()`;
    case "primitive":
      switch (t.name) {
        case "bytes":
          return "new Uint8Array(0)";
        case "uuid":
          return "new Uint8Array(16)";
        case "records":
          return "null";
        default:
          return primitiveDefault(f);
      }
  }
}

/** The value a writer uses for an undefined field (shared constants, never written to). */
export function writeDefault(f: FieldSpec, fc: FileContext): string {
  if (f.defaultValue === null) return "null";
  const t = f.type;
  switch (t.kind) {
    case "array":
      return "[]";
    case "struct":
      return "{}";
    case "primitive":
      switch (t.name) {
        case "bytes":
          return fc.use("EMPTY_BYTES");
        case "uuid":
          return fc.use("ZERO_UUID");
        case "records":
          return isEmpty(f.nullableVersions) ? fc.use("EMPTY_BYTES") : "null";
        default:
          return primitiveDefault(f);
      }
  }
}

/** `m.x` with the default applied when undefined (null stays null for nullable fields). */
export function writeValue(f: FieldSpec, fc: FileContext, obj = "m"): string {
  const d = writeDefault(f, fc);
  const access = `${obj}.${f.prop}`;
  if (isNullableAnywhere(f) && d !== "null") return `${access} === undefined ? ${d} : ${access}`;
  return `${access} ?? ${d}`;
}

/** Does the encoding of this type change in flexible versions (compact lengths)? */
export function flexSensitive(t: FieldType): boolean {
  if (t.kind === "array") return true;
  if (t.kind === "struct") return false; // the struct's own function handles it
  return t.name === "string" || t.name === "bytes" || t.name === "records";
}

/** The cases a field's `present` versions split into (see splitCases). */
export function fieldCases(f: FieldSpec, present: Range, flexible: Range = f.flexibleVersions): Case[] {
  return splitCases(present, flexSensitive(f.type) ? flexible : NONE, f.nullableVersions);
}

export interface Case {
  readonly range: Range;
  readonly flex: boolean;
  readonly nullable: boolean;
}

/**
 * Splits `present` into maximal sub-ranges where the encoding is constant:
 * compact or not (flexible), nullable or not. Ascending order.
 */
export function splitCases(present: Range, flexible: Range, nullable: Range): Case[] {
  if (isEmpty(present)) return [];
  const points = new Set<number>([present.lo]);
  for (const p of [flexible.lo, flexible.hi + 1, nullable.lo, nullable.hi + 1]) {
    if (Number.isFinite(p) && p > present.lo && p <= present.hi) points.add(p);
  }
  const starts = [...points].sort((a, b) => a - b);
  const raw: Case[] = starts.map((lo, i) => {
    const hi = i + 1 < starts.length ? starts[i + 1] - 1 : present.hi;
    const r = { lo, hi };
    return {
      range: r,
      flex: !isEmpty(intersect(r, flexible)),
      nullable: !isEmpty(intersect(r, nullable)),
    };
  });
  const merged: Case[] = [];
  for (const c of raw) {
    const prev = merged[merged.length - 1];
    if (prev && prev.flex === c.flex && prev.nullable === c.nullable) {
      merged[merged.length - 1] = { ...prev, range: { lo: prev.range.lo, hi: c.range.hi } };
    } else {
      merged.push(c);
    }
  }
  return merged;
}

/** One-line description of a field's versions for doc comments. */
export function versionNote(f: FieldSpec): string {
  const parts = [`versions ${formatRange(f.versions)}`];
  if (!isEmpty(f.nullableVersions)) parts.push(`nullable ${formatRange(f.nullableVersions)}`);
  if (!isEmpty(f.taggedVersions)) parts.push(`tag ${f.tag} in ${formatRange(f.taggedVersions)}`);
  if (f.defaultValue !== undefined) parts.push(`default ${JSON.stringify(f.defaultValue)}`);
  return parts.join(", ");
}
