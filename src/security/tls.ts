// TLS for SSL and SASL_SSL listeners, with Kafka's PEM settings: the key and chain from ssl.keystore.location
// (one PEM file holding both) or inline (ssl.keystore.certificate.chain + ssl.keystore.key), CA certificates
// for client certificates from ssl.truststore.location or ssl.truststore.certificates, ssl.client.auth, and the
// principal from the client certificate's subject through ssl.principal.mapping.rules. Every key may be given
// for one listener as `listener.name.<name>.<key>`. Loaded and checked at start: a missing or unreadable file,
// a key that does not match its certificate, or an unknown value is an error naming the listener.
import { readFileSync } from "node:fs";
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { BrokerConfig } from "../config/broker-config.ts";
import type { ListenerIdentity } from "./principal.ts";

export type SslClientAuth = "required" | "requested" | "none";

/** What Bun.listen's `tls` takes, plus what the handshake check needs. */
export interface ListenerTls {
  readonly options: { cert: string; key: string; passphrase?: string; ca?: string; requestCert: boolean; rejectUnauthorized: boolean };
  readonly clientAuth: SslClientAuth;
  readonly principalRules: readonly PrincipalRule[];
}

/** A setting for one listener: `listener.name.<name>.<key>` (Kafka lower-cases the name there), else `<key>`. */
export function listenerProperty(config: Pick<BrokerConfig, "properties">, listenerName: string, key: string): string | undefined {
  const properties = config.properties;
  return properties[`listener.name.${listenerName.toLowerCase()}.${key}`] ?? properties[`listener.name.${listenerName}.${key}`] ?? properties[key];
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g;

function pemBlocks(text: string): { label: string; pem: string }[] {
  return [...text.matchAll(PEM_BLOCK)].map((match) => ({ label: match[1]!, pem: match[0] }));
}

/** Inline PEM in a one-line property may spell its line breaks as `\n`. */
function inlinePem(value: string): string {
  return value.includes("\\n") ? value.replaceAll("\\n", "\n") : value;
}

function readPemFile(listener: string, key: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`config: listener ${listener}: cannot read ${key} ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Loads and checks the TLS material of one SSL or SASL_SSL listener; throws naming the listener. */
export function loadListenerTls(config: Pick<BrokerConfig, "properties">, listener: ListenerIdentity): ListenerTls {
  const name = listener.name;
  const get = (key: string) => {
    const value = listenerProperty(config, name, key);
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  };
  for (const key of ["ssl.keystore.type", "ssl.truststore.type"]) {
    const type = get(key) ?? "PEM";
    if (type.toUpperCase() !== "PEM") throw new Error(`config: listener ${name}: ${key}=${type} is not supported (Bunka reads PEM only: set ${key}=PEM)`);
  }

  let keyPem: string;
  let chainPem: string;
  const location = get("ssl.keystore.location");
  const inlineChain = get("ssl.keystore.certificate.chain");
  const inlineKey = get("ssl.keystore.key");
  if (inlineChain !== undefined || inlineKey !== undefined) {
    if (inlineChain === undefined || inlineKey === undefined) throw new Error(`config: listener ${name}: ssl.keystore.certificate.chain and ssl.keystore.key go together (one is missing)`);
    chainPem = inlinePem(inlineChain);
    keyPem = inlinePem(inlineKey);
  } else if (location !== undefined) {
    const blocks = pemBlocks(readPemFile(name, "ssl.keystore.location", location));
    keyPem = blocks.filter((block) => block.label.endsWith("PRIVATE KEY")).map((block) => block.pem).join("\n");
    chainPem = blocks.filter((block) => block.label === "CERTIFICATE").map((block) => block.pem).join("\n");
    if (!keyPem) throw new Error(`config: listener ${name}: ssl.keystore.location ${location} has no private key (it must hold the key and the certificate chain, PEM)`);
  } else {
    throw new Error(`config: listener ${name} is ${listener.securityProtocol} but has no keystore: set ssl.keystore.location (a PEM file with key and certificate chain) or ssl.keystore.certificate.chain and ssl.keystore.key`);
  }
  const passphrase = get("ssl.key.password");
  checkKeyPair(name, chainPem, keyPem, passphrase);

  const clientAuth = (get("ssl.client.auth") ?? "none").toLowerCase();
  if (clientAuth !== "required" && clientAuth !== "requested" && clientAuth !== "none") {
    throw new Error(`config: listener ${name}: ssl.client.auth must be required, requested or none, got "${clientAuth}"`);
  }
  const trustLocation = get("ssl.truststore.location");
  const trustInline = get("ssl.truststore.certificates");
  const trustPem = trustInline !== undefined ? inlinePem(trustInline) : trustLocation !== undefined ? readPemFile(name, "ssl.truststore.location", trustLocation) : undefined;
  let ca: string | undefined;
  if (trustPem !== undefined) {
    const certificates = pemBlocks(trustPem).filter((block) => block.label === "CERTIFICATE");
    if (certificates.length === 0) throw new Error(`config: listener ${name}: the trust store (${trustLocation ?? "ssl.truststore.certificates"}) has no certificate`);
    for (const certificate of certificates) parseCertificate(name, "trust store", certificate.pem);
    ca = certificates.map((certificate) => certificate.pem).join("\n");
  }
  // Fail closed: asking for client certificates with nothing to check them against would accept none or any.
  if (clientAuth !== "none" && ca === undefined) {
    throw new Error(`config: listener ${name}: ssl.client.auth=${clientAuth} needs a trust store (ssl.truststore.location or ssl.truststore.certificates)`);
  }
  const principalRules = parsePrincipalMappingRules(get("ssl.principal.mapping.rules") ?? "DEFAULT", name);
  return {
    options: { cert: chainPem, key: keyPem, ...(passphrase ? { passphrase } : {}), ...(ca ? { ca } : {}), requestCert: clientAuth !== "none", rejectUnauthorized: clientAuth === "required" },
    clientAuth,
    principalRules,
  };
}

function parseCertificate(listener: string, what: string, pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new Error(`config: listener ${listener}: the ${what} holds a certificate that cannot be parsed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The chain's first certificate must be the key's: a mismatch would only show at the first handshake. */
function checkKeyPair(listener: string, chainPem: string, keyPem: string, passphrase: string | undefined): void {
  const chain = pemBlocks(chainPem).filter((block) => block.label === "CERTIFICATE");
  if (chain.length === 0) throw new Error(`config: listener ${listener}: the keystore has no certificate`);
  const leaf = parseCertificate(listener, "keystore", chain[0]!.pem);
  for (const certificate of chain.slice(1)) parseCertificate(listener, "keystore", certificate.pem);
  let privateKey;
  try {
    privateKey = createPrivateKey(passphrase ? { key: keyPem, passphrase } : keyPem);
  } catch (error) {
    throw new Error(`config: listener ${listener}: the keystore's private key cannot be read${passphrase ? "" : " (encrypted? set ssl.key.password)"}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new Error(`config: listener ${listener}: the keystore's private key does not belong to its first certificate (${leaf.subject.replaceAll("\n", ", ")})`);
}

// --- Principals from certificates -------------------------------------------------------------------------

/** One entry of ssl.principal.mapping.rules (Kafka's SslPrincipalMapper). */
export type PrincipalRule = { kind: "default" } | { kind: "rule"; pattern: RegExp; replacement: string; toCase: "" | "L" | "U" };

/**
 * Kafka's syntax: comma-separated `DEFAULT` or `RULE:pattern/replacement/` with an optional `L`/`U` (lower or
 * upper case); `\/` and `\,`-free patterns as Kafka parses them. A pattern must match the whole subject.
 */
export function parsePrincipalMappingRules(text: string, listener = ""): PrincipalRule[] {
  const rules: PrincipalRule[] = [];
  const splitter = /\s*(?:(DEFAULT)|RULE:((?:\\.|[^\\/])*)\/((?:\\.|[^\\/])*)\/([LU]?)|([^,]*?))\s*(?:,|$)/gy;
  let position = 0;
  for (let guard = 0; position < text.length && guard <= text.length; guard++) {
    splitter.lastIndex = position;
    const match = splitter.exec(text);
    if (!match || match[0].length === 0) break;
    position = splitter.lastIndex;
    if (match[1]) rules.push({ kind: "default" });
    else if (match[2] !== undefined) {
      let pattern: RegExp;
      try {
        pattern = new RegExp(`^(?:${match[2]})$`);
      } catch (error) {
        throw new Error(`config: ${listener ? `listener ${listener}: ` : ""}ssl.principal.mapping.rules: bad pattern "${match[2]}": ${error instanceof Error ? error.message : String(error)}`);
      }
      rules.push({ kind: "rule", pattern, replacement: match[3]!.replaceAll("\\/", "/"), toCase: (match[4] ?? "") as "" | "L" | "U" });
    } else if (match[5]) {
      throw new Error(`config: ${listener ? `listener ${listener}: ` : ""}ssl.principal.mapping.rules: invalid rule "${match[5]}" (expected DEFAULT or RULE:pattern/replacement/[LU])`);
    }
  }
  if (rules.length === 0) throw new Error(`config: ${listener ? `listener ${listener}: ` : ""}ssl.principal.mapping.rules is empty (use DEFAULT)`);
  return rules;
}

/** The principal name for a subject (RFC 2253), by the first rule that matches; null when none does. */
export function mapPrincipalName(subject: string, rules: readonly PrincipalRule[]): string | null {
  for (const rule of rules) {
    if (rule.kind === "default") return subject;
    if (!rule.pattern.test(subject)) continue;
    const name = subject.replace(rule.pattern, rule.replacement);
    return rule.toCase === "L" ? name.toLowerCase() : rule.toCase === "U" ? name.toUpperCase() : name;
  }
  return null;
}

/**
 * A certificate subject as Java's X500Principal.getName(RFC2253) writes it, which is what Kafka's principal
 * builder maps: most specific RDN first ("CN=alice,OU=eng,O=Example"). Node/Bun give the subject one RDN a
 * line, in certificate order, already escaped as RFC 2253 asks; multi-valued RDNs are joined by " + ".
 * (Attributes Java has no keyword for, such as emailAddress, Java writes as OID=#hex: not reproduced.)
 */
export function rfc2253Subject(multilineSubject: string): string {
  return multilineSubject
    .split("\n")
    .filter((line) => line.length > 0)
    .reverse()
    .map((rdn) => rdn.replaceAll(" + ", "+"))
    .join(",");
}

/** "User:" + the mapped subject of a client certificate, or null when no mapping rule applies. */
export function principalFromCertificate(certificate: Pick<X509Certificate, "subject">, rules: readonly PrincipalRule[]): string | null {
  const name = mapPrincipalName(rfc2253Subject(certificate.subject), rules);
  return name === null ? null : `User:${name}`;
}
