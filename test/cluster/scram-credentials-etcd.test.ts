// SCRAM credentials in a cluster live in etcd (security/credentials.ts, KeyValueScramCredentialStore): one
// key per user and mechanism, read at each authentication, so a credential set through one broker verifies
// on every other at once, and only derived keys (never the password or the salted password) are stored.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { EtcdClient } from "../../src/cluster/etcd/client.ts";
import { KeyValueScramCredentialStore } from "../../src/security/credentials.ts";
import { SaslAuthenticator } from "../../src/security/sasl/authenticator.ts";
import { credentialFromSaltedPassword, saltPassword } from "../../src/security/sasl/scram.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ANONYMOUS_PRINCIPAL, type ConnectionSecurity } from "../../src/security/principal.ts";
import { EtcdProcess } from "../helpers/etcd-process.ts";

const etcd = new EtcdProcess();

beforeAll(async () => {
  await etcd.start();
});

afterAll(async () => {
  await etcd.cleanup();
});

const PREFIX = "/bunka/scram-test/scram-credentials/";

/** What one broker would build: its own etcd client and store, and an authenticator over it. */
function brokerSide() {
  const store = new KeyValueScramCredentialStore(new EtcdClient({ endpoints: [etcd.endpoint] }), PREFIX);
  const authenticator = new SaslAuthenticator({
    listeners: new Map([["SASL_PLAINTEXT", { enabledMechanisms: ["SCRAM-SHA-512"], plainUsers: new Map(), oauthBearer: { jwks: null, subClaimName: "sub", clockSkewMs: 30_000, expectedIssuer: null, expectedAudience: [] } }]]),
    scramCredentials: store,
    reauthMs: 0,
    maxReceiveBytes: 524_288,
    audit: () => undefined,
  });
  return { store, authenticator };
}

/** A full SCRAM-SHA-512 exchange against `authenticator` as a client knowing `password` would run it. */
async function scramLogin(authenticator: SaslAuthenticator, user: string, password: string): Promise<number> {
  const security: ConnectionSecurity = { listener: { name: "SASL_PLAINTEXT", securityProtocol: "SASL_PLAINTEXT" }, principal: ANONYMOUS_PRINCIPAL, authenticated: false };
  const peer = { security, remoteIp: "127.0.0.1" };
  expect(authenticator.handshake(peer, "SCRAM-SHA-512", 1).errorCode).toBe(ErrorCode.NONE);
  const { createHash, createHmac } = await import("node:crypto");
  const clientFirstBare = `n=${user},r=clientnonce`;
  const first = await authenticator.authenticate(peer, new TextEncoder().encode(`n,,${clientFirstBare}`));
  if (first.errorCode !== ErrorCode.NONE) return first.errorCode;
  const serverFirst = new TextDecoder().decode(first.authBytes);
  const fields = new Map(serverFirst.split(",").map((part) => [part[0], part.slice(2)] as const));
  const salted = saltPassword("SCRAM-SHA-512", password, new Uint8Array(Buffer.from(fields.get("s")!, "base64")), Number(fields.get("i")));
  const withoutProof = `c=biws,r=${fields.get("r")}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const clientKey = createHmac("sha512", salted).update("Client Key").digest();
  const signature = createHmac("sha512", createHash("sha512").update(clientKey).digest()).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((byte, index) => byte ^ signature[index]!)).toString("base64");
  const final = await authenticator.authenticate(peer, new TextEncoder().encode(`${withoutProof},p=${proof}`));
  if (final.errorCode === ErrorCode.NONE) expect(security.principal).toBe(`User:${user}`);
  return final.errorCode;
}

test("a credential set through one broker's store verifies on another's, holds no secret, and deleting it refuses the user everywhere", async () => {
  // Goal: etcd is the one source of SCRAM credentials in a cluster. Method: two independent store+authenticator
  // pairs (two brokers) on one real etcd; upsert on the first, log in on the second, inspect the raw etcd value,
  // delete on the second, log in on the first.
  const first = brokerSide();
  const second = brokerSide();
  const salt = new Uint8Array(32).fill(7);
  const saltedPassword = saltPassword("SCRAM-SHA-512", "heidi-secret", salt, 4096);
  await first.store.upsert("heidi", "SCRAM-SHA-512", credentialFromSaltedPassword("SCRAM-SHA-512", salt, 4096, saltedPassword));

  expect(await scramLogin(second.authenticator, "heidi", "heidi-secret")).toBe(ErrorCode.NONE);
  expect(await scramLogin(second.authenticator, "heidi", "wrong")).toBe(ErrorCode.SASL_AUTHENTICATION_FAILED);
  expect(await second.store.list()).toEqual([{ user: "heidi", mechanism: "SCRAM-SHA-512", iterations: 4096 }]);

  const raw = await new EtcdClient({ endpoints: [etcd.endpoint] }).getPrefix(PREFIX);
  expect(raw.kvs.length).toBe(1);
  const stored = Buffer.from(raw.kvs[0]!.value);
  expect(stored.includes(Buffer.from("heidi-secret"))).toBe(false);
  expect(stored.includes(Buffer.from(saltedPassword))).toBe(false);

  expect(await second.store.delete("heidi", "SCRAM-SHA-512")).toBe(true);
  expect(await second.store.delete("heidi", "SCRAM-SHA-512")).toBe(false);
  expect(await scramLogin(first.authenticator, "heidi", "heidi-secret")).toBe(ErrorCode.SASL_AUTHENTICATION_FAILED);
});
