// Who may use the admin listener. With security on (an authorizer or a SASL listener), every request but the
// paths admin.auth.exempt.paths names carries HTTP Basic credentials of a Kafka user: a PLAIN user of a SASL
// listener, or a SCRAM user verified the way SCRAM does (the salted password recomputed from the stored salt
// and iterations, its StoredKey compared). The principal is User:<name>, and ACL checks apply to it as to a
// Kafka client. With security off, everyone is User:ANONYMOUS, as on a PLAINTEXT listener.
import { createHash, timingSafeEqual } from "node:crypto";
import type { ClientConnection } from "../api/context.ts";
import { credentialFromSaltedPassword, saltPassword, SCRAM_MECHANISMS } from "../security/sasl/scram.ts";
import type { AdminBrokerView } from "./broker-view.ts";

export const ADMIN_LISTENER_NAME = "ADMIN";
/** Probe and scrape paths an operator may leave open (admin.auth.exempt.paths). */
export const EXEMPTABLE_PATHS: readonly string[] = ["/healthz", "/readyz", "/metrics"];
/** A verified login is remembered this long, so a scraper does not cost a PBKDF2 per request. */
const VERIFIED_TTL_MS = 60_000;
/** Bound on remembered logins (each is a user name and a digest). */
const VERIFIED_MAX = 1024;

export class AdminAuthenticator {
  private readonly exemptPaths: ReadonlySet<string>;
  private readonly verified = new Map<string, { digest: Buffer; expiresMs: number }>();

  constructor(private readonly view: AdminBrokerView) {
    const listed = (view.config.properties["admin.auth.exempt.paths"] ?? "").split(",").map((path) => path.trim()).filter(Boolean);
    for (const path of listed) if (!EXEMPTABLE_PATHS.includes(path)) throw new Error(`config: admin.auth.exempt.paths may name ${EXEMPTABLE_PATHS.join(", ")}, not "${path}"`);
    this.exemptPaths = new Set(listed);
  }

  get required(): boolean {
    return this.view.securityEnabled;
  }

  /** The connection a request acts as (for ACL checks), or a 401 response. */
  async authenticate(request: Request, path: string, remoteIp: string): Promise<ClientConnection | Response> {
    if (!this.required || this.exemptPaths.has(path)) return adminConnection(remoteIp, "User:ANONYMOUS");
    const credentials = parseBasic(request.headers.get("authorization"));
    if (credentials && (await this.verify(credentials.user, credentials.password))) return adminConnection(remoteIp, `User:${credentials.user}`);
    this.view.traffic.authenticationFailed(ADMIN_LISTENER_NAME, "BASIC");
    return new Response(JSON.stringify({ error_code: 401, message: "authentication required: HTTP Basic with a Kafka user (PLAIN or SCRAM)" }), {
      status: 401,
      headers: { "content-type": "application/json", "www-authenticate": 'Basic realm="bunka", charset="UTF-8"' },
    });
  }

  private async verify(user: string, password: string): Promise<boolean> {
    const digest = createHash("sha256").update(`${user}\u0000${password}`).digest();
    const remembered = this.verified.get(user);
    if (remembered && remembered.expiresMs > Date.now() && timingSafeEqual(remembered.digest, digest)) return true;
    if (!(await this.verifyAgainstStores(user, password))) return false;
    if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(user, { digest, expiresMs: Date.now() + VERIFIED_TTL_MS });
    return true;
  }

  private async verifyAgainstStores(user: string, password: string): Promise<boolean> {
    const plain = this.view.plainUsers.get(user);
    if (plain !== undefined && equalText(plain, password)) return true;
    for (const mechanism of SCRAM_MECHANISMS) {
      const stored = await this.view.scramCredentials.get(user, mechanism);
      if (!stored) continue;
      const computed = credentialFromSaltedPassword(mechanism, stored.salt, stored.iterations, saltPassword(mechanism, password, stored.salt, stored.iterations));
      if (computed.storedKey.byteLength === stored.storedKey.byteLength && timingSafeEqual(computed.storedKey, stored.storedKey)) return true;
    }
    return false;
  }
}

function equalText(a: string, b: string): boolean {
  const left = createHash("sha256").update(a).digest();
  const right = createHash("sha256").update(b).digest();
  return timingSafeEqual(left, right);
}

function parseBasic(header: string | null): { user: string; password: string } | null {
  const match = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const separator = decoded.indexOf(":");
  if (separator <= 0) return null;
  return { user: decoded.slice(0, separator), password: decoded.slice(separator + 1) };
}

/** An admin HTTP request as the ACL checks see a connection: its address and principal. */
function adminConnection(remoteIp: string, principal: string): ClientConnection {
  return {
    remoteIp,
    security: { listener: { name: ADMIN_LISTENER_NAME, securityProtocol: "PLAINTEXT" }, principal, authenticated: true },
    // HTTP answers are written by Bun.serve: there is no write queue to wait for, and nothing to mute.
    waitForWriteRoom: () => null,
    mute: () => undefined,
  };
}
