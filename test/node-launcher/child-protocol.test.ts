// The launcher's Bun side (src/node-launcher/child.ts) on bad control input: every line gets an answer,
// nothing crashes, and the broker it runs keeps serving; closing stdin stops it.
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";

const CHILD = resolve(import.meta.dir, "../../src/node-launcher/child.ts");

test("malformed and wrong requests are answered with errors; the broker keeps running until stdin closes", async () => {
  const child = Bun.spawn([process.execPath, CHILD], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const lines = (async function* () {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of child.stdout) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        yield JSON.parse(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
      }
    }
  })();
  const ask = async (line: string) => {
    child.stdin.write(`${line}\n`);
    child.stdin.flush();
    const answer = await lines.next();
    if (answer.done) throw new Error("launcher closed its stdout");
    return answer.value;
  };
  try {
    expect(await ask("{not json")).toEqual({ id: -1, ok: false, error: "control line is not JSON" });
    expect(await ask(JSON.stringify({ id: 1, op: "format-disk" }))).toMatchObject({ id: 1, ok: false, error: 'unknown op "format-disk"' });
    expect(await ask(JSON.stringify({ id: 2, op: "kill", nodeId: 1 }))).toMatchObject({ id: 2, ok: false, error: "kill and restart need a cluster (startCluster)" });
    expect(await ask(JSON.stringify({ id: 3, op: "startBroker", options: { properties: "not an object" } }))).toMatchObject({ id: 3, ok: false, error: "properties must be an object of strings" });
    const started = await ask(JSON.stringify({ id: 4, op: "startBroker", options: {} }));
    expect(started).toMatchObject({ id: 4, ok: true });
    expect(await ask(JSON.stringify({ id: 5, op: "startCluster", options: {} }))).toMatchObject({ id: 5, ok: false, error: "this launcher process runs a broker already" });
    const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: started.result.port });
    connection.close();
    child.stdin.end();
    expect(await child.exited).toBe(0);
    expect(existsSync(started.result.dataDir)).toBe(false);
  } finally {
    child.kill("SIGKILL");
  }
});
