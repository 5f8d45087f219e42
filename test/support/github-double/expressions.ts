/**
 * GitHub Actions expressions (`${{ … }}`), evaluated as the runner evaluates them, for the double's
 * workflow runner: literals, contexts with case-insensitive property access, `[ ]` and `.`,
 * `!`, comparisons with GitHub's loose typing (strings compare case-insensitively, mixed types as
 * numbers), `&&` / `||` returning an operand (so `fromJSON(inputs.options).parallel || 1` is the
 * value or 1), and the functions contains, startsWith, endsWith, format, join, toJSON, fromJSON,
 * success, failure, cancelled, always. `hashFiles` and object filters (`.*`) are not emulated: they
 * are errors here, so a workflow that needs them fails loudly instead of evaluating wrongly.
 *
 * Reference: docs.github.com/actions/reference/evaluate-expressions-in-workflows-and-actions.
 */

/** A value an expression can produce: JSON. */
export type ExprValue = null | boolean | number | string | ExprValue[] | { [key: string]: ExprValue };

/** What `success()`, `failure()` and `cancelled()` answer for the step being evaluated. */
export interface JobStatus {
  /** A previous step failed (and had no `continue-on-error`). */
  failed: boolean;
  /** The run was cancelled. */
  cancelled: boolean;
}

export interface ExprScope {
  /** Named values (`inputs`, `github`, `runner`, `steps`, `env`, …); names match case-insensitively. */
  contexts: Record<string, ExprValue>;
  /** Required by the status functions; without it they are errors. */
  status?: JobStatus;
}

/** An expression that does not parse or cannot be evaluated (GitHub fails the step with it). */
export class ExpressionError extends Error {}

type Node =
  | { kind: "literal"; value: ExprValue }
  | { kind: "named"; name: string }
  | { kind: "call"; name: string; args: Node[] }
  | { kind: "index"; target: Node; index: Node }
  | { kind: "not"; operand: Node }
  | { kind: "binary"; op: BinaryOp; left: Node; right: Node };

type BinaryOp = "||" | "&&" | "==" | "!=" | "<" | "<=" | ">" | ">=";

type Token = { type: "number"; value: number } | { type: "string"; value: string } | { type: "word"; value: string } | { type: "punct"; value: string };

