// SASL PLAIN (RFC 4616; Kafka's PlainSaslServer): one token, "authzid NUL authcid NUL passwd". The
// password is compared with the configured one in constant time (both hashed first, so lengths match).
import { createHash, timingSafeEqual } from "node:crypto";
import { type SaslServerExchange, type SaslStep, SaslAuthenticationError } from "./mechanism.ts";

const textDecoder = new TextDecoder("utf-8", { fatal: true });

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

export class PlainServerExchange implements SaslServerExchange {
  readonly mechanism = "PLAIN" as const;
  private used = false;
  claimedUser?: string;

  /** `passwordOf` answers the configured password of a user, or undefined for an unknown one. */
  constructor(private readonly passwordOf: (user: string) => string | undefined) {}

  evaluate(token: Uint8Array): SaslStep {
    if (this.used) throw new SaslAuthenticationError("PLAIN takes exactly one token");
    this.used = true;
    let text: string;
    try {
      text = textDecoder.decode(token);
    } catch {
      throw new SaslAuthenticationError("PLAIN token is not UTF-8");
    }
    const parts = text.split("\u0000");
    if (parts.length !== 3) throw new SaslAuthenticationError("Invalid SASL/PLAIN response: expected 3 tokens");
    const [authorizationId, user, password] = parts as [string, string, string];
    if (user === "") throw new SaslAuthenticationError("Authentication failed: username not specified");
    this.claimedUser = user;
    if (authorizationId !== "" && authorizationId !== user) throw new SaslAuthenticationError("Authentication failed: Client requested an authorization id that is different from username");
    const expected = this.passwordOf(user);
    // Compare even for an unknown user, so both paths cost the same.
    const matches = timingSafeEqual(digest(password), digest(expected ?? `\u0000${password}`));
    if (expected === undefined || !matches) throw new SaslAuthenticationError("Authentication failed: Invalid username or password");
    return { done: true, user, response: new Uint8Array(0) };
  }
}
