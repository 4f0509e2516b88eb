// `bun run broker`: the same as `bunka broker` (src/cli/broker.ts).
import { runBroker } from "./cli/broker.ts";

await runBroker(process.argv.slice(2), { command: "bun run broker" });
