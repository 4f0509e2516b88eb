// `bun run build`: dist/bunka, one executable (bun build --compile) that runs without Bun, Node or
// node_modules. The partition workers are a second entry point: partition-workers.ts starts them with
// new URL("./worker.ts", import.meta.url), which in a compiled binary resolves next to the entry point in
// Bun's embedded file system (/$bunfs/root/). So both entries are small files generated side by side in
// dist/.entries/: bunka.ts (the CLI), worker.ts (the partition worker), shard-thread.ts (a network shard) and
// owner-shard-thread.ts (a partition worker that listens, partition.workers.listen), and the bundle keeps that layout.
// native/sendfile.c is not embedded: the compiled broker uses its TypeScript path (mmap, the default).
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const entries = join(root, "dist/.entries");
const outfile = join(root, "dist/bunka");

rmSync(entries, { recursive: true, force: true });
mkdirSync(entries, { recursive: true });
const importOf = (path: string) => `import ${JSON.stringify(relative(entries, join(root, path)))};\n`;
writeFileSync(join(entries, "bunka.ts"), importOf("src/cli/main.ts"));
writeFileSync(join(entries, "worker.ts"), importOf("src/partition/worker.ts"));
// Network shards (num.network.shards) start the same way: new URL("./shard-thread.ts", import.meta.url).
writeFileSync(join(entries, "shard-thread.ts"), importOf("src/server/shards/shard-thread.ts"));
writeFileSync(join(entries, "owner-shard-thread.ts"), importOf("src/server/shards/owner-shard-thread.ts"));

const startedMs = performance.now();
const build = Bun.spawnSync([process.execPath, "build", "--compile", "--minify-syntax", join(entries, "bunka.ts"), join(entries, "worker.ts"), join(entries, "shard-thread.ts"), join(entries, "owner-shard-thread.ts"), "--outfile", outfile], {
  cwd: root,
  stdout: "inherit",
  stderr: "inherit",
});
rmSync(entries, { recursive: true, force: true });
if (build.exitCode !== 0) {
  console.error(`build: bun build --compile failed (exit ${build.exitCode})`);
  process.exit(1);
}
console.log(`build: ${relative(root, outfile)} in ${((performance.now() - startedMs) / 1000).toFixed(1)} s`);
