/** Version ranges ("0+", "3-7", "5", "none") and the `v` conditions generated from them. */

/** Inclusive version range; empty when lo > hi; hi may be Infinity ("N+"). */
export interface Range {
  readonly lo: number;
  readonly hi: number;
}

export const NONE: Range = { lo: 1, hi: 0 };
export const ALL: Range = { lo: 0, hi: Infinity };

export function parseRange(spec: string | undefined, what: string): Range {
  if (spec === undefined || spec === "none") return NONE;
  const s = spec.trim();
  let m = /^(\d+)\+$/.exec(s);
  if (m) return { lo: Number(m[1]), hi: Infinity };
  m = /^(\d+)-(\d+)$/.exec(s);
  if (m) return { lo: Number(m[1]), hi: Number(m[2]) };
  m = /^(\d+)$/.exec(s);
  if (m) return { lo: Number(m[1]), hi: Number(m[1]) };
  throw new Error(`${what}: bad version range ${JSON.stringify(spec)}`);
}

export function isEmpty(r: Range): boolean {
  return r.lo > r.hi;
}

export function intersect(a: Range, b: Range): Range {
  const r = { lo: Math.max(a.lo, b.lo), hi: Math.min(a.hi, b.hi) };
  return isEmpty(r) ? NONE : r;
}

/** Does `outer` contain every version of `inner`? (An empty inner is contained.) */
export function covers(outer: Range, inner: Range): boolean {
  return isEmpty(inner) || (outer.lo <= inner.lo && outer.hi >= inner.hi);
}

/** a minus an open-ended b ("N+"), which is all tagged versions can be. */
export function subtractOpenEnded(a: Range, b: Range): Range {
  if (isEmpty(b)) return a;
  if (b.hi !== Infinity) throw new Error(`expected an open-ended range, got ${formatRange(b)}`);
  return isEmpty(a) ? NONE : intersect(a, { lo: a.lo, hi: b.lo - 1 });
}

export function formatRange(r: Range): string {
  if (isEmpty(r)) return "none";
  if (r.hi === Infinity) return `${r.lo}+`;
  if (r.lo === r.hi) return `${r.lo}`;
  return `${r.lo}-${r.hi}`;
}

/**
 * A JS condition on `v` that is true exactly for the versions of `set`, knowing
 * that v is already within `ctx`. Returns "true"/"false" when that is constant.
 */
export function versionCondition(set: Range, ctx: Range, v = "v"): string {
  const r = intersect(set, ctx);
  if (isEmpty(r)) return "false";
  const needLo = r.lo > ctx.lo;
  const needHi = r.hi < ctx.hi;
  if (needLo && needHi) return r.lo === r.hi ? `${v} === ${r.lo}` : `${v} >= ${r.lo} && ${v} <= ${r.hi}`;
  if (needLo) return `${v} >= ${r.lo}`;
  if (needHi) return `${v} <= ${r.hi}`;
  return "true";
}
