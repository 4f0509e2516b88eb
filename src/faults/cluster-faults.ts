// Faults on a whole embedded cluster (src/testing/cluster.ts): one spec armed on the brokers it concerns.
// A request fault, pause, refuse-connections, partition-offline or close-connections goes to every running
// broker (a count is then per broker) unless `broker` names one; cut-replication to each broker it lists;
// move-leader happens once. A killed or restarted broker starts with no faults.
import type { FaultInjector } from "./fault-injector.ts";
import { validateFaultSpec, type ArmedFault, type FaultSpec } from "./fault-spec.ts";

export interface ClusterFault {
  /** The cluster-level id clear(id) takes. */
  id: number;
  spec: FaultSpec;
  /** The fault armed on each broker: its node id and the broker's own fault id. */
  brokers: { nodeId: number; id: number }[];
}

export class ClusterFaults {
  private readonly added = new Map<number, ClusterFault>();
  private nextId = 1;

  constructor(private readonly running: () => Map<number, FaultInjector>) {}

  async add(input: FaultSpec, options: { broker?: number } = {}): Promise<ClusterFault> {
    const { spec } = validateFaultSpec(input);
    const injectors = this.running();
    let targets: number[];
    if (options.broker !== undefined) targets = [options.broker];
    else if (spec.type === "move-leader") targets = [[...injectors.keys()][0]!];
    else if (spec.type === "cut-replication") targets = spec.brokers.filter((nodeId) => injectors.has(nodeId));
    else targets = [...injectors.keys()];
    const fault: ClusterFault = { id: this.nextId++, spec, brokers: [] };
    try {
      for (const nodeId of targets) {
        const injector = injectors.get(nodeId);
        if (!injector) throw new Error(`broker ${nodeId} is not running`);
        fault.brokers.push({ nodeId, id: (await injector.add(spec)).id });
      }
    } catch (error) {
      this.clearOne(fault);
      throw error;
    }
    this.added.set(fault.id, fault);
    return fault;
  }

  /** Every armed fault on every running broker. */
  list(): (ArmedFault & { nodeId: number })[] {
    return [...this.running()].flatMap(([nodeId, injector]) => injector.list().map((fault) => ({ nodeId, ...fault })));
  }

  /** Clears one cluster fault by its id, or every fault on every running broker; answers how many broker faults went. */
  clear(id?: number): number {
    if (id === undefined) {
      this.added.clear();
      return [...this.running().values()].reduce((sum, injector) => sum + injector.clear(), 0);
    }
    const fault = this.added.get(id);
    if (!fault) return 0;
    this.added.delete(id);
    return this.clearOne(fault);
  }

  private clearOne(fault: ClusterFault): number {
    const injectors = this.running();
    return fault.brokers.reduce((sum, { nodeId, id }) => sum + (injectors.get(nodeId)?.clear(id) ?? 0), 0);
  }
}
