/** Emits `write<Struct>(w, v, m)` functions and the `isDefault<Struct>` checks tagged structs need. */
import { Code } from "./code.ts";
import { caseChain, emitChain } from "./emit-read.ts";
import {
  isNullableAnywhere,
  fieldCases,
  writeDefault,
  writeValue,
  type Case,
  type FileContext,
} from "./fields.ts";
import {
  ALL,
  intersect,
  isEmpty,
  subtractOpenEnded,
  versionCondition,
  type FieldSpec,
  type FieldType,
  type MessageSpec,
  type StructSpec,
} from "./schema.ts";

export function writeFnName(s: StructSpec): string {
  return `write${s.tsName}`;
}

function primitiveWrite(name: string, flex: boolean, nullable: boolean, value: string, where: string): string {
  switch (name) {
    case "bool":
      return `w.writeBool(${value})`;
    case "int8":
      return `w.writeInt8(${value})`;
    case "int16":
      return `w.writeInt16(${value})`;
    case "uint16":
      return `w.writeUint16(${value})`;
    case "int32":
      return `w.writeInt32(${value})`;
    case "uint32":
      return `w.writeUint32(${value})`;
    case "int64":
      return `w.writeInt64(${value})`;
    case "float64":
      return `w.writeFloat64(${value})`;
    case "uuid":
      return `w.writeUuid(${value})`;
    case "string":
      return flex
        ? `w.${nullable ? "writeCompactNullableString" : "writeCompactString"}(${value})`
        : `w.${nullable ? "writeNullableString" : "writeString"}(${value})`;
    case "bytes":
      return flex
        ? `w.${nullable ? "writeCompactNullableBytes" : "writeCompactBytes"}(${value})`
        : `w.${nullable ? "writeNullableBytes" : "writeBytes"}(${value})`;
    case "records":
      return `w.writeRecords(${value}, ${flex})`;
  }
  throw new Error(`${where}: cannot write ${name}`);
}

/** Statements writing a non-array value `value` (a local, possibly null when c.nullable). */
function emitValueWrite(code: Code, t: FieldType, c: Case, tagged: boolean, value: string, where: string): void {
  if (t.kind === "primitive") {
    code.line(`${primitiveWrite(t.name, c.flex, c.nullable, value, where)};`);
    return;
  }
  if (t.kind === "struct") {
    const call = `${writeFnName(t.struct)}(w, v, ${value});`;
    if (!c.nullable) {
      code.line(call);
      return;
    }
    const [nul, one] = tagged ? ["w.writeUnsignedVarint(0);", "w.writeUnsignedVarint(1);"] : ["w.writeInt8(-1);", "w.writeInt8(1);"];
    code.open(`if (${value} === null) {`).line(nul).mid("} else {").line(one).line(call).close();
    return;
  }
  throw new Error(`${where}: nested arrays are not supported`);
}

/** Statements writing field value `value` (a local) in case `c`. */
function emitFieldWrite(code: Code, f: FieldSpec, c: Case, tagged: boolean, value: string, fc: FileContext, where: string): void {
  if (isNullableAnywhere(f) && !c.nullable) {
    fc.use("nullNotAllowed");
    code.line(`if (${value} === null) throw nullNotAllowed(${JSON.stringify(where)}, v);`);
  }
  const t = f.type;
  if (t.kind !== "array") {
    if (t.kind === "primitive" && t.name === "records") {
      // writeRecords writes null itself; non-nullable versions were checked above.
      code.line(`${primitiveWrite("records", c.flex, c.nullable, value, where)};`);
      return;
    }
    emitValueWrite(code, t, c, tagged, value, where);
    return;
  }
  const writeLen = c.flex ? "w.writeCompactArrayLength" : "w.writeArrayLength";
  if (c.nullable) code.open(`if (${value} === null) {`).line(`${writeLen}(-1);`).mid("} else {");
  code.line(`${writeLen}(${value}.length);`);
  const elemCase: Case = { range: c.range, flex: c.flex, nullable: false };
  const body = new Code();
  emitValueWrite(body, t.element, elemCase, false, `${value}[_i]`, where);
  const lines = body.toString().trimEnd().split("\n");
  if (lines.length === 1) {
    code.line(`for (let _i = 0; _i < ${value}.length; _i++) ${lines[0]}`);
  } else {
    code.open(`for (let _i = 0; _i < ${value}.length; _i++) {`).append(body).close();
  }
  if (c.nullable) code.close();
}

/** A condition that is true when the (defaulted) local `value` differs from the field's default. */
function nonDefault(f: FieldSpec, value: string, fc: FileContext): string {
  const t = f.type;
  const nullable = isNullableAnywhere(f);
  if (f.defaultValue === null) return `${value} !== null`;
  const orNull = (cond: string) => (nullable ? `(${value} === null || ${cond})` : cond);
  switch (t.kind) {
    case "array":
      return orNull(`${value}.length !== 0`);
    case "struct":
      fc.needsIsDefault.add(t.struct);
      return orNull(`!isDefault${t.struct.tsName}(${value})`);
    case "primitive":
      switch (t.name) {
        case "bytes":
          return orNull(`${value}.length !== 0`);
        case "uuid":
          return `!${fc.use("isZeroUuid")}(${value})`;
        default:
          return `${value} !== ${writeDefault(f, fc)}`;
      }
  }
}

