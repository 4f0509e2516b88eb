// DescribeCluster (KIP-700): cluster id, controller and brokers, as admin clients list them.
// Versions: v1 the endpoint type (KIP-919): brokers (1) are listed; a request for controllers (2) is
// MISMATCHED_ENDPOINT_TYPE (Bunka has no controller listeners, as a Kafka broker endpoint answers), any other
// type UNSUPPORTED_ENDPOINT_TYPE.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { DescribeClusterResponse } from "../protocol/generated/describe-cluster.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { endpointFor } from "../metadata/types.ts";
import { AclOperation, canCluster } from "./authorize.ts";

const ENDPOINT_TYPE_BROKER = 1;
const ENDPOINT_TYPE_CONTROLLER = 2;

export const describeClusterHandler = defineHandler(Apis.DescribeCluster, {
  minVersion: 0,
  maxVersion: 1,
  handle(context, request): Reply<DescribeClusterResponse> {
    if (request.endpointType !== ENDPOINT_TYPE_BROKER) {
      const controllers = request.endpointType === ENDPOINT_TYPE_CONTROLLER;
      return {
        throttleTimeMs: 0,
        errorCode: controllers ? ErrorCode.MISMATCHED_ENDPOINT_TYPE : ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
        errorMessage: controllers ? "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER" : `Unsupported endpoint type ${request.endpointType}`,
        endpointType: ENDPOINT_TYPE_BROKER,
        clusterId: context.settings.config.clusterId,
        controllerId: -1,
        brokers: [],
      };
    }
    if (!canCluster(context, AclOperation.DESCRIBE)) return { throttleTimeMs: 0, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: "Authorization failed.", clusterId: context.settings.config.clusterId, controllerId: -1, brokers: [] };
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      endpointType: 1,
      clusterId: context.settings.config.clusterId,
      controllerId: context.cluster.controllerId(),
      brokers: context.cluster.brokers().flatMap((info) => {
        const endpoint = endpointFor(info, context.connection.security.listener.name);
        return endpoint ? [{ brokerId: info.nodeId, host: endpoint.host, port: endpoint.port, rack: info.rack }] : [];
      }),
    };
  },
});
