// A small, safe Markdown renderer for text the page does not control (the operator's legal
// notice). It builds DOM nodes with textContent only — never innerHTML — so HTML in the
// text shows as text, and links are kept only for http:, https: and mailto: addresses.
//
// Supported: ATX headings (# … ######, drawn one level below `headingBase`), paragraphs
// (lines joined; a line ending in two spaces or a backslash breaks), "-", "*" and "+"
// lists, "1." lists, "> " quotes, fenced code blocks, horizontal rules, and inline
// `code`, **strong**, *emphasis*, _emphasis_, [text](url) and <url> autolinks.

const SAFE_URL = /^(https?:\/\/|mailto:)[^\s]+$/i;

function el(tag, text) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  return node;
}

function link(href, text) {
  if (!SAFE_URL.test(href)) return document.createTextNode(text);
  const a = el('a', text);
  a.href = href;
  a.rel = 'nofollow noopener noreferrer';
  return a;
}

/** Inline Markdown of `text` as a list of nodes. */
export function inline(text) {
  const nodes = [];
  const pattern = /`([^`]+)`|\*\*(.+?)\*\*|\*([^*\s][^*]*?)\*|\b_([^_\s][^_]*?)_\b|\[([^\]]+)\]\(([^)\s]+)\)|<((?:https?:\/\/|mailto:)[^>\s]+)>/g;
  let last = 0;
  for (const m of text.matchAll(pattern)) {
    if (m.index > last) nodes.push(document.createTextNode(text.slice(last, m.index)));
    if (m[1] !== undefined) nodes.push(el('code', m[1]));
    else if (m[2] !== undefined) {
      const strong = el('strong');
      strong.append(...inline(m[2]));
      nodes.push(strong);
    } else if (m[3] !== undefined || m[4] !== undefined) {
      const em = el('em');
      em.append(...inline(m[3] ?? m[4]));
      nodes.push(em);
    } else if (m[5] !== undefined) nodes.push(link(m[6], m[5]));
    else nodes.push(link(m[7], m[7]));
    last = m.index + m[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

function paragraph(lines, tag = 'p') {
  const p = el(tag);
  lines.forEach((line, i) => {
    const hard = / {2,}$|\\$/.test(line);
    p.append(...inline(line.replace(/ {2,}$|\\$/, '').trim()));
    if (i < lines.length - 1) p.append(hard ? el('br') : document.createTextNode(' '));
  });
  return p;
}

/**
 * Renders Markdown `source` into a DocumentFragment. Headings start at `<h{headingBase}>`
 * (a "# Title" in a notice under the page's h2 becomes an h3).
 */
export function renderMarkdown(source, { headingBase = 3 } = {}) {
  const out = document.createDocumentFragment();
  const lines = String(source).replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
      continue;
    }
    const fence = line.match(/^\s*(```|~~~)/);
    if (fence) {
      const code = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) code.push(lines[i++]);
      i++;
      const pre = el('pre');
      pre.append(el('code', code.join('\n')));
      out.append(pre);
      continue;
    }
    const heading = line.match(/^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/);
    if (heading) {
      const level = Math.min(6, headingBase + heading[1].length - 1);
      const h = el(`h${level}`);
      h.append(...inline(heading[2]));
      out.append(h);
      i++;
      continue;
    }
    if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
      out.append(el('hr'));
      i++;
      continue;
    }
    const item = /^\s{0,3}([-*+]|\d{1,9}[.)])\s+(.*)$/;
    const first = line.match(item);
    if (first) {
      const ordered = /\d/.test(first[1]);
      const list = el(ordered ? 'ol' : 'ul');
      while (i < lines.length) {
        const m = lines[i].match(item);
        if (!m || /\d/.test(m[1]) !== ordered) break;
        const li = el('li');
        const text = [m[2]];
        i++;
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !item.test(lines[i])) text.push(lines[i++].trim());
        li.append(...paragraph(text, 'span').childNodes);
        list.append(li);
      }
      out.append(list);
      continue;
    }
    if (/^\s{0,3}>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s{0,3}>/.test(lines[i])) quoted.push(lines[i++].replace(/^\s{0,3}>\s?/, ''));
      const q = el('blockquote');
      q.append(renderMarkdown(quoted.join('\n'), { headingBase }));
      out.append(q);
      continue;
    }
    const para = [];
    while (
      i < lines.length &&
      lines[i].trim() &&
      !/^\s{0,3}(#{1,6}\s|```|~~~|>|[-*+]\s|\d{1,9}[.)]\s)/.test(lines[i])
    ) {
      para.push(lines[i++]);
    }
    if (para.length === 0) para.push(lines[i++]);
    out.append(paragraph(para));
  }
  return out;
}
