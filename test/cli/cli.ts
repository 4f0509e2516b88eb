// Runs the `bunka` CLI (src/cli/main.ts) as a real process, as a user would.
import { resolve } from "node:path";
import { run, type RunResult } from "../helpers/run.ts";

const repoRoot = resolve(import.meta.dir, "../..");
export const CLI_MAIN = resolve(repoRoot, "src/cli/main.ts");

export function bunka(bootstrap: string, args: string[], options: { input?: string | Uint8Array; timeoutMs?: number } = {}): Promise<RunResult> {
  return run([process.execPath, CLI_MAIN, "-b", bootstrap, ...args], { timeoutMs: options.timeoutMs ?? 60_000, input: options.input });
}

/** Runs and requires exit code 0 (the output in the error otherwise). */
export async function bunkaOk(bootstrap: string, args: string[], options: { input?: string | Uint8Array; timeoutMs?: number } = {}): Promise<RunResult> {
  const result = await bunka(bootstrap, args, options);
  if (result.exitCode !== 0 || result.timedOut) throw new Error(`bunka ${args.join(" ")} failed (${result.exitCode}${result.timedOut ? ", timed out" : ""}): ${result.stderr.slice(-2000)}`);
  return result;
}
