// Named listeners and TLS with real clients: kcat (librdkafka 2.0.2) over an SSL listener next to a plaintext
// one, each told its own listener's address by Metadata; fetch data over TLS leaves from the mmap view, never
// sendfile (which would bypass the encryption); mTLS (ssl.client.auth=required) refuses clients without a
// certificate or with one from another CA and takes a good one's subject as the principal (one JSON audit
// line); a TLS handshake of random bytes and a client that never handshakes are closed, the broker unaffected;
// and listener/TLS mistakes stop the start, naming the listener (also for a real `bun src/main.ts`).
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startBroker, type Broker, type BrokerOptions } from "../../src/server/broker.ts";
import { fileTransferStats } from "../../src/server/sendfile.ts";
import { brokerProcessEnv } from "../../src/config/process-env.ts";
import { tempDir } from "../helpers/broker-process.ts";
import { makeDevCerts, type DevCerts } from "../helpers/certs.ts";
import { kcat } from "../helpers/kcat.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const KCAT_TIMEOUT_MS = 60_000;
const CLOSE_WAIT_MS = 15_000;

let certs: DevCerts;
let otherCerts: DevCerts;
beforeAll(async () => {
  certs = await makeDevCerts("tls-certs", "alice");
  otherCerts = await makeDevCerts("tls-other-ca", "mallory");
});
afterAll(() => {
  certs?.cleanup();
  otherCerts?.cleanup();
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Started {
  broker: Broker;
  logs: string[];
  port(listener: string): number;
}

async function start(properties: Record<string, string>, options: Partial<BrokerOptions> = {}): Promise<Started> {
  const dataDir = tempDir("tls");
  const logs: string[] = [];
  let broker: Broker;
  try {
    broker = await startBroker({ port: 0, dataDir, partitionWorkers: 1, log: (line) => logs.push(line), properties, ...options });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  cleanups.push(async () => {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const port = (listener: string) => broker.boundListeners().find((bound) => bound.name === listener)!.port;
  return { broker, logs, port };
}

const sslClient = (ca: string) => ["-X", "security.protocol=ssl", "-X", `ssl.ca.location=${ca}`];
const clientCertificate = (cert: string, key: string) => ["-X", `ssl.certificate.location=${cert}`, "-X", `ssl.key.location=${key}`];

function tlsListeners(extra: Record<string, string> = {}): Record<string, string> {
  return { "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0", "ssl.keystore.location": certs.brokerKeystore, ...extra };
}

async function produceLines(bootstrap: string, topic: string, lines: string[], clientArgs: string[]): Promise<void> {
  const result = await kcat(bootstrap, [...clientArgs, "-P", "-t", topic, "-K", ":"], { input: lines.join("\n") + "\n", timeoutMs: KCAT_TIMEOUT_MS });
  if (result.exitCode !== 0 || result.timedOut) throw new Error(`kcat produce failed (${result.exitCode}): ${result.stderr.slice(-1500)}`);
}

async function consumeLines(bootstrap: string, topic: string, clientArgs: string[]): Promise<{ exitCode: number; lines: string[]; stderr: string }> {
  const result = await kcat(bootstrap, [...clientArgs, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k:%s\\n"], { timeoutMs: KCAT_TIMEOUT_MS });
  return { exitCode: result.exitCode, lines: result.stdout.split("\n").filter(Boolean), stderr: result.stderr };
}

/** Opens a raw TCP connection, sends `bytes` (if any) and resolves once the broker closes it (bounded). */
async function closedByBroker(port: number, bytes: Uint8Array | null): Promise<boolean> {
  const closed = Promise.withResolvers<boolean>();
  const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, close: () => closed.resolve(true), error: () => closed.resolve(true) } });
  if (bytes) socket.write(bytes);
  const timer = setTimeout(() => closed.resolve(false), CLOSE_WAIT_MS);
  const result = await closed.promise;
  clearTimeout(timer);
  socket.end();
  return result;
}

test("kcat produces and consumes over an SSL listener; Metadata answers each listener with its own address; fetch over TLS uses the mmap write, not sendfile", async () => {
  const previousTransfer = process.env.BUNKA_FETCH_TRANSFER;
  // sendfile for plaintext connections, so that the test can see TLS connections never use it.
  process.env.BUNKA_FETCH_TRANSFER = "sendfile";
  cleanups.push(() => {
    if (previousTransfer === undefined) delete process.env.BUNKA_FETCH_TRANSFER;
    else process.env.BUNKA_FETCH_TRANSFER = previousTransfer;
  });
  const { port } = await start(tlsListeners());
  const ssl = `127.0.0.1:${port("SSL")}`;
  const plain = `127.0.0.1:${port("PLAINTEXT")}`;
  expect(port("SSL")).toBeGreaterThan(0);
  expect(port("SSL")).not.toBe(port("PLAINTEXT"));

  const lines = Array.from({ length: 50 }, (_, index) => `k${index}:value-${index}-${"x".repeat(200)}`);
  await produceLines(ssl, "over-tls", lines, sslClient(certs.ca));
  const sendfileBefore = fileTransferStats.sendfileBytes;
  const mmapBefore = fileTransferStats.mmapBytes;
  const consumed = await consumeLines(ssl, "over-tls", sslClient(certs.ca));
  expect(consumed.exitCode).toBe(0);
  expect(consumed.lines).toEqual(lines);
  expect(fileTransferStats.mmapBytes).toBeGreaterThan(mmapBefore);
  expect(fileTransferStats.sendfileBytes).toBe(sendfileBefore);

  // Each listener's clients are told that listener's port.
  const sslMetadata = await kcat(ssl, [...sslClient(certs.ca), "-L", "-J"], { timeoutMs: KCAT_TIMEOUT_MS });
  expect(JSON.parse(sslMetadata.stdout).brokers).toEqual([{ id: 1, name: `127.0.0.1:${port("SSL")}` }]);
  const plainMetadata = await kcat(plain, ["-L", "-J"], { timeoutMs: KCAT_TIMEOUT_MS });
  expect(JSON.parse(plainMetadata.stdout).brokers).toEqual([{ id: 1, name: `127.0.0.1:${port("PLAINTEXT")}` }]);
  // The same records through the plaintext listener (sendfile there: the switch is per connection).
  const plainConsumed = await consumeLines(plain, "over-tls", []);
  expect(plainConsumed.lines).toEqual(lines);
  expect(fileTransferStats.sendfileBytes).toBeGreaterThan(sendfileBefore);

  // A plaintext client on the TLS port gets nothing.
  const wrongProtocol = await kcat(ssl, ["-C", "-t", "over-tls", "-o", "beginning", "-e", "-q", "-m", "1", "-X", "socket.timeout.ms=3000", "-X", "metadata.request.timeout.ms=3000"], { timeoutMs: 20_000 });
  expect(wrongProtocol.stdout).toBe("");
}, 180_000);

test("mTLS (ssl.client.auth=required): no certificate or another CA's is refused; a good one's subject is the principal, logged once", async () => {
  const { port, logs } = await start(tlsListeners({ "listener.name.ssl.ssl.client.auth": "required", "ssl.truststore.location": certs.ca }));
  const ssl = `127.0.0.1:${port("SSL")}`;
  const lines = ["a:1", "b:2", "c:3"];
  await produceLines(ssl, "mtls", lines, [...sslClient(certs.ca), ...clientCertificate(certs.clientCert, certs.clientKey)]);
  const good = await consumeLines(ssl, "mtls", [...sslClient(certs.ca), ...clientCertificate(certs.clientCert, certs.clientKey)]);
  expect(good.lines).toEqual(lines);
  const successes = logs.filter((line) => line.includes('"event":"authentication"') && line.includes('"result":"success"')).map((line) => JSON.parse(line));
  expect(successes.length).toBeGreaterThan(0);
  for (const success of successes) expect(success).toMatchObject({ mechanism: "SSL", listener: "SSL", principal: "User:CN=alice,OU=dev,O=Bunka", client: "127.0.0.1" });

  const quick = ["-X", "socket.timeout.ms=3000", "-X", "metadata.request.timeout.ms=3000"];
  const withoutCertificate = await consumeLines(ssl, "mtls", [...sslClient(certs.ca), ...quick]);
  expect(withoutCertificate.lines).toEqual([]);
  expect(withoutCertificate.exitCode).not.toBe(0);
  const otherCa = await consumeLines(ssl, "mtls", [...sslClient(certs.ca), ...clientCertificate(otherCerts.clientCert, otherCerts.clientKey), ...quick]);
  expect(otherCa.lines).toEqual([]);
  expect(otherCa.exitCode).not.toBe(0);
  const failures = logs.filter((line) => line.includes('"event":"authentication"') && line.includes('"result":"failure"')).map((line) => JSON.parse(line));
  // Without a certificate OpenSSL fails the handshake itself (ssl.client.auth=required).
  expect(failures.some((failure) => /TLS handshake failed/.test(failure.reason))).toBe(true);
  expect(failures.some((failure) => /CN=mallory.*refused/.test(failure.reason))).toBe(true);
  expect(failures.every((failure) => failure.principal === null && failure.listener === "SSL")).toBe(true);
  // The plaintext listener next to it is unaffected by the SSL listener's client auth.
  expect((await consumeLines(`127.0.0.1:${port("PLAINTEXT")}`, "mtls", [])).lines).toEqual(lines);
}, 180_000);

test("ssl.principal.mapping.rules maps the subject (RULE with L), and ssl.client.auth=requested lets a client without a certificate in", async () => {
  const { port, logs } = await start(tlsListeners({
    "ssl.client.auth": "requested",
    "ssl.truststore.certificates": (await Bun.file(certs.ca).text()).replaceAll("\n", "\\n"),
    "ssl.principal.mapping.rules": "RULE:^CN=([a-zA-Z]+),OU=dev,O=Bunka$/$1-DEV/L,DEFAULT",
  }));
  const ssl = `127.0.0.1:${port("SSL")}`;
  await produceLines(ssl, "mapped", ["k:v"], [...sslClient(certs.ca), ...clientCertificate(certs.clientCert, certs.clientKey)]);
  expect(logs.some((line) => line.includes('"principal":"User:alice-dev"'))).toBe(true);
  // No certificate: anonymous, served.
  expect((await consumeLines(ssl, "mapped", sslClient(certs.ca))).lines).toEqual(["k:v"]);
  // A certificate from another CA is refused even though certificates are only requested.
  const otherCa = await consumeLines(ssl, "mapped", [...sslClient(certs.ca), ...clientCertificate(otherCerts.clientCert, otherCerts.clientKey), "-X", "socket.timeout.ms=3000"]);
  expect(otherCa.lines).toEqual([]);
}, 180_000);

test("a TLS handshake of random bytes and a client that never handshakes are closed (ssl.handshake.timeout.ms); the broker serves on", async () => {
  const { port, logs } = await start(tlsListeners({ "ssl.handshake.timeout.ms": "500" }));
  const sslPort = port("SSL");
  const random = crypto.getRandomValues(new Uint8Array(4096));
  expect(await closedByBroker(sslPort, random)).toBe(true);
  // A TLS record header claiming a handshake, then nothing: only the handshake timeout ends it.
  expect(await closedByBroker(sslPort, new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))).toBe(true);
  expect(await closedByBroker(sslPort, null)).toBe(true);
  expect(logs.some((line) => /TLS handshake not finished \d+ ms after connecting \(ssl\.handshake\.timeout\.ms=500\)/.test(line))).toBe(true);
  // At most one line per connection about each of them.
  const connectionIds = logs.map((line) => /closing connection (\d+)/.exec(line)?.[1]).filter(Boolean);
  expect(new Set(connectionIds).size).toBe(connectionIds.length);
  await produceLines(`127.0.0.1:${sslPort}`, "after-garbage", ["k:v"], sslClient(certs.ca));
  expect((await consumeLines(`127.0.0.1:${sslPort}`, "after-garbage", sslClient(certs.ca))).lines).toEqual(["k:v"]);
}, 120_000);

test("listener and TLS mistakes stop the start, naming the listener", async () => {
  const keyOnly = join(certs.dir, "key-only.pem");
  writeFileSync(keyOnly, await Bun.file(certs.brokerChain).text());
  const mismatched = join(certs.dir, "mismatched.pem");
  writeFileSync(mismatched, (await Bun.file(certs.clientKey).text()) + (await Bun.file(certs.brokerChain).text()));
  const refusals: [Record<string, string>, RegExp][] = [
    [{ "listeners": "PLAINTEXT://127.0.0.1:0,FOO://127.0.0.1:0" }, /listener FOO has no security protocol/],
    [{ "listeners": "PLAINTEXT://127.0.0.1:0,SECURE://127.0.0.1:0", "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SECURE:TLS" }, /listener SECURE maps to unknown security protocol "TLS"/],
    [{ "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0" }, /listener SSL is SSL but has no keystore/],
    [tlsListeners({ "ssl.keystore.location": "/nonexistent/broker.pem" }), /listener SSL: cannot read ssl\.keystore\.location \/nonexistent\/broker\.pem/],
    [tlsListeners({ "ssl.keystore.location": keyOnly }), /listener SSL: ssl\.keystore\.location .* has no private key/],
    [tlsListeners({ "ssl.keystore.location": mismatched }), /listener SSL: the keystore's private key does not belong to its first certificate/],
    [tlsListeners({ "ssl.keystore.type": "JKS" }), /listener SSL: ssl\.keystore\.type=JKS is not supported/],
    [tlsListeners({ "ssl.client.auth": "required" }), /listener SSL: ssl\.client\.auth=required needs a trust store/],
    [tlsListeners({ "ssl.client.auth": "always" }), /listener SSL: ssl\.client\.auth must be required, requested or none/],
    [tlsListeners({ "listener.name.ssl.ssl.truststore.location": "/nonexistent/ca.pem", "ssl.client.auth": "required" }), /listener SSL: cannot read ssl\.truststore\.location/],
    [tlsListeners({ "ssl.principal.mapping.rules": "RULE:^CN=(.*)$/$1/,NONSENSE" }), /ssl\.principal\.mapping\.rules: invalid rule "NONSENSE"/],
    [{ "listeners": "PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0" }, /listener PLAINTEXT is listed twice/],
    [{ "listeners": "PLAINTEXT://127.0.0.1:0", "advertised.listeners": "SSL://example:9093" }, /advertised\.listeners names listener SSL, which is not in listeners/],
    [{ "listeners": "PLAINTEXT://127.0.0.1:0", "inter.broker.listener.name": "INTERNAL" }, /inter\.broker\.listener\.name INTERNAL is not in listeners/],
    [{ "listener.name.ssl.ssl.keystore.colour": "blue" }, /unknown setting "listener\.name\.ssl\.ssl\.keystore\.colour"/],
  ];
  for (const [properties, message] of refusals) {
    const dataDir = tempDir("tls-refused");
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    await expect(startBroker({ port: 0, dataDir, partitionWorkers: 1, log: () => {}, properties })).rejects.toThrow(message);
  }

  // The report: a named secure listener never starts as plaintext. A real process exits non-zero.
  const dataDir = tempDir("tls-refused-process");
  const configPath = `${dataDir}.properties`;
  cleanups.push(() => {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(configPath, { force: true });
  });
  writeFileSync(configPath, "listeners=SSL://127.0.0.1:0\n");
  const child = Bun.spawn([process.execPath, join(repoRoot, "src/main.ts"), "--port", "0", "--data-dir", dataDir, "--config", configPath], { cwd: repoRoot, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: brokerProcessEnv() });
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  clearTimeout(timer);
  expect(code).not.toBe(0);
  expect(stdout).not.toContain(" ready on ");
  expect(stderr).toContain("listener SSL is SSL but has no keystore");
}, 120_000);
