// Development certificates for TLS tests, made by scripts/dev-certs.sh (Debian's openssl) in a temp dir:
// a CA, a broker certificate for 127.0.0.1/localhost and a client certificate (CN given).
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "./broker-process.ts";
import { run } from "./run.ts";

const script = resolve(import.meta.dir, "../../scripts/dev-certs.sh");

export interface DevCerts {
  readonly dir: string;
  /** The CA certificate (trust store for both sides). */
  readonly ca: string;
  /** Broker key + chain in one PEM file (ssl.keystore.location). */
  readonly brokerKeystore: string;
  readonly brokerChain: string;
  readonly brokerKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  cleanup(): void;
}

export async function makeDevCerts(prefix: string, clientCn = "client"): Promise<DevCerts> {
  const dir = tempDir(prefix);
  const result = await run(["sh", script, dir, clientCn], { timeoutMs: 60_000 });
  if (result.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`dev-certs.sh failed (${result.exitCode}): ${result.stderr}`);
  }
  return {
    dir,
    ca: join(dir, "ca.pem"),
    brokerKeystore: join(dir, "broker-keystore.pem"),
    brokerChain: join(dir, "broker.pem"),
    brokerKey: join(dir, "broker-key.pem"),
    clientCert: join(dir, "client.pem"),
    clientKey: join(dir, "client-key.pem"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
