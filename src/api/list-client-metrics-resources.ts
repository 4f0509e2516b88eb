// ListClientMetricsResources v0 (KIP-714; kafka-client-metrics.sh --list): the names of the client-metrics
// subscriptions. Kafka lists its client-metrics config resources; Bunka has one subscription for every
// client, from the client.telemetry.* settings (telemetry/client-telemetry.ts), listed while
// client.telemetry.metrics asks for something. DESCRIBE_CONFIGS on CLUSTER, as in Kafka.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { ListClientMetricsResourcesResponse } from "../protocol/generated/list-client-metrics-resources.ts";
import { clientTelemetryFor } from "../telemetry/client-telemetry.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster } from "./authorize.ts";

export const listClientMetricsResourcesHandler = defineHandler(Apis.ListClientMetricsResources, {
  minVersion: 0,
  maxVersion: 0,
  handle(context): Reply<ListClientMetricsResourcesResponse> {
    if (!canCluster(context, AclOperation.DESCRIBE_CONFIGS)) return { throttleTimeMs: 0, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, clientMetricsResources: [] };
    const names = clientTelemetryFor(context.settings.config.properties).subscriptionNames();
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, clientMetricsResources: names.map((name) => ({ name })) };
  },
});