const PUNCT = ["||", "&&", "==", "!=", "<=", ">=", "<", ">", "!", "(", ")", "[", "]", ",", "."];

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === "'") {
      let value = "";
      i++;
      for (;;) {
        if (i >= source.length) throw new ExpressionError(`Unexpected end of expression: unclosed string in '${source}'`);
        if (source[i] === "'") {
          if (source[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += source[i++];
      }
      tokens.push({ type: "string", value });
      continue;
    }
    const previous = tokens[tokens.length - 1];
    // A `-` is a sign when no operand precedes it; a `.` after an operand is property access.
    const operandBefore = previous !== undefined && (previous.type !== "punct" || previous.value === ")" || previous.value === "]");
    const signed = ch === "-" && !operandBefore;
    const start = signed ? i + 1 : i;
    const startsNumber = /\d/.test(source[start] ?? "") || (source[start] === "." && /\d/.test(source[start + 1] ?? "") && !operandBefore);
    if ((signed || ch !== "-") && startsNumber) {
      const text = /^(?:0x[0-9a-f]+|0o[0-7]+|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)/i.exec(source.slice(start))![0];
      const magnitude = /^0o/i.test(text) ? parseInt(text.slice(2), 8) : Number(text);
      tokens.push({ type: "number", value: signed ? -magnitude : magnitude });
      i = start + text.length;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(source.slice(i));
    if (word) {
      tokens.push({ type: "word", value: word[0] });
      i += word[0].length;
      continue;
    }
    const punct = PUNCT.find((p) => source.startsWith(p, i));
    if (!punct) throw new ExpressionError(`Unexpected symbol: '${ch}'. Located at position ${i + 1} within expression: ${source}`);
    tokens.push({ type: "punct", value: punct });
    i += punct.length;
  }
  return tokens;
}

class Parser {
  private at = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly source: string,
  ) {}

  parse(): Node {
    if (this.tokens.length === 0) throw new ExpressionError("Expected an expression");
    const node = this.or();
    if (this.at < this.tokens.length) throw this.unexpected();
    return node;
  }

  private peek(): Token | undefined {
    return this.tokens[this.at];
  }

  private isPunct(value: string): boolean {
    const t = this.peek();
    return t?.type === "punct" && t.value === value;
  }

  private expect(value: string): void {
    if (!this.isPunct(value)) throw this.unexpected();
    this.at++;
  }

  private unexpected(): ExpressionError {
    const t = this.peek();
    return new ExpressionError(
      t ? `Unexpected symbol: '${String(t.value)}' within expression: ${this.source}` : `Unexpected end of expression: ${this.source}`,
    );
  }

  private binary(next: () => Node, ops: BinaryOp[]): Node {
    let left = next();
    for (;;) {
      const t = this.peek();
      const op = t?.type === "punct" ? ops.find((o) => o === t.value) : undefined;
      if (!op) return left;
      this.at++;
      left = { kind: "binary", op, left, right: next() };
    }
  }

  private or = (): Node => this.binary(this.and, ["||"]);
  private and = (): Node => this.binary(this.equality, ["&&"]);
  private equality = (): Node => this.binary(this.comparison, ["==", "!="]);
  private comparison = (): Node => this.binary(this.unary, ["<", "<=", ">", ">="]);

  private unary = (): Node => {
    if (this.isPunct("!")) {
      this.at++;
      return { kind: "not", operand: this.unary() };
    }
    return this.postfix();
  };

  private postfix(): Node {
    let node = this.primary();
    for (;;) {
      if (this.isPunct(".")) {
        this.at++;
        const t = this.peek();
        if (t?.type !== "word")
          throw new ExpressionError(
            t?.type === "punct" && t.value === "*" ? `Object filters ('.*') are not emulated: ${this.source}` : this.unexpected().message,
          );
        this.at++;
        node = { kind: "index", target: node, index: { kind: "literal", value: t.value } };
      } else if (this.isPunct("[")) {
        this.at++;
        const index = this.or();
        this.expect("]");
        node = { kind: "index", target: node, index };
      } else {
        return node;
      }
    }
  }

  private primary(): Node {
    const t = this.peek();
    if (!t) throw this.unexpected();
    this.at++;
    if (t.type === "number" || t.type === "string") return { kind: "literal", value: t.value };
    if (t.type === "punct") {
      if (t.value !== "(") {
        this.at--;
        throw this.unexpected();
      }
      const inner = this.or();
      this.expect(")");
      return inner;
    }
    const lower = t.value.toLowerCase();
    if (this.isPunct("(")) {
      this.at++;
      const args: Node[] = [];
      if (!this.isPunct(")")) {
        for (;;) {
          args.push(this.or());
          if (this.isPunct(",")) {
            this.at++;
            continue;
          }
          break;
        }
      }
      this.expect(")");
      return { kind: "call", name: lower, args };
    }
    if (lower === "true" || lower === "false") return { kind: "literal", value: lower === "true" };
    if (lower === "null") return { kind: "literal", value: null };
    if (lower === "nan") return { kind: "literal", value: NaN };
    if (lower === "infinity") return { kind: "literal", value: Infinity };
    return { kind: "named", name: t.value };
  }
}

export function parseExpression(source: string): Node {
  return new Parser(tokenize(source), source.trim()).parse();
}

const STATUS_FUNCTIONS = new Set(["success", "failure", "cancelled", "always"]);

/** Whether the expression calls a status function (else an `if:` means `success() && (…)`). */
function usesStatusFunction(node: Node): boolean {
  switch (node.kind) {
    case "call":
      return STATUS_FUNCTIONS.has(node.name) || node.args.some(usesStatusFunction);
    case "index":
      return usesStatusFunction(node.target) || usesStatusFunction(node.index);
    case "not":
      return usesStatusFunction(node.operand);
    case "binary":
      return usesStatusFunction(node.left) || usesStatusFunction(node.right);
    default:
      return false;
  }
}

export function truthy(value: ExprValue): boolean {
  if (value === null || value === false || value === "") return false;
  if (typeof value === "number") return value !== 0 && !Number.isNaN(value);
  return true;
}

function isObject(value: ExprValue): value is { [key: string]: ExprValue } {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** GitHub's coercion to a number for comparisons of mixed types. */
export function toNumber(value: ExprValue): number {
  if (value === null) return 0;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "number") return value;
  if (typeof value === "string") {
    const text = value.trim();
    if (text === "") return 0;
    if (/^[+-]?0o[0-7]+$/i.test(text)) return (text.startsWith("-") ? -1 : 1) * parseInt(text.replace(/^[+-]?0o/i, ""), 8);
    if (/^[+-]?(0x[0-9a-f]+|\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|infinity)$/i.test(text)) {
      const sign = text.startsWith("-") ? -1 : 1;
      const body = text.replace(/^[+-]/, "");
      return sign * (/^infinity$/i.test(body) ? Infinity : Number(body));
    }
    return NaN;
  }
  return NaN;
}

/** A number as GitHub prints it (up to 15 significant digits, so 0.1 + 0.2 is `0.3`). */
function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (Object.is(value, -0)) return "0";
  return String(Number(value.toPrecision(15)));
}

