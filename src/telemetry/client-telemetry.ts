// Client telemetry (KIP-714): clients ask what to send (GetTelemetrySubscriptions) and push their metrics
// (PushTelemetry, an OTLP MetricsData payload); the broker keeps each client instance's latest numbers and
// shows them on the admin /metrics endpoint as bunka_client_telemetry_* gauges labelled with the client
// instance id. Kafka configures subscriptions as client-metrics resources (kafka-configs --entity-type
// client-metrics); Bunka has one subscription for every client, from broker settings:
//   client.telemetry.metrics            metric name prefixes to ask for ("" none, as Kafka without a
//                                       client-metrics resource; "*" all)
//   client.telemetry.push.interval.ms   how often clients push
//   telemetry.max.bytes                 largest payload, compressed or not (TELEMETRY_TOO_LARGE beyond)
//   client.telemetry.max.client.instances  client instances kept (the least recently pushed one goes first)
//   client.telemetry.max.series         data points kept over all instances (a push's beyond it are dropped,
//                                       then the least recently pushed instances go until the total fits)
// Sums are asked for cumulatively (DeltaTemporality false), so each number is the client's current value.
import { randomUUID } from "node:crypto";
import { ErrorCode } from "../protocol/errors.ts";
import { CompressionType } from "../records/batch.ts";
import { decompressBounded } from "../records/decompression.ts";
import { MESSAGE_TOO_LARGE, RecordsError } from "../records/errors.ts";
import { decodeOtlpMetrics, type OtlpDataPoint } from "./otlp-metrics.ts";

export const TELEMETRY_METRIC_PREFIX = "bunka_client_telemetry_";

/**
 * The name ListClientMetricsResources gives the one subscription (Kafka lists its client-metrics resources):
 * it exists while client.telemetry.metrics asks for something, as a Kafka resource would.
 */
export const SUBSCRIPTION_NAME = "default";

export interface ClientTelemetrySettings {
  requestedMetrics: string[];
  pushIntervalMs: number;
  maxBytes: number;
  maxClientInstances: number;
  maxSeries: number;
}

export function clientTelemetrySettings(properties: Record<string, string | undefined>): ClientTelemetrySettings {
  const metrics = (properties["client.telemetry.metrics"] ?? "").trim();
  return {
    // KIP-714: an empty list subscribes to nothing, a list holding "" to everything.
    requestedMetrics: metrics === "" ? [] : metrics === "*" ? [""] : metrics.split(",").map((prefix) => prefix.trim()).filter((prefix) => prefix.length > 0),
    pushIntervalMs: Number(properties["client.telemetry.push.interval.ms"] ?? 300_000),
    maxBytes: Number(properties["telemetry.max.bytes"] ?? 1_048_576),
    maxClientInstances: Number(properties["client.telemetry.max.client.instances"] ?? 1000),
    maxSeries: Number(properties["client.telemetry.max.series"] ?? 100_000),
  };
}

/**
 * Kafka's preference order (zstd, lz4, gzip, snappy) without lz4: a bounded lz4 decompression counts a 4 MiB
 * block's worth per block (records/decompression.ts), more than telemetry.max.bytes' 1 MiB default, so every
 * lz4 push would be refused. zstd counts 128 KiB per block: telemetry.max.bytes below that refuses zstd pushes.
 */
const ACCEPTED_COMPRESSION_TYPES: number[] = [CompressionType.ZSTD, CompressionType.GZIP, CompressionType.SNAPPY];

interface ClientInstance {
  clientInstanceId: string;
  clientId: string;
  lastPushMs: number;
  points: OtlpDataPoint[];
}

export interface SubscriptionAnswer {
  errorCode: number;
  clientInstanceId: Uint8Array;
  subscriptionId: number;
  acceptedCompressionTypes: number[];
  pushIntervalMs: number;
  telemetryMaxBytes: number;
  deltaTemporality: boolean;
  requestedMetrics: string[];
}

export interface PushParams {
  clientInstanceId: Uint8Array;
  subscriptionId: number;
  terminating: boolean;
  compressionType: number;
  metrics: Uint8Array;
  clientId: string;
}

const isZero = (bytes: Uint8Array) => bytes.every((byte) => byte === 0);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

export class ClientTelemetry {
  /** Insertion order = least recently pushed first (a push moves its instance to the end). */
  private readonly instances = new Map<string, ClientInstance>();
  /** Data points kept over all instances (bounded by client.telemetry.max.series). */
  private seriesCount = 0;
  readonly subscriptionId: number;

  constructor(readonly settings: ClientTelemetrySettings) {
    // The same subscription gets the same id (Kafka hashes the subscription too); a client pushing with
    // another one (a broker restarted with other settings) is told UNKNOWN_SUBSCRIPTION_ID and asks again.
    this.subscriptionId = Bun.hash.crc32(`${settings.requestedMetrics.join(",")}|${settings.pushIntervalMs}`) | 0;
  }

  /** ListClientMetricsResources: the subscription's name, none while no metric is asked for. */
  subscriptionNames(): string[] {
    return this.settings.requestedMetrics.length > 0 ? [SUBSCRIPTION_NAME] : [];
  }

  get instanceCount(): number {
    return this.instances.size;
  }

  subscription(clientInstanceId: Uint8Array): SubscriptionAnswer {
    const id = isZero(clientInstanceId) ? new Uint8Array(Buffer.from(randomUUID().replaceAll("-", ""), "hex")) : new Uint8Array(clientInstanceId);
    return {
      errorCode: ErrorCode.NONE,
      clientInstanceId: id,
      subscriptionId: this.subscriptionId,
      acceptedCompressionTypes: ACCEPTED_COMPRESSION_TYPES,
      pushIntervalMs: this.settings.pushIntervalMs,
      telemetryMaxBytes: this.settings.maxBytes,
      deltaTemporality: false,
      requestedMetrics: this.settings.requestedMetrics,
    };
  }

