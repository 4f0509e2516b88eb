// Inter-broker client settings fail closed at start: a cluster broker whose inter-broker listener is SASL or
// TLS but that lacks the mechanism, its own login or the trust material does not start (resolveListeners is
// what the broker calls before binding anything). Real certificate files from scripts/dev-certs.sh.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { applyProperties, defaultBrokerConfig } from "../../src/config/broker-config.ts";
import { resolveListeners } from "../../src/security/listeners.ts";
import { interBrokerClientSecurity } from "../../src/security/inter-broker.ts";
import { makeDevCerts, type DevCerts } from "../helpers/certs.ts";

let certs: DevCerts;
beforeAll(async () => {
  certs = await makeDevCerts("inter-broker");
}, 60_000);
afterAll(() => certs?.cleanup());

const JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="s3cret" user_broker="s3cret";';

function clusterConfig(properties: Record<string, string>) {
  const config = applyProperties(defaultBrokerConfig(), {
    listeners: "PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:SASL_SSL",
    "inter.broker.listener.name": "INTERNAL",
    "listener.name.internal.ssl.keystore.location": certs.brokerKeystore,
    "listener.name.internal.ssl.truststore.location": certs.ca,
    "listener.name.internal.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512,OAUTHBEARER",
    ...properties,
  });
  config.etcdEndpoints = ["http://127.0.0.1:2379"];
  return config;
}

test("a SASL_SSL inter-broker listener without its client-side settings is an error at start", () => {
  const refusals: [Record<string, string>, RegExp][] = [
    [{ "listener.name.internal.plain.sasl.jaas.config": JAAS }, /set sasl\.mechanism\.inter\.broker\.protocol/],
    [{ "sasl.mechanism.inter.broker.protocol": "GSSAPI" }, /sasl\.mechanism\.inter\.broker\.protocol=GSSAPI cannot be used between brokers/],
    [{ "sasl.mechanism.inter.broker.protocol": "OAUTHBEARER" }, /OAUTHBEARER cannot be used between brokers/],
    [{ "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-256" }, /SCRAM-SHA-256 is not enabled on inter-broker listener INTERNAL/],
    [{ "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512" }, /listener\.name\.internal\.scram-sha-512\.sasl\.jaas\.config needs username/],
    [{ "sasl.mechanism.inter.broker.protocol": "PLAIN", "listener.name.internal.plain.sasl.jaas.config": 'org.apache.kafka.common.security.plain.PlainLoginModule required user_broker="x";' }, /needs username="\.\.\." password/],
    [{ "sasl.mechanism.inter.broker.protocol": "PLAIN", "listener.name.internal.plain.sasl.jaas.config": JAAS, "listener.name.internal.ssl.truststore.location": "/nonexistent/ca.pem" }, /listener INTERNAL: cannot read ssl\.truststore\.location/],
  ];
  for (const [properties, message] of refusals) expect(() => resolveListeners(clusterConfig(properties))).toThrow(message);
});

test("the broker's client side: the listener's CA, its keystore only when client certificates are asked for, the JAAS login", () => {
  const base = { "sasl.mechanism.inter.broker.protocol": "PLAIN", "listener.name.internal.plain.sasl.jaas.config": JAAS };
  const internal = { name: "INTERNAL", securityProtocol: "SASL_SSL" as const };
  const ca = readFileSync(certs.ca, "utf8").trim();
  const withoutClientAuth = interBrokerClientSecurity(clusterConfig(base), internal);
  expect(withoutClientAuth.tls?.ca?.trim()).toBe(ca);
  expect(withoutClientAuth.tls?.cert).toBeUndefined();
  expect(withoutClientAuth.sasl).toEqual({ mechanism: "PLAIN", username: "broker", password: "s3cret" });
  const withClientAuth = interBrokerClientSecurity(clusterConfig({ ...base, "listener.name.internal.ssl.client.auth": "required" }), internal);
  expect(withClientAuth.tls?.cert).toContain("BEGIN CERTIFICATE");
  expect(withClientAuth.tls?.key).toContain("PRIVATE KEY");
  // A single node has no inter-broker client: nothing is asked of it.
  const single = clusterConfig({});
  single.etcdEndpoints = [];
  expect(resolveListeners(single).interBrokerListenerName).toBe("INTERNAL");
});
