// The repository stands alone: every `docs/<file>.md` that a comment or a document cites exists, and so does
// every section it cites by number next to it (`docs/bun-runtime.md §3.4`, `§3.3, §3.4`); nothing cites a
// notes file kept outside the repository. Read from the source tree itself. A section is a Markdown heading
// that starts with its number (`## 3. Memory maps`, `### 3.4 A file truncated ...`); citations belong to
// the reference on the same line, up to the closing parenthesis, semicolon or end of line.
import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const SCANNED_DIRS = ["src", "test", "bench", "scripts", "docs"];
const SCANNED_EXTENSIONS = [".ts", ".js", ".md", ".c", ".h", ".sh"];
/** Generated or installed code cites nothing of ours. */
const SKIPPED_PATHS = ["src/protocol/generated", "node_modules"];
/** This file spells out the patterns it looks for. */
const SELF = relative(ROOT, import.meta.path);
/** Bounds the walk: the tree has a few hundred files; a runaway symlink loop must not hang the test. */
const SCANNED_FILES_MAX = 5_000;

/** `docs/name.md`, possibly behind `../` or `./`, not as part of a longer path. */
const DOC_REFERENCE = /(?<![\w/-])(?:\.\.?\/)*docs\/([A-Za-z0-9_-]+\.md)/g;
/** `§3`, `§3.4`: the number may not end in a dot (that is the sentence's full stop). */
const SECTION_CITATION = /§\s?(\d+(?:\.\d+)*)/g;
/** A heading that opens with a section number: `## 3. Title`, `### 3.4 Title`. */
const NUMBERED_HEADING = /^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s/;
/** Any path to a `notes/*.md` file: the measured notes the project relies on live in docs/ now. */
const NOTES_REFERENCE = /(?:[\w.-]+\/)*notes\/[\w.-]+\.md/g;

interface Problem {
  file: string;
  line: number;
  problem: string;
}

function scannedFiles(): string[] {
  const files = readdirSync(ROOT).filter((name) => name.endsWith(".md") && statSync(join(ROOT, name)).isFile());
  const pending = SCANNED_DIRS.map((dir) => join(ROOT, dir)).filter((dir) => existsSync(dir));
  while (pending.length > 0) {
    if (files.length > SCANNED_FILES_MAX) throw new Error(`more than ${SCANNED_FILES_MAX} files to scan`);
    const dir = pending.pop()!;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const file = relative(ROOT, path);
      if (SKIPPED_PATHS.some((skipped) => file === skipped || file.startsWith(skipped + sep))) continue;
      if (statSync(path).isDirectory()) pending.push(path);
      else if (SCANNED_EXTENSIONS.some((extension) => name.endsWith(extension)) && file !== SELF) files.push(file);
    }
  }
  return files.sort();
}

const sectionsByDoc = new Map<string, Set<string> | null>();

/** The section numbers of docs/<name>, or null when there is no such file. */
function sectionsOf(name: string): Set<string> | null {
  if (!sectionsByDoc.has(name)) {
    const path = join(ROOT, "docs", name);
    if (!existsSync(path)) sectionsByDoc.set(name, null);
    else {
      const numbers = new Set<string>();
      for (const line of readFileSync(path, "utf8").split("\n")) {
        const match = NUMBERED_HEADING.exec(line);
        if (match) numbers.add(match[1]!);
      }
      sectionsByDoc.set(name, numbers);
    }
  }
  return sectionsByDoc.get(name)!;
}

/** Whether a `notes/` path names a file inside the repository, from the root or from the citing file. */
function notesFileInRepo(file: string, path: string): boolean {
  for (const candidate of [resolve(ROOT, path), resolve(ROOT, dirname(file), path)]) {
    if (candidate.startsWith(ROOT + sep) && existsSync(candidate)) return true;
  }
  return false;
}

/** Every broken reference in one file's text; `counts` tallies what was checked. */
function checkText(file: string, text: string, counts = { references: 0, sections: 0 }): Problem[] {
  const problems: Problem[] = [];
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    const at = (problem: string) => problems.push({ file, line: index + 1, problem });
    for (const match of line.matchAll(NOTES_REFERENCE)) {
      if (!notesFileInRepo(file, match[0])) at(`cites ${match[0]}, which is not in the repository (move what it relies on into docs/)`);
    }
    const references = [...line.matchAll(DOC_REFERENCE)];
    for (const [position, reference] of references.entries()) {
      counts.references++;
      const name = reference[1]!;
      const sections = sectionsOf(name);
      if (sections === null) {
        at(`cites docs/${name}, which does not exist`);
        continue;
      }
      // The citations that follow this reference, before the next one on the line.
      const start = reference.index! + reference[0].length;
      const end = position + 1 < references.length ? references[position + 1]!.index! : line.length;
      const tail = line.slice(start, end).split(/[);]/)[0]!;
      for (const citation of tail.matchAll(SECTION_CITATION)) {
        counts.sections++;
        if (!sections.has(citation[1]!)) at(`cites docs/${name} §${citation[1]}, which has no heading numbered ${citation[1]}`);
      }
    }
  }
  return problems;
}

function format(problems: Problem[]): string {
  return problems.map(({ file, line, problem }) => `${file}:${line}: ${problem}`).join("\n");
}

test("every docs/*.md reference and every cited section exists, and no notes file outside the repo is cited", () => {
  const files = scannedFiles();
  expect(files.length).toBeGreaterThan(100);
  const counts = { references: 0, sections: 0 };
  const problems = files.flatMap((file) => checkText(file, readFileSync(join(ROOT, file), "utf8"), counts));
  expect(format(problems)).toBe("");
  // The scan is not vacuous: the tree cites docs files and numbered sections in many places.
  expect(counts.references).toBeGreaterThan(20);
  expect(counts.sections).toBeGreaterThan(15);
});

test("the checker reports a missing file, a missing section and a notes file, and accepts real citations", () => {
  expect(checkText("src/x.ts", "// see docs/bun-runtime.md §3.4 and docs/kafka-clients.md §4.1, §5.")).toEqual([]);
  expect(checkText("src/x.ts", "// (docs/bun-runtime.md §3.3, §3.4; measured §99 elsewhere)")).toEqual([]);

  const missingFile = checkText("src/x.ts", "// (docs/no-such-file.md §1)");
  expect(format(missingFile)).toBe("src/x.ts:1: cites docs/no-such-file.md, which does not exist");

  const missingSection = checkText("src/x.ts", "\n// (docs/bun-runtime.md §3.4, §3.99)");
  expect(format(missingSection)).toBe("src/x.ts:2: cites docs/bun-runtime.md §3.99, which has no heading numbered 3.99");

  const outside = checkText("src/x.ts", "// measured (../shared/notes/bun-runtime.md 2.5)");
  expect(outside.length).toBe(1);
  expect(outside[0]!.problem).toContain("../shared/notes/bun-runtime.md");
  expect(format(checkText("README.md", "[notes](notes/kafka-clients.md)"))).toContain("not in the repository");
});
