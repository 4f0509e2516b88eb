// Programmer errors crash (docs/ARCHITECTURE.md): an assertion names the broken invariant and throws. It costs
// one branch when it holds, so it may sit on the hot path; build the message only on failure.

export class AssertionError extends Error {
  override name = "AssertionError";
}

/** Throws an AssertionError when `condition` is false. One condition per call, so a failure says which. */
export function assert(condition: boolean, message: string | (() => string) = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(typeof message === "string" ? message : message());
}
