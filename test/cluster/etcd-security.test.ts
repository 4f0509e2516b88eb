// etcd secured two ways, against a real etcd 3.4 (docs/etcd.md "Securing etcd"): TLS with client certificates
// (--client-cert-auth, certificates from scripts/dev-certs.sh) and etcd's own users (auth enable, a role on
// Bunka's prefix, short --auth-token-ttl). The etcd client works through each; a broker cluster configured with
// the etcd.* settings serves produce and consume; a missing client certificate or a wrong password stops a
// broker at start with a message that says so.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EtcdClient, EtcdError, GrpcCode, LeaseKeeper, etcdClientOptions, type WatchEvent } from "../../src/cluster/etcd/index.ts";
import { BrokerProcess, tempDir } from "../helpers/broker-process.ts";
import { makeDevCerts, type DevCerts } from "../helpers/certs.ts";
import { CLUSTER_TEST_PROPERTIES, TestCluster } from "../helpers/cluster.ts";
import { EtcdProcess } from "../helpers/etcd-process.ts";
import { kcat, kcatConsumeAll } from "../helpers/kcat.ts";
import { run } from "../helpers/run.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";

const WAIT_POLL_MS = 50;
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array) => new TextDecoder().decode(value);

async function waitFor(what: string, timeoutMs: number, condition: () => boolean | Promise<boolean>): Promise<void> {
  const startedAt = performance.now();
  while (performance.now() - startedAt < timeoutMs) {
    if (await condition()) return;
    await Bun.sleep(WAIT_POLL_MS);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function rejection(promise: Promise<unknown>): Promise<EtcdError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EtcdError) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

/** Produces `count` lines with kcat (acks=all) and reads them back from the beginning. */
async function produceAndConsume(bootstrap: string, topic: string, count: number): Promise<string[]> {
  const lines = Array.from({ length: count }, (_, index) => `${topic}-${index}`);
  const produced = await kcat(bootstrap, ["-P", "-t", topic, "-X", "request.required.acks=all"], { input: lines.join("\n") + "\n", timeoutMs: 60_000 });
  expect(produced.exitCode).toBe(0);
  return kcatConsumeAll(bootstrap, topic, "%s\\n", [], 60_000);
}

describe("etcd over TLS with client certificates (--client-cert-auth)", () => {
  let certs: DevCerts;
  let etcd: EtcdProcess;
  const settings = (extra: Record<string, string> = {}) => ({
    "etcd.ssl.ca.location": certs.ca,
    "etcd.ssl.certificate.location": certs.clientCert,
    "etcd.ssl.key.location": certs.clientKey,
    ...extra,
  });

  beforeAll(async () => {
    certs = await makeDevCerts("etcd-tls", "bunka");
    etcd = new EtcdProcess({ tls: { ca: certs.ca, cert: certs.brokerChain, key: certs.brokerKey, clientCertAuth: true, clientCert: certs.clientCert, clientKey: certs.clientKey } });
    await etcd.start();
  });

  afterAll(async () => {
    await etcd?.cleanup();
    certs?.cleanup();
  });

  test("with the CA and a client certificate from the settings: calls, a lease kept alive and a watch work over https", async () => {
    expect(etcd.endpoint.startsWith("https://")).toBe(true);
    const client = new EtcdClient({ ...etcdClientOptions({ etcdEndpoints: [etcd.endpoint], properties: settings() }), requestTimeoutMs: 3_000 });
    await client.put("tls/a", bytes("one"));
    expect(text((await client.get("tls/a"))!.value)).toBe("one");

    const events: WatchEvent[] = [];
    const start = await client.getPrefix("tls/w/");
    const watch = client.watchPrefix("tls/w/", { startRevision: start.revision + 1, onEvents: (batch) => void events.push(...batch) });
    const lost: EtcdError[] = [];
    const lease = new LeaseKeeper(client, { ttlSeconds: 2, onLost: (error) => lost.push(error) });
    try {
      const granted = await lease.start();
      await client.put("tls/w/leased", bytes("x"), { lease: granted.id });
      // Three TTLs: the keeper must have renewed over TLS several times for the key to still be there.
      await Bun.sleep(granted.ttlSeconds * 3 * 1000);
      expect(lost).toEqual([]);
      expect(await client.get("tls/w/leased")).not.toBeNull();
      await client.put("tls/w/b", bytes("two"));
      await waitFor("the watch to deliver both puts", 10_000, () => events.length >= 2);
      expect(events.map((event) => `${event.type} ${event.kv.key}`)).toEqual(["put tls/w/leased", "put tls/w/b"]);
    } finally {
      await lease.stop();
      watch.cancel();
      await watch.done;
    }
  }, 60_000);

  test("without a client certificate, or without the CA, etcd cannot be used; the error says why", async () => {
    const noCertificate = new EtcdClient({ ...etcdClientOptions({ etcdEndpoints: [etcd.endpoint], properties: { "etcd.ssl.ca.location": certs.ca } }), requestTimeoutMs: 3_000 });
    const refused = await rejection(noCertificate.get("tls/a"));
    expect(refused.kind).toBe("unreachable");
    expect(refused.message).toContain("client certificate");

    // The system's trust store does not know the development CA: the server certificate is not trusted.
    const noCa = new EtcdClient({ endpoints: [etcd.endpoint], tls: { cert: await Bun.file(certs.clientCert).text(), key: await Bun.file(certs.clientKey).text() }, requestTimeoutMs: 3_000 });
    const untrusted = await rejection(noCa.get("tls/a"));
    expect(untrusted.kind).toBe("unreachable");
    expect(untrusted.message.toLowerCase()).toContain("cert");
  });

  test("settings that cannot work are errors naming the setting: unreadable or non-PEM files, half a certificate, TLS with an http endpoint", () => {
    const options = (properties: Record<string, string>, endpoints = [etcd.endpoint]) => () => etcdClientOptions({ etcdEndpoints: endpoints, properties });
    expect(options(settings({ "etcd.ssl.ca.location": join(certs.dir, "missing.pem") }))).toThrow(/^etcd\.ssl\.ca\.location: cannot read .*missing\.pem/);
    expect(options(settings({ "etcd.ssl.key.location": certs.clientCert }))).toThrow("etcd.ssl.key.location: " + certs.clientCert + " holds no PEM private key");
    expect(options(settings({ "etcd.ssl.certificate.location": certs.clientKey }))).toThrow("etcd.ssl.certificate.location: " + certs.clientKey + " holds no PEM certificate");
    expect(options({ "etcd.ssl.certificate.location": certs.clientCert })).toThrow("etcd.ssl.certificate.location is set without etcd.ssl.key.location");
    expect(options(settings(), ["http://127.0.0.1:2379"])).toThrow("etcd.ssl.ca.location is set but etcd endpoint http://127.0.0.1:2379 is not https://");
    // The client itself refuses TLS material with an http endpoint (never falls back to clear text).
    expect(() => new EtcdClient({ endpoints: ["http://127.0.0.1:2379"], tls: { ca: "x" } })).toThrow("not https://");
  });

  test("a broker cluster on the TLS etcd serves produce and consume; a broker without the client certificate stops at start, saying why", async () => {
    const cluster = new TestCluster(1, settings({ "offsets.topic.replication.factor": "1" }), {
      etcd: { tls: { ca: certs.ca, cert: certs.brokerChain, key: certs.brokerKey, clientCertAuth: true, clientCert: certs.clientCert, clientKey: certs.clientKey } },
    });
    let outsider: BrokerProcess | null = null;
    try {
      await cluster.start();
      expect(await produceAndConsume(cluster.bootstrap.join(","), "over-tls-etcd", 20)).toEqual(Array.from({ length: 20 }, (_, index) => `over-tls-etcd-${index}`));

      outsider = new BrokerProcess({ nodeId: 2, properties: { ...CLUSTER_TEST_PROPERTIES, "etcd.ssl.ca.location": certs.ca }, extraArgs: ["--etcd", cluster.etcd.endpoint] });
      const failed = await outsider.start().then(() => null, (error: Error) => error);
      expect(failed).not.toBeNull();
      expect(failed!.message).toContain("bunka: failed to start: ");
      expect(failed!.message).toContain("client certificate");
    } finally {
      await outsider?.cleanup();
      await cluster.cleanup();
    }
  }, 120_000);
});

describe("etcd's own auth (users, roles, auth tokens with a short --auth-token-ttl)", () => {
  const AUTH_TOKEN_TTL_SECONDS = 2;
  const bunkaUser = { name: "bunka", password: "bunka-secret", prefix: "/bunka/" };
  let etcd: EtcdProcess;
  let proxy: TcpProxy;
  const dir = tempDir("etcd-auth");

  beforeAll(async () => {
    etcd = new EtcdProcess({ authTokenTtlSeconds: AUTH_TOKEN_TTL_SECONDS });
    await etcd.start();
    await etcd.enableAuth("root-secret", [bunkaUser]);
    proxy = new TcpProxy(etcd.clientPort);
  });

  afterAll(async () => {
    proxy?.stop();
    await etcd?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the right password logs in; the token goes with every call; the role limits the user to its prefix", async () => {
    const passwordFile = join(dir, "etcd-password");
    writeFileSync(passwordFile, `${bunkaUser.password}\n`);
    chmodSync(passwordFile, 0o600);
    const client = new EtcdClient({ ...etcdClientOptions({ etcdEndpoints: [etcd.endpoint], properties: { "etcd.username": "bunka", "etcd.password.file": passwordFile } }), requestTimeoutMs: 3_000 });
    await client.put("/bunka/auth/a", bytes("one"));
    expect(text((await client.get("/bunka/auth/a"))!.value)).toBe("one");
    expect(client.loginCount).toBe(1);
    const denied = await rejection(client.put("/elsewhere", bytes("no")));
    expect(denied.grpcCode).toBe(GrpcCode.PERMISSION_DENIED);

    const anonymous = new EtcdClient({ endpoints: [etcd.endpoint], requestTimeoutMs: 3_000 });
    const refused = await rejection(anonymous.get("/bunka/auth/a"));
    expect(refused.kind).toBe("auth");
    expect(refused.message).toContain("etcd.username");
  });

  test("a wrong password is refused at login with etcd's reason", async () => {
    const client = new EtcdClient({ endpoints: [etcd.endpoint], credentials: { username: "bunka", password: "wrong" }, requestTimeoutMs: 3_000 });
    const refused = await rejection(client.authenticate());
    expect(refused.kind).toBe("auth");
    expect(refused.message).toContain('etcd refused the login of user "bunka"');
    expect(refused.message).toContain("invalid user ID or password");
    expect(() => etcdClientOptions({ etcdEndpoints: [etcd.endpoint], properties: { "etcd.username": "bunka" } })).toThrow("etcd.username is set without etcd.password or etcd.password.file");
    expect(() => etcdClientOptions({ etcdEndpoints: [etcd.endpoint], properties: { "etcd.password": "x" } })).toThrow("etcd.password is set without etcd.username");
    expect(() => etcdClientOptions({ etcdEndpoints: [etcd.endpoint], properties: { "etcd.username": "bunka", "etcd.password.file": join(dir, "none") } })).toThrow(/^etcd\.password\.file: cannot read/);
  });

  test("calls and a watch go on after the token expired: the client logs in again", async () => {
    const logs: string[] = [];
    const client = new EtcdClient({ endpoints: [proxy.endpoint], credentials: { username: bunkaUser.name, password: bunkaUser.password }, requestTimeoutMs: 3_000, log: (line) => logs.push(line) });
    const writer = new EtcdClient({ endpoints: [etcd.endpoint], credentials: { username: bunkaUser.name, password: bunkaUser.password }, requestTimeoutMs: 3_000 });
    const events: WatchEvent[] = [];
    const start = await client.getPrefix("/bunka/expiry/");
    const watch = client.watchPrefix("/bunka/expiry/", { startRevision: start.revision + 1, onEvents: (batch) => void events.push(...batch) });
    try {
      await writer.put("/bunka/expiry/1", bytes("before"));
      await waitFor("the first event", 10_000, () => events.length >= 1);
      // Unused for more than its TTL, the client's token has expired on etcd.
      await Bun.sleep(AUTH_TOKEN_TTL_SECONDS * 1000 + 1_500);
      const loginsBefore = client.loginCount;
      // Cut the stream: the watch reconnects with the expired token, etcd cancels it, the client logs in again.
      proxy.cut();
      proxy.restore();
      await writer.put("/bunka/expiry/2", bytes("after"));
      await waitFor("the event after the token expired", 20_000, () => events.length >= 2);
      expect(events.map((event) => `${event.kv.key}=${text(event.kv.value)}`)).toEqual(["/bunka/expiry/1=before", "/bunka/expiry/2=after"]);
      expect(client.loginCount).toBeGreaterThan(loginsBefore);
      expect(logs.some((line) => line.includes("invalid auth token") && line.includes("logging in again"))).toBe(true);

      // A unary call with an expired token is refused by etcd and sent again after a new login.
      await Bun.sleep(AUTH_TOKEN_TTL_SECONDS * 1000 + 1_500);
      const loginsBeforeCall = client.loginCount;
      await client.put("/bunka/expiry/3", bytes("unary"));
      expect(client.loginCount).toBe(loginsBeforeCall + 1);
      await waitFor("the third event", 10_000, () => events.length >= 3);
      expect(watch.canceled).toBe(false);
    } finally {
      watch.cancel();
      await watch.done;
    }
  }, 60_000);

  test("a broker cluster with etcd.username and etcd.password.file serves produce and consume; a wrong password stops a broker at start", async () => {
    const passwordFile = join(dir, "cluster-password");
    writeFileSync(passwordFile, bunkaUser.password);
    const cluster = new TestCluster(1, { "etcd.username": bunkaUser.name, "etcd.password.file": passwordFile, "offsets.topic.replication.factor": "1" }, {
      etcd: { authTokenTtlSeconds: AUTH_TOKEN_TTL_SECONDS },
      beforeBrokers: (clusterEtcd) => clusterEtcd.enableAuth("root-secret", [bunkaUser]),
    });
    let outsider: BrokerProcess | null = null;
    try {
      await cluster.start();
      expect(await produceAndConsume(cluster.bootstrap.join(","), "over-auth-etcd", 20)).toEqual(Array.from({ length: 20 }, (_, index) => `over-auth-etcd-${index}`));

      outsider = new BrokerProcess({ nodeId: 2, properties: { ...CLUSTER_TEST_PROPERTIES, "etcd.username": bunkaUser.name, "etcd.password": "wrong" }, extraArgs: ["--etcd", cluster.etcd.endpoint] });
      const failed = await outsider.start().then(() => null, (error: Error) => error);
      expect(failed).not.toBeNull();
      expect(failed!.message).toContain("bunka: failed to start: ");
      expect(failed!.message).toContain('etcd refused the login of user "bunka"');
    } finally {
      await outsider?.cleanup();
      await cluster.cleanup();
    }
  }, 120_000);
});

describe("TLS with client certificates and etcd's auth together", () => {
  let certs: DevCerts;
  let etcd: EtcdProcess;
  const bunkaUser = { name: "bunka", password: "bunka-secret", prefix: "/bunka/" };
  const noCn = () => ({ cert: join(certs.dir, "no-cn.pem"), key: join(certs.dir, "no-cn-key.pem") });

  beforeAll(async () => {
    certs = await makeDevCerts("etcd-tls-auth", "bunka");
    // etcd 3.4's gateway refuses, under auth, a client certificate with a CN: one without, signed by the same CA.
    const { cert, key } = noCn();
    const csr = join(certs.dir, "no-cn.csr");
    const extensions = join(certs.dir, "no-cn.ext");
    writeFileSync(extensions, "extendedKeyUsage=clientAuth\n");
    for (const command of [
      ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/O=Bunka/OU=etcd-client"],
      ["openssl", "x509", "-req", "-in", csr, "-CA", certs.ca, "-CAkey", join(certs.dir, "ca-key.pem"), "-CAcreateserial", "-days", "2", "-sha256", "-extfile", extensions, "-out", cert],
    ]) {
      const result = await run(command, { timeoutMs: 30_000 });
      if (result.exitCode !== 0) throw new Error(`${command.slice(0, 2).join(" ")} failed: ${result.stderr}`);
    }
    etcd = new EtcdProcess({ tls: { ca: certs.ca, cert: certs.brokerChain, key: certs.brokerKey, clientCertAuth: true, clientCert: cert, clientKey: key } });
    await etcd.start();
    await etcd.enableAuth("root-secret", [bunkaUser]);
  });

  afterAll(async () => {
    await etcd?.cleanup();
    certs?.cleanup();
  });

  test("a client certificate without CN and the password work; one with a CN is refused with a message that says what to change", async () => {
    const properties = (cert: string, key: string) => ({
      "etcd.ssl.ca.location": certs.ca,
      "etcd.ssl.certificate.location": cert,
      "etcd.ssl.key.location": key,
      "etcd.username": bunkaUser.name,
      "etcd.password": bunkaUser.password,
    });
    const client = new EtcdClient({ ...etcdClientOptions({ etcdEndpoints: [etcd.endpoint], properties: properties(noCn().cert, noCn().key) }), requestTimeoutMs: 3_000 });
    await client.put("/bunka/both/a", bytes("one"));
    expect(text((await client.get("/bunka/both/a"))!.value)).toBe("one");
    expect(client.loginCount).toBe(1);

    const withCn = new EtcdClient({ ...etcdClientOptions({ etcdEndpoints: [etcd.endpoint], properties: properties(certs.clientCert, certs.clientKey) }), requestTimeoutMs: 3_000 });
    const refused = await rejection(withCn.authenticate());
    expect(refused.kind).toBe("auth");
    expect(refused.message).toContain("use a client certificate without CN");
  });
});
