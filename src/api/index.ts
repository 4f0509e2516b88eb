// The handler table: one entry per API this broker implements. ApiVersions advertises exactly these
// ranges (notes/kafka-clients.md §5: the set every real client negotiated against).
import { apiVersionsHandler } from "./api-versions.ts";
import { createPartitionsHandler } from "./create-partitions.ts";
import { createTopicsHandler } from "./create-topics.ts";
import { deleteTopicsHandler } from "./delete-topics.ts";
import { describeClusterHandler } from "./describe-cluster.ts";
import { describeConfigsHandler } from "./describe-configs.ts";
import { fetchHandler } from "./fetch.ts";
import { findCoordinatorHandler } from "./find-coordinator.ts";
import type { ApiHandler } from "./handler.ts";
import { initProducerIdHandler } from "./init-producer-id.ts";
import { listOffsetsHandler } from "./list-offsets.ts";
import { metadataHandler } from "./metadata.ts";
import { produceHandler } from "./produce.ts";

const all: ApiHandler[] = [
  produceHandler,
  fetchHandler,
  listOffsetsHandler,
  metadataHandler,
  findCoordinatorHandler,
  apiVersionsHandler,
  createTopicsHandler,
  deleteTopicsHandler,
  initProducerIdHandler,
  describeConfigsHandler,
  createPartitionsHandler,
  describeClusterHandler,
];

export const handlers: ReadonlyMap<number, ApiHandler> = new Map(all.map((handler) => [handler.apiKey, handler]));
