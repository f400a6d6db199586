// The documentation holds together: every relative link in README.md and docs/*.md points at a file of the
// repository, and every #anchor at a heading of that file (GitHub's heading ids); and code, tests, benchmarks,
// scripts and configs cite only .md files that exist, and only sections those files have.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
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

/** Section numbers of a markdown file: "## 4. The loss" → 4, "### 4.2 Aggregation" → 4.2. */
function sectionNumbers(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{2,6} (\d+(?:\.\d+)*)\.? /gm)].map((m) => m[1]!));
}

interface Citation {
  /** The cited path as written, e.g. 'docs/grpo.md'. */
  path: string;
  /** Section numbers cited right after it: 'docs/lfm2.md §3.4, §4' → ['3.4', '4']; ranges give both ends. */
  sections: string[];
}

/** Every markdown file a text mentions (URLs aside), with the § numbers that follow it. */
export function citations(text: string): Citation[] {
  const out: Citation[] = [];
  for (const m of text.matchAll(/(?<![\w/.:-])([\w./-]*[\w-]\.md)\b((?:,? ?§ ?\d+(?:\.\d+)*(?:[–-]\d+(?:\.\d+)*)?)*)/g)) {
    out.push({ path: m[1]!, sections: [...m[2]!.matchAll(/\d+(?:\.\d+)*/g)].map((x) => x[0]) });
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return /\.(ts|mjs|js|h|cpp|cu|cuh|md|yaml|sh)$/.test(n) ? [p] : [];
  });
}

describe('citations of documents', () => {
  it('lib/, native/, test/, bench/, scripts/ and configs/ cite only .md files and sections that exist', () => {
    const bad: string[] = [];
    let docCitations = 0;
    for (const top of ['lib', 'native', 'test', 'bench', 'scripts', 'configs']) {
      for (const f of sourceFiles(join(root, top))) {
        readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
          for (const c of citations(line)) {
            const where = `${relative(root, f)}:${i + 1}`;
            const target = [join(root, c.path), join(dirname(f), c.path)].find((p) => existsSync(p));
            if (!target) {
              bad.push(`${where}: ${c.path} is not in the repository`);
              continue;
            }
            if (c.path.startsWith('docs/')) docCitations++;
            const have = sectionNumbers(target);
            for (const n of c.sections) if (!have.has(n)) bad.push(`${where}: ${c.path} has no section ${n}`);
          }
        });
      }
    }
    expect(bad).toEqual([]);
    expect(docCitations).toBeGreaterThan(50);
  });

  it('the citation scan reads paths, sections and ranges', () => {
    const md = (name: string) => `${name}.md`;
    expect(citations(`forward (${md('docs/lfm2')} §3.4, §4) and ${md('grpo')} §7.3–7.5.`)).toEqual([
      { path: md('docs/lfm2'), sections: ['3.4', '4'] },
      { path: md('grpo'), sections: ['7.3', '7.5'] },
    ]);
    expect(citations(`see https://example.org/${md('x')} and ${md('README')}`)).toEqual([{ path: md('README'), sections: [] }]);
    expect(sectionNumbers(join(root, 'docs/grpo.md'))).toContain('4.2');
  });
});
