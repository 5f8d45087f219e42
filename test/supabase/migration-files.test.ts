/**
 * The migrations, read as files: each thing is defined once, where its concern lives. No
 * migration redefines a function (`create or replace`, a second `create function` of a name an
 * earlier file created, or an alter or drop of it), and none alters or drops a table an earlier
 * migration created: a later change is a new function or table, never a patch on an old one,
 * so a reader finds every definition in one place. Comments and string literals are not code.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS_DIR } from "../../app/src/store/migrate.js";
import { openTestDatabase, type TestDatabase } from "../support/postgres.js";

interface MigrationFile {
  name: string;
  sql: string;
}

/**
 * The SQL with comments and string literals blanked out (line breaks kept, so lines still count).
 * A dollar-quoted body after `as` or `do` is code (a function's or a block's); any other
 * dollar-quoted text is a string.
 */
function codeOf(sql: string): string {
  let out = "";
  let i = 0;
  let body: string | undefined;
  const blank = (text: string) => text.replace(/[^\n]/g, " ");
  while (i < sql.length) {
    const rest = sql.slice(i);
    const tag = /^\$\w*\$/.exec(rest)?.[0];
    let end: number;
    if (tag !== undefined && (tag === body || (body === undefined && /\b(as|do)\s*$/i.test(out)))) {
      body = body === undefined ? tag : undefined;
      out += tag;
      i += tag.length;
      continue;
    }
    if (tag !== undefined) end = rest.indexOf(tag, tag.length) < 0 ? rest.length : rest.indexOf(tag, tag.length) + tag.length;
    else if (rest.startsWith("--")) end = rest.includes("\n") ? rest.indexOf("\n") : rest.length;
    else if (rest.startsWith("/*")) end = rest.includes("*/") ? rest.indexOf("*/") + 2 : rest.length;
    else if (rest.startsWith("'")) {
      end = 1;
      while (end < rest.length && !(rest[end] === "'" && rest[end + 1] !== "'")) end += rest[end] === "'" ? 2 : 1;
      end += 1;
    } else {
      out += sql[i];
      i += 1;
      continue;
    }
    out += blank(rest.slice(0, end));
    i += end;
  }
  return out;
}

const NAME = String.raw`(?:public\s*\.\s*)?"?(\w+)"?`;
const PATTERNS = {
  createOrReplace: new RegExp(String.raw`\bcreate\s+or\s+replace\s+(?:function|procedure|view|trigger|rule)\s+${NAME}`, "gi"),
  createFunction: new RegExp(String.raw`\bcreate\s+(?:function|procedure)\s+${NAME}`, "gi"),
  changeFunction: new RegExp(String.raw`\b(alter|drop)\s+(?:function|procedure)\s+(?:if\s+exists\s+)?${NAME}`, "gi"),
  createTable: new RegExp(String.raw`\bcreate\s+(?:unlogged\s+)?table\s+(?:if\s+not\s+exists\s+)?${NAME}`, "gi"),
  alterTable: new RegExp(String.raw`\balter\s+table\s+(?:if\s+exists\s+)?(?:only\s+)?${NAME}`, "gi"),
  dropTable: new RegExp(String.raw`\bdrop\s+table\s+(?:if\s+exists\s+)?((?:${NAME}\s*,\s*)*${NAME})`, "gi"),
};

interface Found {
  name: string;
  line: number;
  /** The statement's words, for a message. */
  what: string;
}

function find(code: string, pattern: RegExp, names: (m: RegExpMatchArray) => string[]): Found[] {
  return [...code.matchAll(pattern)].flatMap((m) => {
    const line = code.slice(0, m.index).split("\n").length;
    const what = m[0].replace(/\s+/g, " ").toLowerCase();
    return names(m).map((name) => ({ name: name.toLowerCase(), line, what }));
  });
}