  /** Kafka's ClientMetricsManager.processPushTelemetryRequest checks, then the payload decoded and kept. */
  push(params: PushParams, nowMs = Date.now()): { errorCode: number; message: string | null } {
    const fail = (errorCode: number, message: string | null) => ({ errorCode, message });
    if (isZero(params.clientInstanceId)) return fail(ErrorCode.INVALID_REQUEST, "ClientInstanceId must not be zero");
    if (params.subscriptionId !== this.subscriptionId) return fail(ErrorCode.UNKNOWN_SUBSCRIPTION_ID, `unknown subscription id ${params.subscriptionId}`);
    if (params.compressionType !== CompressionType.NONE && !ACCEPTED_COMPRESSION_TYPES.includes(params.compressionType)) return fail(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `compression type ${params.compressionType}`);
    if (params.metrics.byteLength > this.settings.maxBytes) return fail(ErrorCode.TELEMETRY_TOO_LARGE, `${params.metrics.byteLength} bytes, telemetry.max.bytes is ${this.settings.maxBytes}`);
    const key = hex(params.clientInstanceId);
    const previous = this.instances.get(key);
    // Kafka refuses a push well before the interval (a client pushing in a loop), except a terminating one.
    if (previous && !params.terminating && nowMs - previous.lastPushMs < this.settings.pushIntervalMs / 2) {
      return fail(ErrorCode.THROTTLING_QUOTA_EXCEEDED, `pushed ${nowMs - previous.lastPushMs} ms after the previous push; the interval is ${this.settings.pushIntervalMs} ms`);
    }
    if (params.metrics.byteLength === 0) return fail(ErrorCode.NONE, null);
    let points: OtlpDataPoint[];
    try {
      const payload = decompressBounded(params.compressionType, params.metrics, this.settings.maxBytes);
      points = decodeOtlpMetrics(payload).points;
    } catch (error) {
      const tooLarge = error instanceof RecordsError && error.errorCode === MESSAGE_TOO_LARGE;
      return fail(tooLarge ? ErrorCode.TELEMETRY_TOO_LARGE : ErrorCode.INVALID_RECORD, `the metrics do not decode: ${(error as Error).message}`);
    }
    if (this.settings.requestedMetrics.length > 0 && !this.settings.requestedMetrics.includes("")) {
      points = points.filter((point) => this.settings.requestedMetrics.some((prefix) => point.name.startsWith(prefix)));
    }
    if (points.length > this.settings.maxSeries) points = points.slice(0, this.settings.maxSeries);
    this.remove(key);
    this.instances.set(key, { clientInstanceId: formatUuid(key), clientId: params.clientId, lastPushMs: nowMs, points });
    this.seriesCount += points.length;
    while (this.instances.size > this.settings.maxClientInstances || this.seriesCount > this.settings.maxSeries) this.remove(this.instances.keys().next().value!);
    return fail(ErrorCode.NONE, null);
  }

  private remove(key: string): void {
    const instance = this.instances.get(key);
    if (!instance) return;
    this.seriesCount -= instance.points.length;
    this.instances.delete(key);
  }

  /** Drops instances silent for three push intervals (gone without a terminating push). */
  private expire(nowMs: number): void {
    for (const [key, instance] of this.instances) if (nowMs - instance.lastPushMs > 3 * this.settings.pushIntervalMs) this.remove(key);
  }

  /** Prometheus/OpenMetrics text lines: one gauge family per metric name, one sample per instance and data point. */
  renderText(nowMs = Date.now()): string {
    this.expire(nowMs);
    const families = new Map<string, { source: string; samples: string[] }>();
    for (const instance of this.instances.values()) {
      for (const point of instance.points) {
        const name = TELEMETRY_METRIC_PREFIX + sanitizeName(point.name);
        let family = families.get(name);
        if (!family) families.set(name, (family = { source: point.name, samples: [] }));
        const labels = [`client_instance_id="${instance.clientInstanceId}"`, `client_id="${escapeLabel(instance.clientId)}"`];
        for (const [attribute, value] of Object.entries(point.attributes)) {
          const label = sanitizeName(attribute);
          if (label === "client_instance_id" || label === "client_id") continue;
          labels.push(`${label}="${escapeLabel(value)}"`);
        }
        family.samples.push(`${name}{${labels.join(",")}} ${formatValue(point.value)}`);
      }
    }
    let out = "";
    for (const [name, family] of families) {
      out += `# HELP ${name} Client telemetry (KIP-714): ${family.source}, as the client last pushed it.\n# TYPE ${name} gauge\n`;
      out += family.samples.join("\n") + "\n";
    }
    return out;
  }
}

function sanitizeName(name: string): string {
  const cleaned = name.replace(/[^a-zA-Z0-9_]/g, "_");
  return /^[0-9]/.test(cleaned) ? `_${cleaned}` : cleaned;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function formatUuid(hexId: string): string {
  return `${hexId.slice(0, 8)}-${hexId.slice(8, 12)}-${hexId.slice(12, 16)}-${hexId.slice(16, 20)}-${hexId.slice(20)}`;
}

/** One store per broker: keyed by the broker's properties object, which its request handlers and admin view share. */
const stores = new WeakMap<object, ClientTelemetry>();

export function clientTelemetryFor(properties: Record<string, string | undefined>): ClientTelemetry {
  let store = stores.get(properties);
  if (!store) stores.set(properties, (store = new ClientTelemetry(clientTelemetrySettings(properties))));
  return store;
}