/** GitHub's coercion to a string (function arguments, comparisons of strings). */
export function toText(value: ExprValue): string {
  if (value === null) return "";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "string") return value;
  return Array.isArray(value) ? "Array" : "Object";
}

/**
 * A value of the workflow file where the runner reads text but the YAML may hold anything (`if:`,
 * `shell:`, an input's default, a step's name): a scalar as `String` prints it, a mapping or a
 * sequence as JSON (text nothing then accepts).
 */
export function workflowText(value: unknown): string {
  if (
    value === null ||
    value === undefined ||
    typeof value === "string" ||
    typeof value === "number" ||
    typeof value === "boolean" ||
    typeof value === "bigint"
  ) {
    return String(value);
  }
  return JSON.stringify(value);
}

/** `==` as GitHub defines it. */
function looselyEqual(left: ExprValue, right: ExprValue): boolean {
  const lt = left === null ? "null" : Array.isArray(left) ? "array" : typeof left;
  const rt = right === null ? "null" : Array.isArray(right) ? "array" : typeof right;
  if (lt === rt) {
    if (lt === "string") return (left as string).toUpperCase() === (right as string).toUpperCase();
    if (lt === "number") return (left as number) === (right as number);
    return left === right;
  }
  if (lt === "array" || lt === "object" || rt === "array" || rt === "object") return false;
  return toNumber(left) === toNumber(right);
}

