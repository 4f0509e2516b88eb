import type { ExternalRecords } from "./records.ts";

/**
 * What a generated `write<Message>` accepts: the message type with every field
 * optional, recursively (arrays recurse into their elements). A missing field is
 * written as its schema default. Byte arrays, external records and primitives
 * are taken as they are.
 */
export type Input<T> = T extends Uint8Array | ExternalRecords | string | number | boolean | null | undefined
  ? T
  : T extends readonly (infer E)[]
    ? Input<E>[]
    : { [K in keyof T]?: Input<T[K]> };
