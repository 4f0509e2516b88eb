// Environment for a broker process, set before it starts (the allocator reads it at startup).
//
// MIMALLOC_PURGE_DELAY=-1: Bun's allocator (mimalloc) otherwise returns freed memory to the OS within
// 10 ms and faults it back in on the next request burst. On VMs that report free pages to the host
// (the dev machine, see BENCHMARKS.md) each such fault is expensive: with the default, p99 end-to-end
// latency at half the maximum produce rate measured ~1.4 s; without purging, 17-60 ms. The cost is that
// the broker keeps its peak heap.
export const BROKER_PROCESS_ENV: Readonly<Record<string, string>> = { MIMALLOC_PURGE_DELAY: "-1" };

/** The current environment with the broker's defaults filled in (an explicit setting wins). */
export function brokerProcessEnv(base: Record<string, string | undefined> = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) if (value !== undefined) env[name] = value;
  for (const [name, value] of Object.entries(BROKER_PROCESS_ENV)) env[name] ??= value;
  return env;
}