function compare(left: ExprValue, right: ExprValue): number {
  if (typeof left === "string" && typeof right === "string") {
    const a = left.toUpperCase();
    const b = right.toUpperCase();
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const a = toNumber(left);
  const b = toNumber(right);
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A property of an object, matched case-insensitively (an exact match wins). */
export function property(target: ExprValue, key: string): ExprValue {
  if (!isObject(target)) return null;
  if (Object.hasOwn(target, key)) return target[key] ?? null;
  const lower = key.toLowerCase();
  const found = Object.keys(target).find((k) => k.toLowerCase() === lower);
  return found === undefined ? null : (target[found] ?? null);
}

function format(template: string, args: ExprValue[]): string {
  let out = "";
  for (let i = 0; i < template.length; i++) {
    const ch = template[i]!;
    if (ch === "{" && template[i + 1] === "{") {
      out += "{";
      i++;
    } else if (ch === "}" && template[i + 1] === "}") {
      out += "}";
      i++;
    } else if (ch === "{") {
      const m = /^\{(\d+)\}/.exec(template.slice(i));
      if (!m) throw new ExpressionError(`The following format string is invalid: ${template}`);
      const index = Number(m[1]);
      if (index >= args.length) throw new ExpressionError(`The following format string references more arguments than were supplied: ${template}`);
      out += toText(args[index]!);
      i += m[0].length - 1;
    } else if (ch === "}") {
      throw new ExpressionError(`The following format string is invalid: ${template}`);
    } else {
      out += ch;
    }
  }
  return out;
}

function arity(name: string, args: unknown[], min: number, max: number): void {
  if (args.length < min) throw new ExpressionError(`Too few parameters supplied: '${name}'`);
  if (args.length > max) throw new ExpressionError(`Too many parameters supplied: '${name}'`);
}

function call(name: string, args: ExprValue[], scope: ExprScope): ExprValue {
  switch (name) {
    case "contains": {
      arity(name, args, 2, 2);
      const [search, item] = args as [ExprValue, ExprValue];
      if (Array.isArray(search)) return search.some((element) => looselyEqual(element, item));
      return toText(search).toUpperCase().includes(toText(item).toUpperCase());
    }
    case "startswith":
      arity(name, args, 2, 2);
      return toText(args[0]!).toUpperCase().startsWith(toText(args[1]!).toUpperCase());
    case "endswith":
      arity(name, args, 2, 2);
      return toText(args[0]!).toUpperCase().endsWith(toText(args[1]!).toUpperCase());
    case "format":
      arity(name, args, 1, 100);
      return format(toText(args[0]!), args.slice(1));
    case "join": {
      arity(name, args, 1, 2);
      const separator = args.length > 1 ? toText(args[1]!) : ",";
      const value = args[0]!;
      return Array.isArray(value) ? value.map(toText).join(separator) : toText(value);
    }
    case "tojson":
      arity(name, args, 1, 1);
      return JSON.stringify(args[0], null, 2) ?? "null";
    case "fromjson": {
      arity(name, args, 1, 1);
      const text = toText(args[0]!);
      try {
        return JSON.parse(text) as ExprValue;
      } catch (error) {
        throw new ExpressionError(`Error parsing fromJson: ${(error as Error).message} (input: ${text.length > 80 ? `${text.slice(0, 77)}...` : text})`);
      }
    }
    case "success":
    case "failure":
    case "cancelled":
    case "always": {
      arity(name, args, 0, 0);
      const status = scope.status;
      if (!status) throw new ExpressionError(`Unrecognized function: '${name}' (status functions are only allowed in 'if' conditionals)`);
      if (name === "always") return true;
      if (name === "cancelled") return status.cancelled;
      if (name === "failure") return status.failed && !status.cancelled;
      return !status.failed && !status.cancelled;
    }
    case "hashfiles":
      throw new ExpressionError("hashFiles() is not emulated by the GitHub double");
    default:
      throw new ExpressionError(`Unrecognized function: '${name}'`);
  }
}

function evaluate(node: Node, scope: ExprScope): ExprValue {
  switch (node.kind) {
    case "literal":
      return node.value;
    case "named": {
      const value = property(scope.contexts, node.name);
      if (value === null && !Object.keys(scope.contexts).some((k) => k.toLowerCase() === node.name.toLowerCase())) {
        throw new ExpressionError(`Unrecognized named-value: '${node.name}'`);
      }
      return value;
    }
    case "call":
      return call(
        node.name,
        node.args.map((a) => evaluate(a, scope)),
        scope,
      );
    case "index": {
      const target = evaluate(node.target, scope);
      const index = evaluate(node.index, scope);
      if (Array.isArray(target)) {
        const n = toNumber(index);
        return Number.isInteger(n) && n >= 0 && n < target.length ? (target[n] ?? null) : null;
      }
      return property(target, toText(index));
    }
    case "not":
      return !truthy(evaluate(node.operand, scope));
    case "binary": {
      const left = evaluate(node.left, scope);
      if (node.op === "||") return truthy(left) ? left : evaluate(node.right, scope);
      if (node.op === "&&") return truthy(left) ? evaluate(node.right, scope) : left;
      const right = evaluate(node.right, scope);
      if (node.op === "==") return looselyEqual(left, right);
      if (node.op === "!=") return !looselyEqual(left, right);
      const order = compare(left, right);
      if (Number.isNaN(order)) return false;
      return node.op === "<" ? order < 0 : node.op === "<=" ? order <= 0 : node.op === ">" ? order > 0 : order >= 0;
    }
  }
}

/** Evaluates one expression (the text inside `${{ }}`). */
export function evaluateExpression(source: string, scope: ExprScope): ExprValue {
  return evaluate(parseExpression(source), scope);
}

/** Splits a template into literal text and expression sources (`}}` inside a string literal does not end one). */
function splitTemplate(template: string): (string | { expression: string })[] {
  const parts: (string | { expression: string })[] = [];
  let text = "";
  let i = 0;
  while (i < template.length) {
    if (!template.startsWith("${{", i)) {
      text += template[i++];
      continue;
    }
    let j = i + 3;
    let inString = false;
    for (; j < template.length; j++) {
      if (template[j] === "'") inString = !inString;
      else if (!inString && template.startsWith("}}", j)) break;
    }
    if (j >= template.length)
      throw new ExpressionError(`The expression is not closed. An unescaped \${{ sequence was found, but the closing }} sequence was not found: ${template}`);
    if (text) parts.push(text);
    text = "";
    parts.push({ expression: template.slice(i + 3, j) });
    i = j + 2;
  }
  if (text) parts.push(text);
  return parts;
}

/**
 * A YAML scalar with `${{ }}` expressions rendered to the string the runner passes on (an input
 * of `with:`, a value of `env:`, a `run:` script): null is empty, booleans `true`/`false`,
 * numbers as GitHub prints them. An expression that yields an object or an array is an error, as
 * the runner refuses a mapping or a sequence where a string is expected.
 */
export function renderTemplate(value: unknown, scope: ExprScope): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "boolean" || typeof value === "number") return toText(value);
  if (typeof value !== "string") throw new ExpressionError(`A ${Array.isArray(value) ? "sequence" : "mapping"} was not expected`);
  let out = "";
  for (const part of splitTemplate(value)) {
    if (typeof part === "string") {
      out += part;
      continue;
    }
    const result = evaluateExpression(part.expression, scope);
    if (result !== null && typeof result === "object")
      throw new ExpressionError(`A ${Array.isArray(result) ? "sequence" : "mapping"} was not expected (from \${{ ${part.expression.trim()} }})`);
    out += toText(result);
  }
  return out;
}

