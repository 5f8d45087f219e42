/**
 * What GitHub would make of our Markdown: micromark with GFM (tables, autolinks, strikethrough,
 * footnotes) renders it, and githubCells splits a table row the way GitHub's cmark-gfm does.
 */
import { micromark } from "micromark";
import { gfm, gfmHtml } from "micromark-extension-gfm";

/** The HTML of `markdown`, HTML in it allowed as GitHub allows it (its sanitizer comes later). */
export function render(markdown: string): string {
  return micromark(markdown, { allowDangerousHtml: true, extensions: [gfm()], htmlExtensions: [gfmHtml()] });
}

/** Text of rendered HTML: tags dropped, the entities micromark writes decoded. */
export function textOf(html: string): string {
  return html
    .replace(/<[^>]*>/g, "")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

/** The cells of each rendered table row (header rows too), as HTML. */
export function renderedRows(html: string): string[][] {
  return [...html.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) => [...row[1]!.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((cell) => cell[1]!));
}

/** How many cells GitHub's cmark-gfm reads in a table row: it splits at every `|` not right after a backslash. */
export function githubCells(line: string): number {
  let cells = 0;
  for (let i = 0; i < line.length; i++) if (line[i] === "|" && line[i - 1] !== "\\") cells++;
  return cells - 1;
}
