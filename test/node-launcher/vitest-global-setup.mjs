// One broker for the whole Vitest run: started before any test file, stopped after the last.
import { startSharedBroker } from "bunka/node";

export default async function setup({ provide }) {
  const broker = await startSharedBroker({ properties: { "group.initial.rebalance.delay.ms": 0 } });
  provide("bootstrapServers", broker.bootstrapServers);
  return () => broker.stop();
}
