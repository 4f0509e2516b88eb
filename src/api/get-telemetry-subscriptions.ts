// GetTelemetrySubscriptions v0 (KIP-714): a client asks which metrics to push, how often, compressed how and
// how large at most; one with a zero ClientInstanceId gets a new one. Bunka has one subscription for every
// client, from broker settings (telemetry/client-telemetry.ts).
import { Apis } from "../protocol/generated/index.ts";
import type { GetTelemetrySubscriptionsResponse } from "../protocol/generated/get-telemetry-subscriptions.ts";
import { clientTelemetryFor } from "../telemetry/client-telemetry.ts";
import { defineHandler, type Reply } from "./handler.ts";

export const getTelemetrySubscriptionsHandler = defineHandler(Apis.GetTelemetrySubscriptions, {
  minVersion: 0,
  maxVersion: 0,
  handle(context, request): Reply<GetTelemetrySubscriptionsResponse> {
    return { throttleTimeMs: 0, ...clientTelemetryFor(context.settings.config.properties).subscription(request.clientInstanceId) };
  },
});
