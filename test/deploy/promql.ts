/**
 * Test support: enough of PromQL's lexical structure to check an alert's expression without
 * promtool: its brackets balance, the functions it calls exist, and which metric names it reads.
 */

/** PromQL's functions (Prometheus 2.x and 3.x), and the aggregation operators, which are called like them. */
export const PROMQL_FUNCTIONS = new Set([
  "abs",
  "absent",
  "absent_over_time",
  "avg_over_time",
  "ceil",
  "changes",
  "clamp",
  "clamp_max",
  "clamp_min",
  "count_over_time",
  "day_of_month",
  "day_of_week",
  "day_of_year",
  "days_in_month",
  "delta",
  "deriv",
  "exp",
  "floor",
  "histogram_avg",
  "histogram_count",
  "histogram_fraction",
  "histogram_quantile",
  "histogram_stddev",
  "histogram_stdvar",
  "histogram_sum",
  "holt_winters",
  "double_exponential_smoothing",
  "hour",
  "idelta",
  "increase",
  "irate",
  "label_join",
  "label_replace",
  "last_over_time",
  "ln",
  "log10",
  "log2",
  "mad_over_time",
  "max_over_time",
  "min_over_time",
  "minute",
  "month",
  "predict_linear",
  "present_over_time",
  "quantile_over_time",
  "rate",
  "resets",
  "round",
  "scalar",
  "sgn",
  "sort",
  "sort_desc",
  "sort_by_label",
  "sort_by_label_desc",
  "sqrt",
  "stddev_over_time",
  "stdvar_over_time",
  "sum_over_time",
  "time",
  "timestamp",
  "vector",
  "year",
  "sum",
  "min",
  "max",
  "avg",
  "group",
  "stddev",
  "stdvar",
  "count",
  "count_values",
  "bottomk",
  "topk",
  "quantile",
  "limitk",
  "limit_ratio",
]);

/** Words that are operators or modifiers, never metric names. */
const KEYWORDS = new Set(["and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "atan2", "inf", "nan"]);

/** The expression with string literals emptied (their brackets and words are not PromQL's). */
function withoutStrings(expr: string): string {
  return expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
}

/**
 * The first bracket that does not close or closes the wrong one, as a message; undefined when
 * every `(`, `[` and `{` is closed in order.
 */
export function unbalancedBracket(expr: string): string | undefined {
  const code = withoutStrings(expr);
  const stack: { char: string; at: number }[] = [];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  for (let i = 0; i < code.length; i++) {
    const c = code[i]!;
    if (c === "(" || c === "[" || c === "{") stack.push({ char: c, at: i });
    else if (c in pairs) {
      const open = stack.pop();
      if (open?.char !== pairs[c]) return `'${c}' at ${i} closes ${open ? `'${open.char}' from ${open.at}` : "nothing"}`;
    }
  }
  const left = stack.pop();
  return left ? `'${left.char}' at ${left.at} is never closed` : undefined;
}

/** Identifiers of the expression, outside label matchers, ranges, strings and grouping lists, with whether a `(` follows. */
function identifiers(expr: string): { name: string; called: boolean }[] {
  const code = withoutStrings(expr)
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const out: { name: string; called: boolean }[] = [];
  // Numbers (0.25, 1e3, 0x1f) are skipped whole, so their letters are not taken for names.
  for (const m of code.matchAll(/\b\d[\w.]*|[A-Za-z_:][\w:]*(\s*\()?/g)) {
    if (/^\d/.test(m[0])) continue;
    out.push({ name: m[0].replace(/\s*\($/, ""), called: m[1] !== undefined });
  }
  return out;
}

/** The metric names an expression reads (`rate(x_bucket[5m])` reads `x_bucket`). */
export function metricNames(expr: string): string[] {
  return [
    ...new Set(
      identifiers(expr)
        .filter((t) => !t.called && !KEYWORDS.has(t.name.toLowerCase()))
        .map((t) => t.name),
    ),
  ];
}

/** The names an expression calls that are not PromQL functions or aggregations (a typo, or a metric called like one). */
export function unknownFunctions(expr: string): string[] {
  return identifiers(expr)
    .filter((t) => t.called && !PROMQL_FUNCTIONS.has(t.name) && !KEYWORDS.has(t.name))
    .map((t) => t.name);
}
