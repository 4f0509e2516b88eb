// Subscription regexes (KIP-848): Kafka compiles them with RE2/J and matches whole topic names. JavaScript's
// RegExp is a backtracking engine with a different syntax, so only a common subset is accepted, and what
// RE2/J would refuse or what could make a backtracking engine run for ever is refused here:
//   - lookahead/lookbehind ((?=, (?!, (?<=, (?<!), backreferences (\1, \k<name>), atomic groups (?>,
//     possessive quantifiers (a*+): RE2/J has none of them;
//   - inline flags and named groups ((?i), (?P<name>...), (?<name>...)): the two engines spell them differently;
//   - a quantifier on a group that itself contains a quantifier or an alternation ((a+)+, (a|ab)*): RE2
//     runs them in linear time, a backtracking engine in exponential time; Bunka refuses them (fail closed).
// What is left ((orders|payments)-.*, topic-[0-9]+, \d, character classes, anchors) means the same in both.
export type RegexCheck = { ok: true; regex: RegExp } | { ok: false; message: string };

export function compileSubscriptionRegex(pattern: string, maxLength: number): RegexCheck {
  if (pattern.length === 0) return { ok: false, message: "the subscription regex is empty" };
  if (pattern.length > maxLength) return { ok: false, message: `the subscription regex is longer than group.consumer.max.regex.length (${maxLength})` };
  const refused = refusedConstruct(pattern);
  if (refused) return { ok: false, message: `the subscription regex uses ${refused}, which is not in the RE2/J subset Bunka accepts` };
  try {
    // Whole-name match, as RE2/J's matches(); the u flag makes invalid escapes errors, as in RE2.
    return { ok: true, regex: new RegExp(`^(?:${pattern})$`, "u") };
  } catch (error) {
    return { ok: false, message: `the subscription regex does not compile: ${(error as Error).message}` };
  }
}

/** The first construct outside the accepted subset, described, or null. */
function refusedConstruct(pattern: string): string | null {
  // Per open group: whether it contains a quantifier or an alternation so far.
  const groups: { risky: boolean }[] = [];
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\") {
      const next = pattern[i + 1] ?? "";
      if (!inClass && /[1-9]/.test(next)) return "a backreference";
      if (!inClass && next === "k") return "a named backreference";
      i++;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "[") {
      inClass = true;
      if (pattern[i + 1] === "]") i++; // "[]...]": a literal ] first
      continue;
    }
    if (c === "(") {
      if (pattern[i + 1] === "?") {
        const rest = pattern.slice(i + 2);
        if (rest.startsWith("=") || rest.startsWith("!")) return "a lookahead";
        if (rest.startsWith("<=") || rest.startsWith("<!")) return "a lookbehind";
        if (rest.startsWith(">")) return "an atomic group";
        if (!rest.startsWith(":")) return "inline flags or a named group";
        i += 2;
      }
      groups.push({ risky: false });
      continue;
    }
    if (c === "|") {
      if (groups.length > 0) groups[groups.length - 1]!.risky = true;
      continue;
    }
    if (c === ")") {
      const group = groups.pop();
      if (!group) return "an unbalanced parenthesis";
      const quantified = /[*+?{]/.test(pattern[i + 1] ?? "");
      if (quantified && group.risky) return "a quantified group containing a quantifier or an alternation";
      // The enclosing group now contains whatever this one did, and a quantifier if this one is quantified.
      if (groups.length > 0 && (group.risky || quantified)) groups[groups.length - 1]!.risky = true;
      continue;
    }
    if (c === "*" || c === "+" || c === "?" || c === "{") {
      const next = pattern[c === "{" ? pattern.indexOf("}", i) + 1 : i + 1];
      if (next === "+" && pattern[i - 1] !== "\\") return "a possessive quantifier";
      if (groups.length > 0) groups[groups.length - 1]!.risky = true;
    }
  }
  return null;
}
