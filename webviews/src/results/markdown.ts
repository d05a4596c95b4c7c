/**
 * Renders the explanation report's Markdown into DOM nodes — headings, paragraphs, lists, block quotes,
 * pipe tables, fenced code, and inline code / bold / italic / links / images. Text always lands in text
 * nodes (never innerHTML), links are shown, not followed (a webview has no business navigating), and an
 * image appears only when the host supplied it as a `data:` URI (the CSP allows nothing else).
 */
import { h } from '../shared/dom';

export type Images = Readonly<Record<string, string>>;

const INLINE =
  /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*|_[^_\s][^_]*_)|(!\[[^\]]*\]\([^)\s]+\))|(\[[^\]]+\]\([^)\s]+\))/g;

export function inline(text: string, images: Images): Node[] {
  const out: Node[] = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    const s = m[0];
    if (m[1]) out.push(h('code', {}, s.slice(1, -1)));
    else if (m[2]) out.push(h('strong', {}, ...inline(s.slice(2, -2), images)));
    else if (m[3]) out.push(h('em', {}, ...inline(s.slice(1, -1), images)));
    else if (m[4]) {
      const [, alt, src] = /^!\[([^\]]*)\]\(([^)\s]+)\)$/.exec(s)!;
      const data = images[src];
      out.push(data ? h('img', { src: data, alt }) : h('span', { class: 'muted' }, `[image: ${alt}]`));
    } else {
      const [, label, href] = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(s)!;
      out.push(h('span', { class: 'link', title: href }, ...inline(label, images)));
    }
    last = m.index + s.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

const cells = (line: string): string[] =>
  line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((c) => c.trim());
const isRule = (line: string): boolean => /^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(line);

export function renderMarkdown(md: string, images: Images): HTMLElement {
  const root = h('div', { class: 'report' });
  const lines = md.replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      root.appendChild(h(`h${heading[1].length}`, {}, ...inline(heading[2], images)));
      i++;
    } else if (line.startsWith('```')) {
      const code: string[] = [];
      for (i++; i < lines.length && !lines[i].startsWith('```'); i++) code.push(lines[i]);
      i++;
      root.appendChild(h('pre', {}, h('code', {}, code.join('\n'))));
    } else if (line.trimStart().startsWith('|') && i + 1 < lines.length && isRule(lines[i + 1])) {
      const table = h(
        'table',
        {},
        h('thead', {}, h('tr', {}, ...cells(line).map((c) => h('th', {}, ...inline(c, images))))),
      );
      const body = h('tbody');
      for (i += 2; i < lines.length && lines[i].trimStart().startsWith('|'); i++)
        body.appendChild(h('tr', {}, ...cells(lines[i]).map((c) => h('td', {}, ...inline(c, images)))));
      table.appendChild(body);
      root.appendChild(table);
    } else if (line.startsWith('>')) {
      const quote: string[] = [];
      for (; i < lines.length && lines[i].startsWith('>'); i++) quote.push(lines[i].replace(/^>\s?/, ''));
      root.appendChild(h('blockquote', {}, ...renderMarkdown(quote.join('\n'), images).childNodes));
    } else if (/^\s*([-*+]|\d+\.)\s+/.test(line)) {
      const ordered = /^\s*\d+\./.test(line);
      const list = h(ordered ? 'ol' : 'ul');
      for (; i < lines.length && /^\s*([-*+]|\d+\.)\s+/.test(lines[i]); i++)
        list.appendChild(h('li', {}, ...inline(lines[i].replace(/^\s*([-*+]|\d+\.)\s+/, ''), images)));
      root.appendChild(list);
    } else {
      const para: string[] = [];
      for (
        ;
        i < lines.length &&
        lines[i].trim() &&
        !/^(#{1,6}\s|```|>|\s*([-*+]|\d+\.)\s)/.test(lines[i]) &&
        !lines[i].trimStart().startsWith('|');
        i++
      )
        para.push(lines[i].trim());
      if (!para.length) {
        // A line no block rule accepts (e.g. a lone '|'): show it as text rather than loop on it.
        para.push(lines[i].trim());
        i++;
      }
      root.appendChild(h('p', {}, ...inline(para.join(' '), images)));
    }
  }
  return root;
}
