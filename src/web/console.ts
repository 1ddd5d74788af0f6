/**
 * The console page (WEB.md, `GET /`): web/console.html, read once, when
 * first asked for, with its Content-Security-Policy: the page loads nothing
 * from anywhere, runs its one inline script and style sheet (allowed by
 * their hashes), talks to its own listener only, and is framed by nobody.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface ConsolePage {
  readonly html: string;
  readonly csp: string;
}

let page: ConsolePage | undefined;

/** `'sha256-<base64>'` of the text between the first `<tag>` and its end. */
function hashOf(html: string, tag: string): string {
  const start = html.indexOf(`<${tag}>`) + tag.length + 2;
  const text = html.slice(start, html.indexOf(`</${tag}>`, start));
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

export function consolePage(): ConsolePage {
  if (page === undefined) {
    // From dist/src/web/ (and src/web/ alike), the package's web/ folder.
    const html = readFileSync(new URL('../../../web/console.html', import.meta.url), 'utf8');
    const csp = ["default-src 'none'", `script-src ${hashOf(html, 'script')}`, `style-src ${hashOf(html, 'style')}`, "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"].join('; ');
    page = { html, csp };
  }
  return page;
}
