/**
 * Loading Apache Kafka's message schemas (clients/src/main/resources/common/message/*.json)
 * into a small model the emitters work from: messages, structs (inline and common),
 * fields with their version ranges already parsed.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { covers, formatRange, intersect, isEmpty, parseRange, type Range } from "./versions.ts";
import { overriddenValidVersions } from "./version-overrides.ts";

export * from "./versions.ts";

// ---------------------------------------------------------------- model

export type Primitive =
  | "bool"
  | "int8"
  | "int16"
  | "uint16"
  | "int32"
  | "uint32"
  | "int64"
  | "float64"
  | "string"
  | "bytes"
  | "uuid"
  | "records";

const PRIMITIVES = new Set<string>([
  "bool",
  "int8",
  "int16",
  "uint16",
  "int32",
  "uint32",
  "int64",
  "float64",
  "string",
  "bytes",
  "uuid",
  "records",
]);

export type FieldType =
  | { readonly kind: "primitive"; readonly name: Primitive }
  | { readonly kind: "struct"; readonly struct: StructSpec }
  | { readonly kind: "array"; readonly element: FieldType };

export interface FieldSpec {
  /** Name in the schema ("TopicData"). */
  readonly name: string;
  /** Property name in TypeScript ("topicData"). */
  readonly prop: string;
  readonly type: FieldType;
  readonly versions: Range;
  /** nullableVersions within versions. */
  readonly nullableVersions: Range;
  /** taggedVersions within versions (empty if not tagged). */
  readonly taggedVersions: Range;
  readonly tag: number | undefined;
  /** Versions in which this field uses the compact encodings (field override or the message's). */
  readonly flexibleVersions: Range;
  /** The `default` from the schema, parsed; undefined when the type default applies. */
  readonly defaultValue: number | boolean | string | null | undefined;
  readonly about: string | undefined;
}

export interface StructSpec {
  /** Name in the schema ("TopicProduceData"). */
  readonly schemaName: string;
  /** TypeScript type name ("ProduceRequestTopicProduceData"). */
  readonly tsName: string;
  /** Versions in which the generated read/write functions can be called. */
  readonly versions: Range;
  readonly fields: FieldSpec[];
  readonly isTopLevel: boolean;
  readonly about: string | undefined;
}

export interface MessageSpec {
  readonly name: string;
  readonly type: "request" | "response" | "header" | "data" | "metadata";
  readonly apiKey: number | undefined;
  readonly validVersions: Range;
  readonly flexibleVersions: Range;
  readonly latestVersionUnstable: boolean;
  readonly file: string;
  readonly root: StructSpec;
  /** Every struct of the message, top level first, then depth first in schema order. */
  readonly structs: StructSpec[];
}

// ---------------------------------------------------------------- loading

