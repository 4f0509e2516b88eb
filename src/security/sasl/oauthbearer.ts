// SASL OAUTHBEARER (RFC 7628; Kafka's OAuthBearerSaslServer): one client message,
// "n,[a=authzid],\x01auth=Bearer <token>\x01[key=value\x01...]\x01". The token is a JWT. Two validators:
// - unsecured JWS (alg "none"), what Kafka ships for development (OAuthBearerUnsecuredValidatorCallbackHandler),
//   used when no JWKS is configured;
// - signed JWS checked against the keys of a JWKS file (sasl.oauthbearer.jwks.endpoint.url), as Kafka's
//   OAuthBearerValidatorCallbackHandler does against its JWKS endpoint.
// Both check exp (and iat, nbf) with sasl.oauthbearer.clock.skew.seconds of tolerance and take the principal
// from the sub claim (sasl.oauthbearer.sub.claim.name); the JWKS validator also checks iss and aud when set.
import { createPublicKey, verify, constants, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type SaslServerExchange, type SaslStep, SaslAuthenticationError } from "./mechanism.ts";

export interface OAuthBearerSettings {
  /** Keys by kid from the JWKS file; null: unsecured tokens (alg "none") only. */
  readonly jwks: JwksKeys | null;
  readonly subClaimName: string;
  readonly clockSkewMs: number;
  readonly expectedIssuer: string | null;
  /** Empty: aud is not checked. */
  readonly expectedAudience: readonly string[];
}

export interface JwksKey {
  readonly kid: string | null;
  readonly key: KeyObject;
}

export type JwksKeys = readonly JwksKey[];

/** JWS algorithms by name: the digest and how node:crypto verifies the signature. */
const ALGORITHMS: Readonly<Record<string, { digest: string; options: { padding?: number; saltLength?: number; dsaEncoding?: "ieee-p1363" } }>> = {
  RS256: { digest: "sha256", options: {} },
  RS384: { digest: "sha384", options: {} },
  RS512: { digest: "sha512", options: {} },
  PS256: { digest: "sha256", options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } },
  PS384: { digest: "sha384", options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 } },
  PS512: { digest: "sha512", options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 } },
  ES256: { digest: "sha256", options: { dsaEncoding: "ieee-p1363" } },
  ES384: { digest: "sha384", options: { dsaEncoding: "ieee-p1363" } },
  ES512: { digest: "sha512", options: { dsaEncoding: "ieee-p1363" } },
};

/** sasl.oauthbearer.jwks.endpoint.url: a file path or file:// URL (fetching over HTTP is not available: an error at start). */
export function loadJwks(location: string): JwksKeys {
  if (/^https?:\/\//i.test(location)) throw new Error(`config: sasl.oauthbearer.jwks.endpoint.url ${location}: only a file (path or file:// URL) is supported`);
  const path = location.startsWith("file:") ? fileURLToPath(location) : location;
  const parsed = JSON.parse(readFileSync(path, "utf8")) as { keys?: { kid?: string; use?: string; kty?: string }[] };
  if (!Array.isArray(parsed.keys) || parsed.keys.length === 0) throw new Error(`config: JWKS file ${path} has no keys`);
  return parsed.keys.filter((jwk) => jwk.use === undefined || jwk.use === "sig").map((jwk) => ({ kid: jwk.kid ?? null, key: createPublicKey({ key: jwk, format: "jwk" } as Parameters<typeof createPublicKey>[0]) }));
}

const textDecoder = new TextDecoder("utf-8", { fatal: true });

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  try {
    const value = JSON.parse(textDecoder.decode(Buffer.from(segment, "base64url")));
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not an object");
    return value as Record<string, unknown>;
  } catch {
    throw new SaslAuthenticationError(`invalid_token: the JWT ${what} is not a base64url JSON object`);
  }
}

export class OAuthBearerServerExchange implements SaslServerExchange {
  readonly mechanism = "OAUTHBEARER" as const;
  private used = false;

  constructor(
    private readonly settings: OAuthBearerSettings,
    private readonly now: () => number,
  ) {}

