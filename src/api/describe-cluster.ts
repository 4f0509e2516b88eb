// DescribeCluster (KIP-700): cluster id, controller and brokers, as admin clients list them.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { DescribeClusterResponse } from "../protocol/generated/describe-cluster.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { endpointFor } from "../metadata/types.ts";
import { AclOperation, canCluster } from "./authorize.ts";

export const describeClusterHandler = defineHandler(Apis.DescribeCluster, {
  minVersion: 0,
  maxVersion: 1,
  handle(context): Reply<DescribeClusterResponse> {
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