/**
 * An `if:` condition: with or without `${{ }}`; one that calls no status function means
 * `success() && (<condition>)`, as GitHub reads it. Absent, it is `success()`.
 */
export function evaluateCondition(condition: unknown, scope: ExprScope & { status: JobStatus }): boolean {
  if (condition === undefined || condition === null || condition === "") return evaluateCondition("success()", scope);
  if (typeof condition === "boolean") return condition && !scope.status.failed && !scope.status.cancelled;
  const text = workflowText(condition).trim();
  const whole = /^\$\{\{([\s\S]*)\}\}$/.exec(text);
  let node: Node;
  if (whole && splitTemplate(text).length === 1) {
    node = parseExpression(whole[1]!);
  } else if (text.includes("${{")) {
    // Text with embedded expressions: a non-empty string is true.
    return renderTemplate(text, scope) !== "" && !scope.status.failed && !scope.status.cancelled;
  } else {
    node = parseExpression(text);
  }
  if (!usesStatusFunction(node)) node = { kind: "binary", op: "&&", left: { kind: "call", name: "success", args: [] }, right: node };
  return truthy(evaluate(node, scope));
}

/**
 * A YAML value where GitHub accepts an expression of any type (a matrix vector, `fail-fast`): a
 * string that is one whole `${{ }}` yields the expression's value (`${{ fromJSON(inputs.x) }}`
 * a list), other strings with expressions render to text, sequences and mappings are evaluated
 * item by item, and other scalars stay as they are.
 */
export function evaluateValue(value: unknown, scope: ExprScope): ExprValue {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") {
    const text = value.trim();
    const whole = /^\$\{\{([\s\S]*)\}\}$/.exec(text);
    if (whole && splitTemplate(text).length === 1) return evaluateExpression(whole[1]!, scope);
    return value.includes("${{") ? renderTemplate(value, scope) : value;
  }
  if (typeof value === "boolean" || typeof value === "number") return value;
  if (Array.isArray(value)) return value.map((item) => evaluateValue(item, scope));
  if (typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, evaluateValue(v, scope)]));
  return workflowText(value);
}
