// Named listeners, as Kafka configures them: `listeners` (NAME://host:port, any number), the protocol of each
// name from `listener.security.protocol.map`, what Metadata tells clients of each (`advertised.listeners`) and
// the one other brokers use (`inter.broker.listener.name`). Resolved once at start; anything named but not
// usable is an error naming the listener, never a silent plaintext fallback.
import type { BrokerConfig, ListenerAddress } from "../config/broker-config.ts";
import { interBrokerClientSecurity } from "./inter-broker.ts";
import { isTlsProtocol, SECURITY_PROTOCOLS, type ListenerIdentity, type SecurityProtocol } from "./principal.ts";
import { loadListenerTls, type ListenerTls } from "./tls.ts";

/** One listener to bind, and what clients that connect to it are told. */
export interface ListenerSpec extends ListenerIdentity {
  readonly host: string;
  /** 0 = any free port (the bound port is reported and advertised). */
  readonly port: number;
  /** From advertised.listeners; "" = the bind host (or advertised.host for the first listener). */
  readonly advertisedHost: string;
  /** From advertised.listeners; null = the bound port. */
  readonly advertisedPort: number | null;
}

export interface ResolvedListeners {
  readonly listeners: readonly ListenerSpec[];
  /** The listener replication and other broker-to-broker traffic uses; its endpoint is the broker's host/port. */
  readonly interBrokerListenerName: string;
}

/** A broker without `listeners` has one plaintext listener of this name on host:port (the --port/--host shorthand). */
export const DEFAULT_LISTENER_NAME = "PLAINTEXT";

const LISTENER_NAME = /^[A-Z][A-Z0-9_]*$/;

export function isSecurityProtocol(value: string): value is SecurityProtocol {
  return (SECURITY_PROTOCOLS as readonly string[]).includes(value);
}

/**
 * The listeners of a config, validated. The first listener binds `config.host`/`config.port` (which
 * `listeners` sets from its first entry, and --host/--port override), so the flags keep working.
 */
export function resolveListeners(config: BrokerConfig): ResolvedListeners {
  const addresses: ListenerAddress[] = config.listeners.length > 0 ? config.listeners : [{ name: DEFAULT_LISTENER_NAME, host: config.host, port: config.port }];
  const seenNames = new Set<string>();
  const seenPorts = new Map<number, string>();
  const advertisedByName = new Map(config.advertisedListeners.map((entry) => [entry.name, entry]));
  const protocolMap = parseSecurityProtocolMap(config.properties["listener.security.protocol.map"]);
  const listeners: ListenerSpec[] = addresses.map((address, index) => {
    const name = address.name;
    if (!LISTENER_NAME.test(name)) throw new Error(`config: listener "${name}": a listener name is an upper-case word (A-Z, 0-9, _)`);
    if (seenNames.has(name)) throw new Error(`config: listener ${name} is listed twice in listeners`);
    seenNames.add(name);
    // An empty host binds the `host` setting's address, like the first listener's.
    const host = index === 0 ? config.host : address.host || config.host;
    const port = index === 0 ? config.port : address.port;
    const mapped = protocolMap.get(name);
    if (mapped === undefined) {
      throw new Error(`config: listener ${name} has no security protocol: listener.security.protocol.map must map it (${name}:PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)`);
    }
    if (!isSecurityProtocol(mapped)) throw new Error(`config: listener ${name} maps to unknown security protocol "${mapped}" (known: ${SECURITY_PROTOCOLS.join(", ")})`);
    // Kafka refuses two listeners on one port too (port 0 means a fresh free port each).
    if (port !== 0) {
      const other = seenPorts.get(port);
      if (other !== undefined) throw new Error(`config: listeners ${other} and ${name} both bind port ${port}`);
      seenPorts.set(port, name);
    }
    const advertised = advertisedByName.get(name);
    // advertised.host (--advertised-host) speaks for the first listener when advertised.listeners does not name it.
    const advertisedHost = advertised?.host || (index === 0 ? config.advertisedHost : "");
    const advertisedPort = advertised ? (advertised.port === 0 ? null : advertised.port) : index === 0 && config.advertisedListeners.length === 0 ? (config.advertisedPort ?? null) : null;
    return { name, securityProtocol: mapped, host, port, advertisedHost, advertisedPort };
  });
  for (const entry of config.advertisedListeners) {
    if (!seenNames.has(entry.name)) throw new Error(`config: advertised.listeners names listener ${entry.name}, which is not in listeners (${[...seenNames].join(", ")})`);
  }
  const interBrokerListenerName = config.interBrokerListenerName || defaultInterBrokerListener(listeners);
  const interBroker = listeners.find((listener) => listener.name === interBrokerListenerName);
  if (!interBroker) throw new Error(`config: inter.broker.listener.name ${interBrokerListenerName} is not in listeners (${[...seenNames].join(", ")})`);
  // In a cluster the other brokers connect here as clients of this listener: the client side (trust store,
  // certificate, SASL login) is checked at start too, so a broker never starts unable to replicate.
  if (config.etcdEndpoints.length > 0) interBrokerClientSecurity(config, interBroker);
  return { listeners, interBrokerListenerName };
}

/**
 * listener.security.protocol.map, `NAME:PROTOCOL,...`; unset, each protocol's name maps to itself (Kafka's
 * default). Values are checked where a listener uses them, so the error names the listener.
 */
export function parseSecurityProtocolMap(value: string | undefined): Map<string, string> {
  if (value === undefined) return new Map(SECURITY_PROTOCOLS.map((protocol) => [protocol, protocol]));
  const map = new Map<string, string>();
  for (const entry of value.split(",").map((part) => part.trim()).filter(Boolean)) {
    const separator = entry.indexOf(":");
    if (separator <= 0) throw new Error(`config: listener.security.protocol.map entry "${entry}" must be NAME:PROTOCOL`);
    map.set(entry.slice(0, separator).trim().toUpperCase(), entry.slice(separator + 1).trim().toUpperCase());
  }
  return map;
}

/** Kafka's default is security.inter.broker.protocol=PLAINTEXT: the first plaintext listener, else the first. */
function defaultInterBrokerListener(listeners: readonly ListenerSpec[]): string {
  return (listeners.find((listener) => listener.securityProtocol === "PLAINTEXT") ?? listeners[0]!).name;
}

/** What clients of a listener are told to connect to, once its port is bound. */
export function advertisedEndpoint(listener: ListenerSpec, boundPort: number): { host: string; port: number } {
  return { host: listener.advertisedHost || listener.host, port: listener.advertisedPort ?? boundPort };
}

/** Everything the broker needs to bind its listeners: their addresses and each TLS listener's material. */
export interface PreparedListeners extends ResolvedListeners {
  readonly tls: ReadonlyMap<string, ListenerTls>;
}

/** resolveListeners plus the TLS material of every SSL/SASL_SSL listener, loaded and checked (throws naming the listener). */
export function prepareListeners(config: BrokerConfig): PreparedListeners {
  const resolved = resolveListeners(config);
  const tls = new Map<string, ListenerTls>();
  for (const listener of resolved.listeners) if (isTlsProtocol(listener.securityProtocol)) tls.set(listener.name, loadListenerTls(config, listener));
  return { ...resolved, tls };
}