/** Removes // and /* *\/ comments outside of string literals. */
export function stripJsonComments(text: string): string {
  let out = "";
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < n && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? n : end + 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

interface RawField {
  name: string;
  type: string;
  versions?: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number | string;
  flexibleVersions?: string;
  default?: unknown;
  about?: string;
  fields?: RawField[];
}

interface RawStruct {
  name: string;
  versions?: string;
  fields: RawField[];
}

interface RawMessage {
  name: string;
  type: string;
  apiKey?: number;
  validVersions: string;
  flexibleVersions: string;
  latestVersionUnstable?: boolean;
  fields: RawField[];
  commonStructs?: RawStruct[];
}

export function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** Struct type name: message name + struct name, without doubling the prefix. */
export function structTypeName(messageName: string, structName: string): string {
  return structName.startsWith(messageName) ? structName : messageName + structName;
}

function parseDefault(raw: unknown, type: FieldType, where: string): FieldSpec["defaultValue"] {
  if (raw === undefined) return undefined;
  if (raw === "null" || raw === null) return null;
  if (type.kind !== "primitive") throw new Error(`${where}: default ${JSON.stringify(raw)} on a non-primitive field`);
  switch (type.name) {
    case "bool":
      if (raw === true || raw === "true") return true;
      if (raw === false || raw === "false") return false;
      break;
    case "int8":
    case "int16":
    case "uint16":
    case "int32":
    case "uint32":
    case "int64":
    case "float64": {
      if (typeof raw === "number") return raw;
      if (typeof raw === "string") {
        const s = raw.trim();
        const neg = s.startsWith("-");
        const body = neg ? s.slice(1) : s;
        let value: number;
        if (/^0x[0-9a-f]+$/i.test(body)) value = parseInt(body.slice(2), 16);
        else if (/^0[0-7]+$/.test(body)) value = parseInt(body.slice(1), 8);
        else value = Number(body);
        if (!Number.isFinite(value)) break;
        return neg ? -value : value;
      }
      break;
    }
    case "string":
      if (typeof raw === "string") return raw;
      break;
  }
  throw new Error(`${where}: cannot use default ${JSON.stringify(raw)} for a ${type.name}`);
}

class MessageLoader {
  private readonly structs: StructSpec[] = [];
  private readonly byName = new Map<string, StructSpec>();
  private readonly common = new Map<string, RawStruct>();

  constructor(private readonly raw: RawMessage, private readonly file: string) {
    for (const c of raw.commonStructs ?? []) this.common.set(c.name, c);
  }

  load(): MessageSpec {
    const raw = this.raw;
    const validVersions = parseRange(raw.validVersions, `${raw.name}.validVersions`);
    const flexibleVersions = parseRange(raw.flexibleVersions, `${raw.name}.flexibleVersions`);
    const root = this.struct(raw.name, raw.name, validVersions, raw.fields, true, undefined);
    const type = raw.type as MessageSpec["type"];
    if (!["request", "response", "header", "data", "metadata"].includes(type)) {
      throw new Error(`${this.file}: unknown message type ${raw.type}`);
    }
    return {
      name: raw.name,
      type,
      apiKey: raw.apiKey,
      validVersions,
      flexibleVersions,
      latestVersionUnstable: raw.latestVersionUnstable === true,
      file: this.file,
      root,
      structs: this.structs,
    };
  }

  private struct(
    schemaName: string,
    tsName: string,
    versions: Range,
    rawFields: RawField[],
    isTopLevel: boolean,
    about: string | undefined,
  ): StructSpec {
    if (this.byName.has(tsName)) throw new Error(`${this.file}: struct ${schemaName} is defined twice`);
    const fields: FieldSpec[] = [];
    const spec: StructSpec = { schemaName, tsName, versions, fields, isTopLevel, about };
    this.byName.set(tsName, spec);
    this.structs.push(spec);
    for (const f of rawFields) fields.push(this.field(f, spec));
    const props = new Set<string>();
    for (const f of fields) {
      if (props.has(f.prop)) throw new Error(`${this.file}: ${schemaName}.${f.name} appears twice`);
      props.add(f.prop);
    }
    return spec;
  }

  private field(f: RawField, parent: StructSpec): FieldSpec {
    const where = `${this.file}: ${parent.schemaName}.${f.name}`;
    const versions = parseRange(f.versions, `${where}.versions`);
    const present = intersect(versions, parent.versions);
    const type = this.fieldType(f, f.type, present, where);
    const nullableVersions = intersect(parseRange(f.nullableVersions, `${where}.nullableVersions`), versions);
    if (!isEmpty(nullableVersions)) {
      const ok = type.kind === "array" || type.kind === "struct" ||
        (type.kind === "primitive" && ["string", "bytes", "records"].includes(type.name));
      if (!ok) throw new Error(`${where}: a ${f.type} cannot be nullable`);
    }
    const taggedVersions = intersect(parseRange(f.taggedVersions, `${where}.taggedVersions`), versions);
    let tag: number | undefined;
    if (f.tag !== undefined) {
      tag = Number(f.tag);
      if (!Number.isInteger(tag) || tag < 0) throw new Error(`${where}: bad tag ${f.tag}`);
    }
    if (!isEmpty(taggedVersions) && tag === undefined) throw new Error(`${where}: taggedVersions without tag`);
    if (tag !== undefined && isEmpty(taggedVersions) && f.taggedVersions === undefined) {
      throw new Error(`${where}: tag without taggedVersions`);
    }
    const flexibleVersions = f.flexibleVersions !== undefined
      ? parseRange(f.flexibleVersions, `${where}.flexibleVersions`)
      : parseRange(this.raw.flexibleVersions, `${this.raw.name}.flexibleVersions`);
    const defaultValue = parseDefault(f.default, type, where);
    if (defaultValue === null && !covers(nullableVersions, versions)) {
      throw new Error(`${where}: default null but not nullable in every version`);
    }
    return {
      name: f.name,
      prop: lowerFirst(f.name),
      type,
      versions,
      nullableVersions,
      taggedVersions,
      tag,
      flexibleVersions,
      defaultValue,
      about: f.about,
    };
  }

  private fieldType(f: RawField, typeName: string, present: Range, where: string): FieldType {
    if (typeName.startsWith("[]")) {
      const element = typeName.slice(2);
      if (PRIMITIVES.has(element)) {
        if (element === "records" || element === "bytes") throw new Error(`${where}: arrays of ${element} are not supported`);
        if (f.fields) throw new Error(`${where}: array of ${element} with fields`);
        return { kind: "array", element: { kind: "primitive", name: element as Primitive } };
      }
      return { kind: "array", element: this.structType(f, element, present, where) };
    }
    if (PRIMITIVES.has(typeName)) {
      if (f.fields) throw new Error(`${where}: ${typeName} with fields`);
      return { kind: "primitive", name: typeName as Primitive };
    }
    return this.structType(f, typeName, present, where);
  }

  private structType(f: RawField, name: string, present: Range, where: string): FieldType {
    if (!/^[A-Z][A-Za-z0-9]*$/.test(name)) throw new Error(`${where}: bad type name ${name}`);
    const tsName = structTypeName(this.raw.name, name);
    if (f.fields) {
      if (this.common.has(name)) throw new Error(`${where}: ${name} is also a common struct`);
      return { kind: "struct", struct: this.struct(name, tsName, present, f.fields, false, f.about) };
    }
    const existing = this.byName.get(tsName);
    if (existing) return { kind: "struct", struct: existing };
    const common = this.common.get(name);
    if (!common) throw new Error(`${where}: unknown type ${name}`);
    const versions = intersect(parseRange(common.versions ?? "0+", `${where} common struct`), this.rootVersions());
    return { kind: "struct", struct: this.struct(name, tsName, versions, common.fields, false, undefined) };
  }

  private rootVersions(): Range {
    return parseRange(this.raw.validVersions, `${this.raw.name}.validVersions`);
  }
}

export function loadSchemaFile(path: string, file: string): MessageSpec {
  const raw = JSON.parse(stripJsonComments(readFileSync(path, "utf8"))) as RawMessage;
  if (typeof raw.name !== "string" || !Array.isArray(raw.fields)) throw new Error(`${file}: not a message schema`);
  // Versions Kafka added after the snapshot without changing a field (version-overrides.ts says which and why).
  if (typeof raw.validVersions === "string") raw.validVersions = overriddenValidVersions(raw.name, raw.validVersions);
  return new MessageLoader(raw, file).load();
}

/** Every *.json message in `dir`, sorted by file name. */
export function loadSchemas(dir: string): MessageSpec[] {
  const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
  if (files.length === 0) throw new Error(`no *.json schemas in ${dir}`);
  return files.map((f) => loadSchemaFile(join(dir, f), f));
}
