// @confluentinc/kafka-javascript (librdkafka 2.15.1: KIP-848 consumer groups, KIP-714 telemetry) is a native
// build that scripts/setup.sh starts in the background into .cache/kafka-javascript
// (scripts/install-kafka-javascript.sh), outside node_modules so `npm install` stays quick. Tests that use it
// run their client under Node with NODE_PATH pointing there, and wait for the build (bounded) if it still runs.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const INSTALL_DIR = resolve(import.meta.dir, "../../.cache/kafka-javascript");
export const KAFKA_JAVASCRIPT_NODE_PATH = join(INSTALL_DIR, "node_modules");

export type KafkaJavascriptState = "ready" | "building" | "failed" | "absent";

export function kafkaJavascriptState(): KafkaJavascriptState {
  if (Bun.which("node") === null) return "absent";
  const statusFile = join(INSTALL_DIR, "status");
  if (existsSync(statusFile)) return readFileSync(statusFile, "utf8").startsWith("ok ") ? "ready" : "failed";
  const pidFile = join(INSTALL_DIR, "pid");
  if (!existsSync(pidFile)) return "absent";
  try {
    process.kill(Number(readFileSync(pidFile, "utf8").trim()), 0);
    return "building";
  } catch {
    return "failed"; // the build died without writing its status
  }
}

/** Whether a test should run: installed, or being built (CI: setup.sh started it). */
export function kafkaJavascriptExpected(): boolean {
  const state = kafkaJavascriptState();
  return state === "ready" || state === "building" || (state === "failed" && process.env.CI === "true");
}

/** Waits (bounded) for the background build; throws with the build's log tail if it failed or did not finish. */
export async function awaitKafkaJavascript(timeoutMs = 600_000): Promise<{ NODE_PATH: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = kafkaJavascriptState();
    if (state === "ready") return { NODE_PATH: KAFKA_JAVASCRIPT_NODE_PATH };
    if (state !== "building" || Date.now() >= deadline) {
      const log = join(INSTALL_DIR, "install.log");
      const tail = existsSync(log) ? readFileSync(log, "utf8").slice(-2000) : "(no install.log)";
      throw new Error(`@confluentinc/kafka-javascript is ${state === "building" ? "still building" : state} (scripts/install-kafka-javascript.sh): ${tail}`);
    }
    await Bun.sleep(1000);
  }
}
