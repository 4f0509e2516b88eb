/** Emits `read<Struct>(r, v)` functions: straight-line code with version checks. */
import { Code } from "./code.ts";
import {
  baseTsType,
  fieldTsType,
  isTagged,
  readDefault,
  fieldCases,
  type Case,
  type FileContext,
} from "./fields.ts";
import {
  ALL,
  covers,
  formatRange,
  intersect,
  isEmpty,
  subtractOpenEnded,
  versionCondition,
  type FieldSpec,
  type FieldType,
  type MessageSpec,
  type Range,
  type StructSpec,
} from "./schema.ts";

export interface ChainItem {
  readonly cond: string;
  readonly c: Case;
}

/**
 * Cases partition `ctx` (ascending, contiguous); returns them highest first with
 * the condition to test given that the earlier ones failed ("true" for the last).
 */
export function caseChain(cases: Case[], ctx: Range): ChainItem[] {
  const out: ChainItem[] = [];
  let rem = ctx;
  for (let i = cases.length - 1; i >= 0; i--) {
    const c = cases[i];
    out.push({ cond: i === 0 ? "true" : versionCondition(c.range, rem), c });
    rem = { lo: rem.lo, hi: c.range.lo - 1 };
  }
  return out;
}

/** Emits `if (a) {...} else if (b) {...} else {...}` (just the body for one item). */
export function emitChain(code: Code, chain: ChainItem[], body: (c: Case) => void): void {
  if (chain.length === 1) {
    body(chain[0].c);
    return;
  }
  chain.forEach((item, i) => {
    if (i === 0) code.open(`if (${item.cond}) {`);
    else if (i === chain.length - 1) code.mid("} else {");
    else code.mid(`} else if (${item.cond}) {`);
    body(item.c);
  });
  code.close();
}

export function readFnName(s: StructSpec): string {
  return `read${s.tsName}`;
}

function primitiveRead(name: string, flex: boolean, nullable: boolean, where: string): string {
  switch (name) {
    case "bool":
      return "r.readBool()";
    case "int8":
      return "r.readInt8()";
    case "int16":
      return "r.readInt16()";
    case "uint16":
      return "r.readUint16()";
    case "int32":
      return "r.readInt32()";
    case "uint32":
      return "r.readUint32()";
    case "int64":
      return "r.readInt64()";
    case "float64":
      return "r.readFloat64()";
    case "uuid":
      return "r.readUuid()";
    case "string":
      return flex
        ? nullable ? "r.readCompactNullableString()" : "r.readCompactString()"
        : nullable ? "r.readNullableString()" : "r.readString()";
    case "bytes":
      return flex
        ? nullable ? "r.readCompactNullableBytes()" : "r.readCompactBytes()"
        : nullable ? "r.readNullableBytes()" : "r.readBytes()";
    case "records":
      return nullable ? `r.readRecords(${flex})` : `r.readRecords(${flex}, false)`;
  }
  throw new Error(`${where}: cannot read ${name}`);
}

/** Expression reading one non-array value. */
function valueRead(t: FieldType, c: Case, tagged: boolean, where: string): string {
  if (t.kind === "primitive") return primitiveRead(t.name, c.flex, c.nullable, where);
  if (t.kind === "struct") {
    const call = `${readFnName(t.struct)}(r, v)`;
    if (!c.nullable) return call;
    return tagged ? `r.readUnsignedVarint() === 0 ? null : ${call}` : `r.readInt8() < 0 ? null : ${call}`;
  }
  throw new Error(`${where}: nested arrays are not supported`);
}

/** Statements assigning the field's value (read in case `c`) to `target`. */
function emitReadInto(code: Code, f: FieldSpec, c: Case, tagged: boolean, target: string, fc: FileContext, where: string): void {
  const t = f.type;
  if (t.kind !== "array") {
    code.line(`${target} = ${valueRead(t, c, tagged, where)};`);
    return;
  }
  const len = c.flex
    ? c.nullable ? "r.readCompactNullableArrayLength()" : "r.readCompactArrayLength()"
    : c.nullable ? "r.readNullableArrayLength()" : "r.readArrayLength()";
  const elem = valueRead(t.element, { range: c.range, flex: c.flex, nullable: false }, false, where);
  const elemType = baseTsType(t.element, fc);
  code.line(`const _n = ${len};`);
  if (c.nullable) code.open("if (_n < 0) {").line(`${target} = null;`).mid("} else {");
  code.line(`const _a: ${elemType}[] = [];`);
  code.line(`for (let _i = 0; _i < _n; _i++) _a.push(${elem});`);
  code.line(`${target} = _a;`);
  if (c.nullable) code.close("}");
}