/** What each file creates, and every place a file redefines a function or changes a table an earlier file created. */
function review(files: MigrationFile[]): { functions: Map<string, string>; tables: Map<string, string>; problems: string[] } {
  const functions = new Map<string, string>();
  const tables = new Map<string, string>();
  const problems: string[] = [];
  for (const file of [...files].sort((a, b) => a.name.localeCompare(b.name))) {
    const code = codeOf(file.sql);
    const at = (f: Found) => `${file.name}:${f.line}`;
    for (const f of find(code, PATTERNS.createOrReplace, (m) => [m[1]!])) {
      problems.push(`${at(f)}: ${f.what} (create or replace redefines)`);
      if (/function|procedure/.test(f.what) && !functions.has(f.name)) functions.set(f.name, file.name);
    }
    for (const f of find(code, PATTERNS.createFunction, (m) => [m[1]!])) {
      const earlier = functions.get(f.name);
      if (earlier) problems.push(`${at(f)}: ${f.what} again (${earlier} created it)`);
      else functions.set(f.name, file.name);
    }
    for (const f of find(code, PATTERNS.changeFunction, (m) => [m[2]!])) {
      const earlier = functions.get(f.name);
      if (earlier && earlier !== file.name) problems.push(`${at(f)}: ${f.what} (${earlier} created it)`);
    }
    const created = find(code, PATTERNS.createTable, (m) => [m[1]!]);
    for (const f of created) tables.set(f.name, tables.get(f.name) ?? file.name);
    const changed = [
      ...find(code, PATTERNS.alterTable, (m) => [m[1]!]),
      ...find(code, PATTERNS.dropTable, (m) => [...m[1]!.matchAll(new RegExp(NAME, "gi"))].map((n) => n[1]!)),
    ];
    for (const f of changed) {
      const earlier = tables.get(f.name);
      if (earlier && earlier !== file.name) problems.push(`${at(f)}: ${f.what} (${earlier} created it)`);
    }
  }
  return { functions, tables, problems };
}

async function migrationFiles(): Promise<MigrationFile[]> {
  const names = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d{14}_[\w-]+\.sql$/.test(f)).sort();
  return Promise.all(names.map(async (name) => ({ name, sql: await readFile(join(MIGRATIONS_DIR, name), "utf8") })));
}

describe("the migration files", () => {
  let files: MigrationFile[];
  let db: TestDatabase;
  beforeAll(async () => {
    files = await migrationFiles();
    db = await openTestDatabase("pglite");
  });
  afterAll(() => db?.close());

  it("are read as the database sees them: every function and table they create is found", async () => {
    const { functions, tables } = review(files);
    const procs = await db.client.query<{ name: string }>(
      "select proname as name from pg_catalog.pg_proc where pronamespace = 'public'::regnamespace order by 1",
    );
    expect([...functions.keys()].sort()).toEqual(procs.rows.map((r) => r.name));
    const rels = await db.client.query<{ name: string }>(
      "select relname as name from pg_catalog.pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'p') order by 1",
    );
    expect([...tables.keys()].sort()).toEqual(rels.rows.map((r) => r.name));
  });

  it("never redefine a function, nor alter or drop a table, that an earlier migration created", () => {
    expect(files.length).toBeGreaterThan(1);
    expect(review(files).problems).toEqual([]);
  });

  it("catch what they are meant to catch, and only that", () => {
    const first = {
      name: "20990101000000_first.sql",
      sql: `
        create table public.things (id integer);
        alter table public.things enable row level security; -- its own table: fine
        create function public.thing_count() returns integer language sql as 'select 1';
        comment on table public.things is 'alter table public.things add column x; create or replace function x()';
        create function public.thing_total() returns integer language plpgsql as $body$
        begin
          return (select count(*) from public.things);
        end;
        $body$;`,
    };
    const later = {
      name: "20990101000100_later.sql",
      sql: `
        /* alter table public.things drop column id; is only a comment */
        create table public.others (id integer);
        alter table public.others add column note text;
        alter table public.things add column note text;
        create or replace function public.thing_count() returns integer language sql as 'select 2';
        create function public.thing_count(p integer) returns integer language sql as 'select p';
        create or replace view public.things_view as select 1;
        alter function public.thing_count() set search_path = '';
        drop table if exists public.others, public."things";
        do $$ begin alter table public.things add column later text; end $$;
        select public.describe('public.things', $$
          id: it's the row's id; alter table public.things drop column id
        $$);
        alter table public.things add column last text;`,
    };
    expect(review([later, first]).problems).toEqual([
      "20990101000100_later.sql:6: create or replace function public.thing_count (create or replace redefines)",
      "20990101000100_later.sql:8: create or replace view public.things_view (create or replace redefines)",
      "20990101000100_later.sql:7: create function public.thing_count again (20990101000000_first.sql created it)",
      "20990101000100_later.sql:9: alter function public.thing_count (20990101000000_first.sql created it)",
      "20990101000100_later.sql:5: alter table public.things (20990101000000_first.sql created it)",
      "20990101000100_later.sql:11: alter table public.things (20990101000000_first.sql created it)",
      "20990101000100_later.sql:15: alter table public.things (20990101000000_first.sql created it)",
      '20990101000100_later.sql:10: drop table if exists public.others, public."things" (20990101000000_first.sql created it)',
    ]);
    const { functions, tables } = review([later, first]);
    expect([...functions]).toEqual([
      ["thing_count", "20990101000000_first.sql"],
      ["thing_total", "20990101000000_first.sql"],
    ]);
    expect([...tables]).toEqual([
      ["things", "20990101000000_first.sql"],
      ["others", "20990101000100_later.sql"],
    ]);
  });
});
