// Single-node mode (no etcd): metadata in a file in the data dir, this broker the only one, always the
// controller and the leader of every partition.
import type { BrokerInfo, ClusterView } from "../metadata/types.ts";
import { LocalMetadataStore } from "../metadata/local-store.ts";
import type { ClusterMembership, MembershipContext } from "./membership.ts";

export class SingleNodeCluster implements ClusterView, ClusterMembership {
  readonly store: LocalMetadataStore;

  constructor(
    readonly nodeId: number,
    dataDir: string,
    private readonly self: () => BrokerInfo,
  ) {
    this.store = new LocalMetadataStore(dataDir);
  }

  get view(): ClusterView {
    return this;
  }

  liveBrokers(): BrokerInfo[] {
    return [this.self()];
  }

  controllerId(): number {
    return this.nodeId;
  }

  async start(context: MembershipContext): Promise<void> {
    await context.topics.load(context.recover);
  }

  async controlledShutdown(): Promise<void> {}

  async stop(): Promise<void> {}
}
