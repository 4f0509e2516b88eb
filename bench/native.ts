// native/netbench.c loaded with bun:ffi's cc: blocking socket/file loops for the limits and the load
// generator's clients. Every function may block: call them from worker threads only.
import { cc, FFIType } from "bun:ffi";
import { join } from "node:path";

const source = join(import.meta.dir, "../native/netbench.c");
const { i32, i64, i64_fast, ptr } = FFIType;

function load() {
  return cc({
    source,
    symbols: {
      nb_monotonic_ns: { args: [], returns: i64_fast },
      nb_sleep_until: { args: [i64], returns: i32 },
      nb_listen: { args: [i32], returns: i32 },
      nb_local_port: { args: [i32], returns: i32 },
      nb_accept: { args: [i32], returns: i32 },
      nb_connect: { args: [i32], returns: i32 },
      nb_close: { args: [i32], returns: i32 },
      nb_shutdown_write: { args: [i32], returns: i32 },
      nb_send_all: { args: [i32, ptr, i64], returns: i64_fast },
      nb_recv_exact: { args: [i32, ptr, i64], returns: i64_fast },
      nb_recv_nowait: { args: [i32, ptr, i64], returns: i64_fast },
      nb_send_repeat: { args: [i32, ptr, i64, i64, i64], returns: i64_fast },
      nb_recv_discard: { args: [i32, ptr, i64], returns: i64_fast },
      nb_sendfile_repeat: { args: [i32, i32, i64, i64, i64, i64], returns: i64_fast },
      nb_recv_to_file: { args: [i32, i32, ptr, i64, i64], returns: i64_fast },
      nb_append_repeat: { args: [i32, ptr, i64, i64, i64, i64], returns: i64_fast },
    },
  }).symbols;
}

export type NetBench = ReturnType<typeof load>;

let library: NetBench | null = null;

export function netbench(): NetBench {
  library ??= load();
  return library;
}

/** Throws with a readable message when a native call returned -errno. */
export function check(result: number | bigint, what: string): number {
  const value = Number(result);
  if (value < 0) throw new Error(`${what} failed: errno ${-value}`);
  return value;
}
