// The import rules of docs/ARCHITECTURE.md, checked on the source tree itself: handlers (api/) and the group
// coordinator (group/) receive narrow capabilities and never reach into server/ (the wiring), and no two
// modules depend on each other in a circle, type-only imports included (generated codecs excepted: they are
// reproduced by the generator, not edited). A failure names the offending import or the whole chain.
import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const SRC = join(ROOT, "src");
const GENERATED = "src/protocol/generated/";
/** Bounds the walk: the tree has a few hundred files; a runaway symlink loop must not hang the test. */
const SOURCE_FILES_MAX = 5_000;

/** `import ... from "x"`, `import "x"`, `export ... from "x"`, `import("x")`: the specifier of every static or dynamic import. */
const IMPORT_PATTERN = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^"';]*?\s+from\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

function sourceFiles(): string[] {
  const files: string[] = [];
  const pending = [SRC];
  while (pending.length > 0) {
    if (files.length > SOURCE_FILES_MAX) throw new Error(`more than ${SOURCE_FILES_MAX} files under src/`);
    const dir = pending.pop()!;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) pending.push(path);
      else if (name.endsWith(".ts")) files.push(relative(ROOT, path));
    }
  }
  return files.sort();
}

/** Each file's imports of other files under src/, as repository-relative paths. */
function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), "utf8");
    const targets: string[] = [];
    for (const match of text.matchAll(IMPORT_PATTERN)) {
      const specifier = match[1] ?? match[2]!;
      if (!specifier.startsWith(".")) continue;
      const target = relative(ROOT, resolve(dirname(join(ROOT, file)), specifier));
      if (!existsSync(join(ROOT, target))) throw new Error(`${file} imports ${specifier}, which does not exist`);
      targets.push(target);
    }
    graph.set(file, targets);
  }
  return graph;
}

/** Tarjan's strongly connected components: every component of more than one file (or a self-import) is a cycle. */
function cycles(graph: Map<string, string[]>): string[][] {
  let nextIndex = 0;
  const index = new Map<string, number>();
  const lowLink = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (file: string) => {
    index.set(file, nextIndex);
    lowLink.set(file, nextIndex);
    nextIndex++;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        visit(target);
        lowLink.set(file, Math.min(lowLink.get(file)!, lowLink.get(target)!));
      } else if (onStack.has(target)) {
        lowLink.set(file, Math.min(lowLink.get(file)!, index.get(target)!));
      }
    }
    if (lowLink.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || (graph.get(file) ?? []).includes(file)) components.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return components;
}

/** One concrete loop inside a component (breadth-first from its first file back to itself), for the message. */
function chainIn(component: string[], graph: Map<string, string[]>): string[] {
  const members = new Set(component);
  const start = component[0]!;
  const previous = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const file = queue[head]!;
    for (const target of graph.get(file) ?? []) {
      if (!members.has(target)) continue;
      if (target === start) {
        const chain = [start];
        for (let at: string | undefined = file; at !== undefined && at !== start; at = previous.get(at)) chain.unshift(at);
        chain.unshift(start);
        return chain;
      }
      if (!previous.has(target)) {
        previous.set(target, file);
        queue.push(target);
      }
    }
  }
  return component;
}

const graph = importGraph(sourceFiles());

test("no file under src/api/ or src/group/ imports from src/server/", () => {
  const offending: string[] = [];
  for (const [file, targets] of graph) {
    if (!file.startsWith("src/api/") && !file.startsWith("src/group/")) continue;
    for (const target of targets) if (target.startsWith("src/server/")) offending.push(`${file} -> ${target}`);
  }
  expect(offending).toEqual([]);
});

test("the import graph has no cycles outside src/protocol/generated/", () => {
  const outside = new Map([...graph].filter(([file]) => !file.startsWith(GENERATED)).map(([file, targets]) => [file, targets.filter((target) => !target.startsWith(GENERATED))]));
  const found = cycles(outside).map((component) => `${chainIn(component, outside).join(" -> ")} (one loop of ${component.length} files that import each other: ${component.join(", ")})`);
  expect(found).toEqual([]);
});

test("the checker sees imports, type-only imports and re-exports, and finds a planted cycle", () => {
  // The rules above pass trivially if the pattern matched nothing: check it against the forms in use.
  const forms = [`import { a } from "./a.ts";`, `import type { B } from "./b.ts";`, `export { c } from "./c.ts";`, `export * from "./d.ts";`, `import "./e.ts";`, `const f = await import("./f.ts");`, `import {\n  g,\n  type H,\n} from "./g.ts";`];
  const specifiers = forms.flatMap((form) => [...`\n${form}`.matchAll(IMPORT_PATTERN)].map((match) => match[1] ?? match[2]));
  expect(specifiers).toEqual(["./a.ts", "./b.ts", "./c.ts", "./d.ts", "./e.ts", "./f.ts", "./g.ts"]);
  const planted = new Map([["x", ["y"]], ["y", ["z"]], ["z", ["x"]], ["w", ["x"]]]);
  expect(cycles(planted).map((component) => chainIn(component, planted))).toEqual([["x", "y", "z", "x"]]);
  expect(graph.get("src/server/broker.ts")?.length ?? 0).toBeGreaterThan(5);
});
