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

export interface ConfiguredSasl {
  enabledMechanisms: SaslMechanismName[];
  plainUsers: Map<string, string>;
  oauthBearer: OAuthBearerSettings;
  reauthMs: number;
  maxReceiveBytes: number;
}

/** Everything SASL needs for `listener`, or an error naming what is missing. */
export function configuredSasl(properties: Record<string, string>, listener: ListenerIdentity): ConfiguredSasl {
  const enabledMechanisms = parseEnabledMechanisms(properties["sasl.enabled.mechanisms"] ?? "");
  if (isSaslProtocol(listener.securityProtocol) && enabledMechanisms.length === 0) {
    throw new Error(`config: listener ${listener.name} uses ${listener.securityProtocol} but sasl.enabled.mechanisms is empty (Kafka's default GSSAPI is not available; use ${SUPPORTED_SASL_MECHANISMS.join(", ")})`);
  }
  const plainUsers = new Map<string, string>();
  const jaas = properties["sasl.jaas.config"];
  if (jaas !== undefined && jaas.trim() !== "") for (const [user, password] of parsePlainJaasUsers(jaas)) plainUsers.set(user, password);
  const usersFile = properties["sasl.plain.users.file"];
  if (usersFile !== undefined && usersFile !== "") for (const [user, password] of loadPlainUsersFile(usersFile)) plainUsers.set(user, password);
  if (isSaslProtocol(listener.securityProtocol) && enabledMechanisms.includes("PLAIN") && plainUsers.size === 0) {
    throw new Error(`config: PLAIN is enabled on listener ${listener.name} but no users are configured (sasl.jaas.config with user_<name>="<password>", or sasl.plain.users.file)`);
  }
  return {
    enabledMechanisms,
    plainUsers,
    oauthBearer: configuredOAuthBearer(properties),
    reauthMs: Number(properties["connections.max.reauth.ms"] ?? 0),
    maxReceiveBytes: Number(properties["sasl.server.max.receive.size"] ?? SASL_SERVER_MAX_RECEIVE_BYTES_DEFAULT),
  };
}

/** OAUTHBEARER validation: signed tokens against a JWKS file when one is configured, else unsecured tokens (Kafka's default). */
function configuredOAuthBearer(properties: Record<string, string>): OAuthBearerSettings {
  const jwksLocation = properties["sasl.oauthbearer.jwks.endpoint.url"];
  const issuer = properties["sasl.oauthbearer.expected.issuer"];
  const audience = properties["sasl.oauthbearer.expected.audience"];
  return {
    jwks: jwksLocation === undefined || jwksLocation === "" ? null : loadJwks(jwksLocation),
    subClaimName: properties["sasl.oauthbearer.sub.claim.name"] || "sub",
    clockSkewMs: Number(properties["sasl.oauthbearer.clock.skew.seconds"] ?? 30) * 1000,
    expectedIssuer: issuer === undefined || issuer === "" ? null : issuer,
    expectedAudience: audience === undefined ? [] : audience.split(",").map((entry) => entry.trim()).filter((entry) => entry !== ""),
  };
}
