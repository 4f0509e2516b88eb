// The broker's etcd client options from its settings (src/config/broker-config.ts, section "cluster"): TLS
// material read from the named files and etcd's user/password. Everything is checked when the options are
// made, at start: a file that cannot be read or holds no PEM, half a client certificate, a user without a
// password, or TLS settings with an http endpoint is an error naming the setting (docs/etcd.md "Securing etcd").
import { readFileSync } from "node:fs";
import type { BrokerConfig } from "../../config/broker-config.ts";
import type { EtcdClientOptions } from "./client.ts";
import type { EtcdCredentials, EtcdTls } from "./gateway-transport.ts";

export const ETCD_SECURITY_SETTINGS = {
  ca: "etcd.ssl.ca.location",
  certificate: "etcd.ssl.certificate.location",
  key: "etcd.ssl.key.location",
  username: "etcd.username",
  password: "etcd.password",
  passwordFile: "etcd.password.file",
} as const;

/** Bound on a certificate, key or password file: PEM bundles are kilobytes; a huge file is a mistake. */
const SECURITY_FILE_BYTES_MAX = 1024 * 1024;

export function etcdClientOptions(config: Pick<BrokerConfig, "etcdEndpoints" | "properties">, log?: (line: string) => void): EtcdClientOptions {
  return { endpoints: config.etcdEndpoints, ...etcdSecurity(config.etcdEndpoints, config.properties), log };
}

export function etcdSecurity(endpoints: readonly string[], properties: Record<string, string>): { tls?: EtcdTls; credentials?: EtcdCredentials } {
  const names = ETCD_SECURITY_SETTINGS;
  const given = (name: string): string | undefined => {
    const value = properties[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const result: { tls?: EtcdTls; credentials?: EtcdCredentials } = {};

  const caPath = given(names.ca);
  const certificatePath = given(names.certificate);
  const keyPath = given(names.key);
  if ((certificatePath === undefined) !== (keyPath === undefined)) {
    throw new Error(`${certificatePath === undefined ? names.key : names.certificate} is set without ${certificatePath === undefined ? names.certificate : names.key}: a client certificate needs both`);
  }
  if (caPath !== undefined || certificatePath !== undefined) {
    const plain = endpoints.find((endpoint) => !endpoint.startsWith("https://"));
    if (plain !== undefined) throw new Error(`${caPath !== undefined ? names.ca : names.certificate} is set but etcd endpoint ${plain} is not https:// (TLS to etcd needs https endpoints)`);
    const tls: EtcdTls = {};
    if (caPath !== undefined) tls.ca = readPem(names.ca, caPath, "CERTIFICATE");
    if (certificatePath !== undefined && keyPath !== undefined) {
      tls.cert = readPem(names.certificate, certificatePath, "CERTIFICATE");
      tls.key = readPem(names.key, keyPath, "PRIVATE KEY");
    }
    result.tls = tls;
  }

  const username = given(names.username);
  const password = properties[names.password];
  const passwordFile = given(names.passwordFile);
  if (password !== undefined && passwordFile !== undefined) throw new Error(`${names.password} and ${names.passwordFile} are both set: give one`);
  if (username === undefined && (password !== undefined || passwordFile !== undefined)) {
    throw new Error(`${password !== undefined ? names.password : names.passwordFile} is set without ${names.username}`);
  }
  if (username !== undefined) {
    if (password === undefined && passwordFile === undefined) throw new Error(`${names.username} is set without ${names.password} or ${names.passwordFile}`);
    // One trailing newline is how editors and `echo` end a file, not part of the password.
    const secret = password ?? readText(names.passwordFile, passwordFile!).replace(/\r?\n$/, "");
    if (secret.length === 0) throw new Error(`${password !== undefined ? names.password : `${names.passwordFile} (${passwordFile})`} is empty`);
    result.credentials = { username, password: secret };
  }
  return result;
}

function readText(setting: string, path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new Error(`${setting}: cannot read ${path}: ${(error as Error).message}`);
  }
  if (bytes.length > SECURITY_FILE_BYTES_MAX) throw new Error(`${setting}: ${path} is larger than ${SECURITY_FILE_BYTES_MAX} bytes`);
  return bytes.toString("utf8");
}

function readPem(setting: string, path: string, kind: "CERTIFICATE" | "PRIVATE KEY"): string {
  const text = readText(setting, path);
  // "PRIVATE KEY" also matches "RSA PRIVATE KEY" and "EC PRIVATE KEY".
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(text)) throw new Error(`${setting}: ${path} holds no PEM ${kind.toLowerCase()}`);
  return text;
}
