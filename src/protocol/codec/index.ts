export { Reader, ProtocolDecodeError } from "./reader.ts";
export { Writer, ProtocolEncodeError } from "./writer.ts";
export { isExternalRecords, type ExternalRecords, type Records } from "./records.ts";
export type { Input } from "./input.ts";
