/** The console page (WEB.md, `GET /`): web/console.html, read once, when first asked for. */
import { readFileSync } from 'node:fs';

let page: string | undefined;

export function consolePage(): string {
  // From dist/src/web/ (and src/web/ alike), the package's web/ folder.
  page ??= readFileSync(new URL('../../../web/console.html', import.meta.url), 'utf8');
  return page;
}
