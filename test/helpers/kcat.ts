// kcat (librdkafka 2.0.2 from Debian) driven as a real client.
import { run, type RunResult } from "./run.ts";

export async function kcat(bootstrap: string, args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(["kcat", "-b", bootstrap, ...args], options);
}

/** Consumes every partition of `topic` from the beginning to the current end and exits (-e). */
export async function kcatConsumeAll(bootstrap: string, topic: string, format: string, extra: string[] = [], timeoutMs = 120_000): Promise<string[]> {
  const result = await kcat(bootstrap, ["-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", format, ...extra], { timeoutMs });
  if (result.exitCode !== 0 || result.timedOut) throw new Error(`kcat consume failed (${result.exitCode}${result.timedOut ? ", timed out" : ""}): ${result.stderr.slice(-2000)}`);
  return result.stdout.split("\n").filter((line) => line.length > 0);
}
