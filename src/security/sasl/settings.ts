// The broker's SASL settings, checked at start so that a SASL listener never serves without them (fail
// closed): sasl.enabled.mechanisms must name only mechanisms Bunka has (Kafka's default, GSSAPI, it has
// not), PLAIN needs users, OAUTHBEARER's JWKS file must load.
import { isSaslProtocol, type ListenerIdentity } from "../principal.ts";
import { loadPlainUsersFile, parsePlainJaasUsers } from "../credentials.ts";
import { isSupportedSaslMechanism, SUPPORTED_SASL_MECHANISMS, type SaslMechanismName } from "./mechanism.ts";
import { loadJwks, type OAuthBearerSettings } from "./oauthbearer.ts";

export const SASL_SERVER_MAX_RECEIVE_BYTES_DEFAULT = 524_288;

export function parseEnabledMechanisms(value: string): SaslMechanismName[] {
  const names = value.split(",").map((name) => name.trim()).filter((name) => name !== "");
  for (const name of names) {
    if (!isSupportedSaslMechanism(name)) throw new Error(`config: sasl.enabled.mechanisms names ${name}, which Bunka does not have (available: ${SUPPORTED_SASL_MECHANISMS.join(", ")})`);
  }
  return names as SaslMechanismName[];
}

/** What one SASL listener offers and accepts. */
export interface ListenerSasl {
  enabledMechanisms: SaslMechanismName[];
  plainUsers: Map<string, string>;
  oauthBearer: OAuthBearerSettings;
}

export interface ConfiguredSasl {
  /** By listener name, every SASL listener. */
  listeners: Map<string, ListenerSasl>;
  reauthMs: number;
  maxReceiveBytes: number;
}

/**
 * A setting as one listener (and mechanism) sees it, Kafka's precedence: `listener.name.<listener>.<mechanism>.<key>`,
 * then `listener.name.<listener>.<key>` (Kafka lower-cases the listener name there), then `<key>`.
 */
function listenerProperty(properties: Record<string, string>, listener: string, mechanism: string | null, key: string): string | undefined {
  for (const name of [listener.toLowerCase(), listener]) {
    const prefix = `listener.name.${name}.`;
    const value = (mechanism === null ? undefined : properties[`${prefix}${mechanism.toLowerCase()}.${key}`]) ?? properties[`${prefix}${key}`];
    if (value !== undefined) return value;
  }
  return properties[key];
}

/** Everything one SASL listener needs, or an error naming the listener and what is missing. */
function configuredListenerSasl(properties: Record<string, string>, listener: ListenerIdentity): ListenerSasl {
  const get = (mechanism: string | null, key: string) => listenerProperty(properties, listener.name, mechanism, key);
  const enabledMechanisms = parseEnabledMechanisms(get(null, "sasl.enabled.mechanisms") ?? "");
  if (enabledMechanisms.length === 0) {
    throw new Error(`config: listener ${listener.name} uses ${listener.securityProtocol} but sasl.enabled.mechanisms is empty (Kafka's default GSSAPI is not available; use ${SUPPORTED_SASL_MECHANISMS.join(", ")})`);
  }
  const plainUsers = new Map<string, string>();
  if (enabledMechanisms.includes("PLAIN")) {
    const jaas = get("PLAIN", "sasl.jaas.config");
    if (jaas !== undefined && jaas.trim() !== "") for (const [user, password] of parsePlainJaasUsers(jaas)) plainUsers.set(user, password);
    const usersFile = get("PLAIN", "sasl.plain.users.file");
    if (usersFile !== undefined && usersFile !== "") for (const [user, password] of loadPlainUsersFile(usersFile)) plainUsers.set(user, password);
    if (plainUsers.size === 0) throw new Error(`config: PLAIN is enabled on listener ${listener.name} but no users are configured (sasl.jaas.config with user_<name>="<password>", or sasl.plain.users.file)`);
  }
  const oauthBearer = configuredOAuthBearer((key) => get("OAUTHBEARER", key));
  return { enabledMechanisms, plainUsers, oauthBearer };
}

/** SASL for every SASL listener among `listeners` (none: an empty map). */
export function configuredSasl(properties: Record<string, string>, listeners: readonly ListenerIdentity[]): ConfiguredSasl {
  const byListener = new Map<string, ListenerSasl>();
  for (const listener of listeners) if (isSaslProtocol(listener.securityProtocol)) byListener.set(listener.name, configuredListenerSasl(properties, listener));
  return {
    listeners: byListener,
    reauthMs: Number(properties["connections.max.reauth.ms"] ?? 0),
    maxReceiveBytes: Number(properties["sasl.server.max.receive.size"] ?? SASL_SERVER_MAX_RECEIVE_BYTES_DEFAULT),
  };
}

/** OAUTHBEARER validation: signed tokens against a JWKS file when one is configured, else unsecured tokens (Kafka's default). */
function configuredOAuthBearer(get: (key: string) => string | undefined): OAuthBearerSettings {
  const jwksLocation = get("sasl.oauthbearer.jwks.endpoint.url");
  const issuer = get("sasl.oauthbearer.expected.issuer");
  const audience = get("sasl.oauthbearer.expected.audience");
  return {
    jwks: jwksLocation === undefined || jwksLocation === "" ? null : loadJwks(jwksLocation),
    subClaimName: get("sasl.oauthbearer.sub.claim.name") || "sub",
    clockSkewMs: Number(get("sasl.oauthbearer.clock.skew.seconds") ?? 30) * 1000,
    expectedIssuer: issuer === undefined || issuer === "" ? null : issuer,
    expectedAudience: audience === undefined ? [] : audience.split(",").map((entry) => entry.trim()).filter((entry) => entry !== ""),
  };
}