export function emitWriter(s: StructSpec, msg: MessageSpec, fc: FileContext, code: Code): void {
  const ctx = s.versions;
  fc.use("Writer");
  fc.use("Input");
  code.open(`export function ${writeFnName(s)}(w: Writer, v: number, m: Input<${s.tsName}>): void {`);
  if (s.isTopLevel) {
    fc.use("ProtocolEncodeError");
    code.line(
      `if (v < ${ctx.lo} || v > ${ctx.hi}) throw new ProtocolEncodeError(\`${s.tsName}: unsupported version \${v}\`);`,
    );
  }
  const flexCtx = intersect(msg.flexibleVersions, ctx);
  const tagged: FieldSpec[] = [];
  for (const f of s.fields) {
    const where = `${s.tsName}.${f.prop}`;
    const present = intersect(f.versions, ctx);
    const taggedPresent = intersect(intersect(f.taggedVersions, present), flexCtx);
    const mandatory = subtractOpenEnded(present, f.taggedVersions);
    if (!isEmpty(taggedPresent)) tagged.push(f);
    if (isEmpty(mandatory)) continue;
    const cases = fieldCases(f, mandatory);
    const presentCond = versionCondition(mandatory, ctx);
    const chain = caseChain(cases, mandatory);
    const only = chain.length === 1 ? chain[0].c : undefined;
    if (only && (!isNullableAnywhere(f) || only.nullable) && (f.type.kind === "primitive" || (f.type.kind === "struct" && !only.nullable))) {
      // One statement with the value inline.
      const body = new Code();
      emitValueWrite(body, f.type, only, false, writeValue(f, fc), where);
      const stmt = body.toString().trimEnd();
      code.line(presentCond === "true" ? stmt : `if (${presentCond}) ${stmt}`);
      continue;
    }
    code.open(presentCond === "true" ? "{" : `if (${presentCond}) {`);
    code.line(`const f_${f.prop} = ${writeValue(f, fc)};`);
    emitChain(code, chain, (c) => emitFieldWrite(code, f, c, false, `f_${f.prop}`, fc, where));
    code.close();
  }

  if (!isEmpty(flexCtx)) {
    const flexCond = versionCondition(msg.flexibleVersions, ctx);
    if (tagged.length === 0) {
      code.line(flexCond === "true" ? "w.writeEmptyTaggedFields();" : `if (${flexCond}) w.writeEmptyTaggedFields();`);
    } else {
      const sorted = [...tagged].sort((a, b) => a.tag! - b.tag!);
      code.open(flexCond === "true" ? "{" : `if (${flexCond}) {`);
      for (const f of sorted) {
        const taggedPresent = intersect(intersect(f.taggedVersions, f.versions), flexCtx);
        const cond = versionCondition(taggedPresent, flexCtx);
        code.line(`const f_${f.prop} = ${writeValue(f, fc)};`);
        const nd = nonDefault(f, `f_${f.prop}`, fc);
        code.line(`const t_${f.prop} = ${cond === "true" ? nd : `${cond} && ${nd}`};`);
      }
      code.line(`w.writeUnsignedVarint(${sorted.map((f) => `(t_${f.prop} ? 1 : 0)`).join(" + ")});`);
      for (const f of sorted) {
        const where = `${s.tsName}.${f.prop}`;
        const taggedPresent = intersect(intersect(f.taggedVersions, f.versions), flexCtx);
        code.open(`if (t_${f.prop}) {`);
        code.line(`const _s = w.beginTaggedField(${f.tag});`);
        const cases = fieldCases(f, taggedPresent, ALL);
        emitChain(code, caseChain(cases, taggedPresent), (c) => emitFieldWrite(code, f, c, true, `f_${f.prop}`, fc, where));
        code.line("w.endTaggedField(_s);");
        code.close();
      }
      code.close();
    }
  }
  code.close();
}

/** `isDefault<Struct>(m)`: true when every field is undefined or its default (Kafka's equals(new Struct())). */
export function emitIsDefault(s: StructSpec, fc: FileContext, code: Code): void {
  fc.use("Input");
  const terms: string[] = [];
  for (const f of s.fields) {
    const a = `m.${f.prop}`;
    const t = f.type;
    const nullable = isNullableAnywhere(f);
    if (f.defaultValue === null || (t.kind === "primitive" && t.name === "records")) {
      terms.push(`${a} == null`);
      continue;
    }
    const notNullAnd = (cond: string) => (nullable ? `(${a} !== null && ${cond})` : cond);
    switch (t.kind) {
      case "array":
        terms.push(`(${a} === undefined || ${notNullAnd(`${a}.length === 0`)})`);
        break;
      case "struct":
        fc.needsIsDefault.add(t.struct);
        terms.push(`(${a} === undefined || ${notNullAnd(`isDefault${t.struct.tsName}(${a})`)})`);
        break;
      case "primitive":
        if (t.name === "bytes") terms.push(`(${a} === undefined || ${notNullAnd(`${a}.length === 0`)})`);
        else if (t.name === "uuid") terms.push(`(${a} === undefined || ${fc.use("isZeroUuid")}(${a}))`);
        else if (t.name === "string") terms.push(`(${a} === undefined || ${a} === ${writeDefault(f, fc)})`);
        else terms.push(`(${a} ?? ${writeDefault(f, fc)}) === ${writeDefault(f, fc)}`);
        break;
    }
  }
  code.open(`function isDefault${s.tsName}(m: Input<${s.tsName}>): boolean {`);
  if (terms.length === 0) code.line("return true;");
  else {
    code.line(`return ${terms[0]}${terms.length === 1 ? ";" : ""}`);
    terms.slice(1).forEach((t, i) => code.line(`  && ${t}${i === terms.length - 2 ? ";" : ""}`));
  }
  code.close();
}