  evaluate(token: Uint8Array): SaslStep {
    if (this.used) throw new SaslAuthenticationError("OAUTHBEARER takes exactly one message");
    this.used = true;
    let text: string;
    try {
      text = textDecoder.decode(token);
    } catch {
      throw new SaslAuthenticationError("OAUTHBEARER message is not UTF-8");
    }
    const match = /^([ny]),(?:a=([^,\x01]*))?,\x01((?:[^\x01]*\x01)*)\x01$/.exec(text);
    if (!match) throw new SaslAuthenticationError("invalid OAUTHBEARER client message (RFC 7628 §3.1)");
    const pairs = match[3]!.split("\x01").filter((pair) => pair !== "");
    const auth = pairs.find((pair) => pair.startsWith("auth="));
    const bearer = auth ? /^auth=Bearer ([\w.~+/=-]+)$/i.exec(auth) : null;
    if (!bearer) throw new SaslAuthenticationError("invalid OAUTHBEARER client message: no auth=Bearer <token>");
    const { principal, expiresAtMs } = this.validate(bearer[1]!);
    if (match[2] && match[2] !== principal) throw new SaslAuthenticationError(`authorization id ${match[2]} differs from the token's principal`);
    return { done: true, user: principal, response: new Uint8Array(0), credentialExpiresAtMs: expiresAtMs };
  }

  private validate(jwt: string): { principal: string; expiresAtMs: number } {
    const parts = jwt.split(".");
    if (parts.length !== 3) throw new SaslAuthenticationError("invalid_token: a JWS has three dot-separated parts");
    const header = decodeSegment(parts[0]!, "header");
    const claims = decodeSegment(parts[1]!, "payload");
    const jwks = this.settings.jwks;
    if (jwks === null) {
      if (header.alg !== "none" || parts[2] !== "") throw new SaslAuthenticationError("invalid_token: only unsecured tokens (alg none) are accepted without sasl.oauthbearer.jwks.endpoint.url");
    } else {
      this.verifySignature(jwks, header, `${parts[0]}.${parts[1]}`, parts[2]!);
    }
    return this.checkClaims(claims);
  }

  private verifySignature(jwks: JwksKeys, header: Record<string, unknown>, signedText: string, signature: string): void {
    const algorithm = typeof header.alg === "string" ? ALGORITHMS[header.alg] : undefined;
    if (!algorithm) throw new SaslAuthenticationError(`invalid_token: JWS algorithm ${JSON.stringify(header.alg)} is not accepted`);
    const candidates = typeof header.kid === "string" ? jwks.filter((entry) => entry.kid === header.kid) : jwks;
    if (candidates.length === 0) throw new SaslAuthenticationError(`invalid_token: no key ${JSON.stringify(header.kid)} in the JWKS`);
    const data = Buffer.from(signedText);
    const signatureBytes = Buffer.from(signature, "base64url");
    const valid = candidates.some(({ key }) => {
      try {
        return verify(algorithm.digest, data, { key, ...algorithm.options }, signatureBytes);
      } catch {
        return false; // a key of another type than the algorithm's
      }
    });
    if (!valid) throw new SaslAuthenticationError("invalid_token: the JWS signature does not verify");
  }

  private checkClaims(claims: Record<string, unknown>): { principal: string; expiresAtMs: number } {
    const nowMs = this.now();
    const skewMs = this.settings.clockSkewMs;
    const { exp, iat, nbf, iss, aud } = claims;
    if (typeof exp !== "number" || !Number.isFinite(exp)) throw new SaslAuthenticationError("invalid_token: no numeric exp claim");
    if (exp * 1000 + skewMs <= nowMs) throw new SaslAuthenticationError("invalid_token: the token has expired");
    if (iat !== undefined && (typeof iat !== "number" || iat * 1000 - skewMs > nowMs)) throw new SaslAuthenticationError("invalid_token: iat is in the future");
    if (nbf !== undefined && (typeof nbf !== "number" || nbf * 1000 - skewMs > nowMs)) throw new SaslAuthenticationError("invalid_token: the token is not valid yet (nbf)");
    const principal = claims[this.settings.subClaimName];
    if (typeof principal !== "string" || principal === "") throw new SaslAuthenticationError(`invalid_token: no ${this.settings.subClaimName} claim`);
    if (this.settings.expectedIssuer !== null && iss !== this.settings.expectedIssuer) throw new SaslAuthenticationError("invalid_token: unexpected issuer");
    if (this.settings.expectedAudience.length > 0) {
      const audiences = Array.isArray(aud) ? aud : [aud];
      if (!audiences.some((entry) => typeof entry === "string" && this.settings.expectedAudience.includes(entry))) throw new SaslAuthenticationError("invalid_token: unexpected audience");
    }
    return { principal, expiresAtMs: exp * 1000 };
  }
}
