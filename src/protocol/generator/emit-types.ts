/** Emits one TypeScript interface per message and per struct. */
import { Code, docText } from "./code.ts";
import { fieldTsType, versionNote, type FileContext } from "./fields.ts";
import { formatRange, isEmpty, type MessageSpec, type StructSpec } from "./schema.ts";

function messageNote(msg: MessageSpec): string {
  const parts = [`${msg.name}${msg.apiKey !== undefined ? ` (api key ${msg.apiKey})` : ""}`];
  parts.push(`versions ${formatRange(msg.validVersions)}`);
  parts.push(`flexible ${isEmpty(msg.flexibleVersions) ? "none" : formatRange(msg.flexibleVersions)}`);
  if (msg.latestVersionUnstable) parts.push("latest version unstable");
  return parts.join(", ") + ".";
}

export function emitInterface(s: StructSpec, msg: MessageSpec, fc: FileContext, code: Code): void {
  const doc = s.isTopLevel ? messageNote(msg) : `${s.about ? docText(s.about) + " " : ""}(versions ${formatRange(s.versions)})`;
  code.line(`/** ${doc} */`);
  code.open(`export interface ${s.tsName} {`);
  for (const f of s.fields) {
    const about = f.about ? docText(f.about) : "";
    code.line(`/** ${about ? about + " " : ""}(${docText(versionNote(f))}) */`);
    code.line(`${f.prop}: ${fieldTsType(f, fc)};`);
  }
  code.close();
}
