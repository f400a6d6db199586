// The documentation holds together: every relative link in README.md and docs/*.md points at a file of the
// repository, and every #anchor at a heading of that file (GitHub's heading ids).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** GitHub's id of a heading: lower case, punctuation dropped (hyphens and underscores kept), spaces → hyphens. */
export function headingId(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function headingIds(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => headingId(m[1]!)));
}

/** Relative links `[text](target)` outside code blocks and code spans. */
function links(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/.test(t));
}

describe('documentation links', () => {
  it('has the five design documents, each linked from the README', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    for (const d of ['architecture', 'lfm2', 'grpo', 'environment', 'performance']) {
      expect(docs).toContain(`docs/${d}.md`);
      expect(readme).toContain(`(docs/${d}.md)`);
    }
  });

  it('every relative link reaches an existing file and heading', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const doc of docs) {
      const from = join(root, doc);
      for (const target of links(from)) {
        checked++;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const file = path === '' ? from : join(dirname(from), path);
        if (!existsSync(file)) broken.push(`${doc}: ${target} (no file ${relative(root, file)})`);
        else if (anchor !== undefined && file.endsWith('.md') && !headingIds(file).has(anchor)) broken.push(`${doc}: ${target} (no heading #${anchor})`);
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(broken).toEqual([]);
  });

  it('heading ids follow GitHub', () => {
    expect(headingId('1.4 Differences from BrowserGym, on purpose')).toBe('14-differences-from-browsergym-on-purpose');
    expect(headingId('6.1 The final norm is called `embedding_norm`')).toBe('61-the-final-norm-is-called-embedding_norm');
    expect(headingId('4. Engines and backends')).toBe('4-engines-and-backends');
  });
});
