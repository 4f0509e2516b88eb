// How this broker connects to the others (replica fetchers) on `inter.broker.listener.name`, Kafka's way: over
// TLS when that listener is SSL/SASL_SSL, trusting the listener's trust store and presenting its keystore as the
// client certificate when the listener asks for one; logged in when it is SASL_PLAINTEXT/SASL_SSL with
// `sasl.mechanism.inter.broker.protocol` and the `username`/`password` of that mechanism's JAAS config for the
// listener (`listener.name.<listener>.<mechanism>.sasl.jaas.config`). Resolved at start: anything missing is
// an error naming the listener, never a plaintext or anonymous fallback.
import type { BrokerConfig } from "../config/broker-config.ts";
import { parseJaasEntry } from "./credentials.ts";
import { isSaslProtocol, isTlsProtocol, type ListenerIdentity } from "./principal.ts";
import { isSupportedSaslMechanism, type SaslMechanismName } from "./sasl/mechanism.ts";
import { loadListenerTls, listenerProperty } from "./tls.ts";

/** Shaped as client/kafka-connection.ts's `tls` and `sasl` options (structurally, so security/ does not import client/). */
export interface InterBrokerClientSecurity {
  readonly tls?: { ca?: string; cert?: string; key?: string; passphrase?: string };
  readonly sasl?: { mechanism: SaslMechanismName; username: string; password: string };
}

/** Mechanisms a broker can log in with by itself (OAUTHBEARER would need a token source). */
const INTER_BROKER_MECHANISMS: readonly SaslMechanismName[] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

export function interBrokerClientSecurity(config: Pick<BrokerConfig, "properties">, listener: ListenerIdentity): InterBrokerClientSecurity {
  const result: { tls?: InterBrokerClientSecurity["tls"]; sasl?: InterBrokerClientSecurity["sasl"] } = {};
  if (isTlsProtocol(listener.securityProtocol)) {
    // The same material the listener serves with: its trust store holds the CA the other brokers' certificates
    // are signed by, and its keystore is what they ask for when ssl.client.auth is on.
    const tls = loadListenerTls(config, listener);
    const presentCertificate = tls.clientAuth !== "none";
    result.tls = {
      ...(tls.options.ca !== undefined ? { ca: tls.options.ca } : {}),
      ...(presentCertificate ? { cert: tls.options.cert, key: tls.options.key, ...(tls.options.passphrase ? { passphrase: tls.options.passphrase } : {}) } : {}),
    };
  }
  if (isSaslProtocol(listener.securityProtocol)) {
    const mechanism = (config.properties["sasl.mechanism.inter.broker.protocol"] ?? "").trim();
    if (mechanism === "") {
      throw new Error(`config: inter.broker.listener.name ${listener.name} is ${listener.securityProtocol}: set sasl.mechanism.inter.broker.protocol (${INTER_BROKER_MECHANISMS.join(", ")}; Kafka's default GSSAPI is not available)`);
    }
    if (!isSupportedSaslMechanism(mechanism) || !INTER_BROKER_MECHANISMS.includes(mechanism)) {
      throw new Error(`config: sasl.mechanism.inter.broker.protocol=${mechanism} cannot be used between brokers (use ${INTER_BROKER_MECHANISMS.join(", ")})`);
    }
    const enabled = (listenerProperty(config, listener.name, "sasl.enabled.mechanisms") ?? "").split(",").map((name) => name.trim());
    if (!enabled.includes(mechanism)) {
      throw new Error(`config: sasl.mechanism.inter.broker.protocol=${mechanism} is not enabled on inter-broker listener ${listener.name} (sasl.enabled.mechanisms: ${enabled.filter(Boolean).join(", ") || "none"})`);
    }
    const jaas = mechanismProperty(config.properties, listener.name, mechanism, "sasl.jaas.config");
    const options = jaas === undefined ? new Map<string, string>() : parseJaasOptions(jaas);
    const username = options.get("username");
    const password = options.get("password");
    if (username === undefined || password === undefined) {
      throw new Error(
        `config: inter-broker listener ${listener.name} (${mechanism}): the broker's own login is missing: listener.name.${listener.name.toLowerCase()}.${mechanism.toLowerCase()}.sasl.jaas.config needs username="..." password="..."`,
      );
    }
    result.sasl = { mechanism, username, password };
  }
  return result;
}

/** `listener.name.<listener>.<mechanism>.<key>`, then `listener.name.<listener>.<key>`, then `<key>` (Kafka's precedence). */
function mechanismProperty(properties: Record<string, string>, listener: string, mechanism: string, key: string): string | undefined {
  for (const name of [listener.toLowerCase(), listener]) {
    const value = properties[`listener.name.${name}.${mechanism.toLowerCase()}.${key}`] ?? properties[`listener.name.${name}.${key}`];
    if (value !== undefined) return value;
  }
  return properties[key];
}

/** The options of a one-module JAAS entry (the login module itself is the client's business here). */
export function parseJaasOptions(jaas: string): Map<string, string> {
  return parseJaasEntry(jaas).options;
}
