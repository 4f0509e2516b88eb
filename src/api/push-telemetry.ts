// PushTelemetry v0 (KIP-714): a client's metrics as an OTLP MetricsData payload, possibly compressed, at most
// telemetry.max.bytes; kept per client instance and shown on the admin /metrics endpoint
// (telemetry/client-telemetry.ts). Errors as Kafka's: UNKNOWN_SUBSCRIPTION_ID, UNSUPPORTED_COMPRESSION_TYPE,
// TELEMETRY_TOO_LARGE, INVALID_RECORD (the payload does not decode), THROTTLING_QUOTA_EXCEEDED (too early).
import { Apis } from "../protocol/generated/index.ts";
import type { PushTelemetryResponse } from "../protocol/generated/push-telemetry.ts";
import { clientTelemetryFor } from "../telemetry/client-telemetry.ts";
import { defineHandler, type Reply } from "./handler.ts";

export const pushTelemetryHandler = defineHandler(Apis.PushTelemetry, {
  minVersion: 0,
  maxVersion: 0,
  handle(context, request): Reply<PushTelemetryResponse> {
    const result = clientTelemetryFor(context.settings.config.properties).push({ ...request, clientId: context.clientId ?? "" });
    return { throttleTimeMs: 0, errorCode: result.errorCode };
  },
});