export function emitReader(s: StructSpec, msg: MessageSpec, fc: FileContext, code: Code): void {
  const ctx = s.versions;
  fc.use("Reader");
  code.open(`export function ${readFnName(s)}(r: Reader, v: number): ${s.tsName} {`);
  if (s.isTopLevel) {
    fc.use("ProtocolDecodeError");
    code.line(
      `if (v < ${ctx.lo} || v > ${ctx.hi}) throw new ProtocolDecodeError(\`${s.tsName}: unsupported version \${v}\`);`,
    );
  }
  const flexCtx = intersect(msg.flexibleVersions, ctx);
  const tagged: FieldSpec[] = [];
  for (const f of s.fields) {
    const where = `${msg.name} ${s.schemaName}.${f.name}`;
    const local = `f_${f.prop}`;
    const type = fieldTsType(f, fc);
    const present = intersect(f.versions, ctx);
    const taggedPresent = intersect(intersect(f.taggedVersions, present), flexCtx);
    const mandatory = subtractOpenEnded(present, f.taggedVersions);
    if (!isEmpty(taggedPresent)) tagged.push(f);
    const def = readDefault(f, fc);
    if (isEmpty(mandatory)) {
      code.line(`${isEmpty(taggedPresent) ? "const" : "let"} ${local}: ${type} = ${def};`);
      continue;
    }
    const cases = fieldCases(f, mandatory);
    const presentCond = versionCondition(mandatory, ctx);
    const chain = caseChain(cases, mandatory);
    if (f.type.kind !== "array" && isEmpty(taggedPresent)) {
      // One expression: const f_x = [present ?] (case ? read : read) [: default].
      let expr = "";
      chain.forEach((item, i) => {
        const e = valueRead(f.type, item.c, false, where);
        const wrapped = e.includes("?") ? `(${e})` : e;
        expr += i === chain.length - 1 ? wrapped : `${item.cond} ? ${wrapped} : `;
      });
      if (presentCond !== "true") expr = `${presentCond} ? ${chain.length > 1 ? `(${expr})` : expr} : ${def}`;
      code.line(`const ${local}: ${type} = ${expr};`);
      continue;
    }
    code.line(`let ${local}: ${type} = ${def};`);
    // A block for the array's locals, unless the if-chain makes one.
    const block = presentCond !== "true" || chain.length === 1;
    if (block) code.open(presentCond !== "true" ? `if (${presentCond}) {` : "{");
    emitChain(code, chain, (c) => emitReadInto(code, f, c, false, local, fc, where));
    if (block) code.close();
  }

  if (!isEmpty(flexCtx)) {
    const flexCond = versionCondition(msg.flexibleVersions, ctx);
    if (tagged.length === 0) {
      code.line(flexCond === "true" ? "r.skipTaggedFields();" : `if (${flexCond}) r.skipTaggedFields();`);
    } else {
      code.open(flexCond === "true" ? "{" : `if (${flexCond}) {`);
      code.line("const _count = r.readUnsignedVarint();");
      code.open("for (let _t = 0; _t < _count; _t++) {");
      code.line("const _tag = r.readUnsignedVarint();");
      code.line("const _end = r.taggedFieldEnd(r.readUnsignedVarint());");
      code.open("switch (_tag) {");
      for (const f of [...tagged].sort((a, b) => a.tag! - b.tag!)) {
        const where = `${msg.name} ${s.schemaName}.${f.name}`;
        const taggedPresent = intersect(intersect(f.taggedVersions, f.versions), flexCtx);
        code.open(`case ${f.tag}: {`);
        const cond = versionCondition(taggedPresent, flexCtx);
        if (cond !== "true") code.open(`if (${cond}) {`);
        const cases = fieldCases(f, taggedPresent, ALL);
        emitChain(code, caseChain(cases, taggedPresent), (c) => emitReadInto(code, f, c, true, `f_${f.prop}`, fc, where));
        if (cond !== "true") code.close();
        code.line("break;");
        code.close();
      }
      code.close();
      code.line("r.endTaggedField(_end);");
      code.close();
      code.close();
    }
  }
  code.open("return {");
  for (const f of s.fields) code.line(`${f.prop}: f_${f.prop},`);
  code.close("};");
  code.close();
}

/** `default<Struct>()`: every field at its default, as a reader fills absent fields. */
export function emitDefaultFactory(s: StructSpec, fc: FileContext, code: Code): void {
  code.open(`function default${s.tsName}(): ${s.tsName} {`);
  code.open("return {");
  for (const f of s.fields) code.line(`${f.prop}: ${readDefault(f, fc)},`);
  code.close("};");
  code.close();
}

export function checkTags(s: StructSpec, msg: MessageSpec): void {
  const seen = new Map<number, string>();
  for (const f of s.fields) {
    if (!isTagged(f)) continue;
    if (!covers(msg.flexibleVersions, f.taggedVersions)) {
      throw new Error(`${msg.name} ${s.schemaName}.${f.name}: tagged in ${formatRange(f.taggedVersions)}, not all flexible`);
    }
    if (f.type.kind === "primitive" && f.type.name === "records") {
      throw new Error(`${msg.name} ${s.schemaName}.${f.name}: records cannot be tagged`);
    }
    const other = seen.get(f.tag!);
    if (other) throw new Error(`${msg.name} ${s.schemaName}: tag ${f.tag} used by ${other} and ${f.name}`);
    seen.set(f.tag!, f.name);
  }
}
