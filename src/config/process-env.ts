// Environment for a broker process, set before it starts (the allocator reads it at startup).
//
// MIMALLOC_PURGE_DELAY=1000: how long Bun's allocator (mimalloc) keeps freed memory before returning it to
// the OS. Its default (10 ms) hands memory back between two request bursts and faults it in again on the
// next one; on VMs that report free pages to the host (the dev machine, see BENCHMARKS.md) each such fault
// is expensive: p99 produce latency at half the maximum rate measured ~1.4 s, and 4 s in a paced run after
// an idle period. -1 (never purge) fixed the latency but kept the broker's peak forever: 200-400 MiB after a
// burst or a half-sent-frame attack, never returned. 1000 ms keeps the win where it matters (memory freed
// and reused within a second, as under steady load, is never purged) and returns a burst's memory within
// seconds. Measured on the dev VM (a busy one: ±50%), 500 MB produce burst, broker RSS 70 MiB before:
//   -1:   ~200 MiB right after, still ~200 MiB after 20-45 s idle; paced p99 after idle 13-47 ms
//   1000: ~170 MiB right after, ~100 MiB after 5-20 s idle;        paced p99 after idle 18-125 ms
//   10 (mimalloc's default): paced p99 after idle ~4 s
// The produce pool (partition/buffer-pool.ts) drops blocks unused for 30 s, so they are returned too.
export const BROKER_PROCESS_ENV: Readonly<Record<string, string>> = { MIMALLOC_PURGE_DELAY: "1000" };

/** The current environment with the broker's defaults filled in (an explicit setting wins). */
export function brokerProcessEnv(base: Record<string, string | undefined> = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) if (value !== undefined) env[name] = value;
  for (const [name, value] of Object.entries(BROKER_PROCESS_ENV)) env[name] ??= value;
  return env;
}
