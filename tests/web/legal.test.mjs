// The operator's legal notice on /legal, rendered as safe Markdown (issue 17, section 4.8):
// "# Operator" is a heading, not a raw "#"; HTML in the notice shows as text and never
// becomes elements; links survive only for http(s) and mailto addresses.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { guard, launchBrowser, screenshot, startServer } from './harness.mjs';

const NOTICE = [
  '# Operator',
  '',
  'Example Ltd, **1 Main Street**, _Springfield_',
  'Registered as `EX-123`.',
  '<script>window.__ran = true</script>',
  '<img src="/x" onerror="window.__ran = true">',
  '',
  '## Contact',
  '',
  '- Legal: [legal@example.com](mailto:legal@example.com)',
  '- [not a link](javascript:window.__ran=true)',
  '- Terms: <https://example.com/terms>',
  '',
  '1. first',
  '2. second',
].join('\n');

let work;
let server;
let browser;

before(async () => {
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'sealdrop-web-legal-'));
  const notice = path.join(work, 'notice.md');
  await fsp.writeFile(notice, NOTICE);
  server = await startServer({ args: ['--abuse-contact', 'abuse@example.com', '--legal-notice-file', notice] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

test('the legal notice is rendered as safe Markdown', async () => {
  const p = await browser.newPage();
  const g = await guard(p, server.base);
  await p.goto(`${server.base}/legal`);
  await p.waitForSelector('div#legal-notice');
  const seen = await p.evaluate(() => {
    const box = document.getElementById('legal-notice');
    return {
      h3: [...box.querySelectorAll('h3')].map((h) => h.textContent),
      h4: [...box.querySelectorAll('h4')].map((h) => h.textContent),
      strong: box.querySelector('strong')?.textContent,
      em: box.querySelector('em')?.textContent,
      code: box.querySelector('code')?.textContent,
      elements: [...box.querySelectorAll('*')].map((e) => e.nodeName.toLowerCase()),
      links: [...box.querySelectorAll('a')].map((a) => a.getAttribute('href')),
      items: [...box.querySelectorAll('ul li, ol li')].map((li) => li.textContent),
      text: box.textContent,
      ran: Boolean(window.__ran),
    };
  });
  assert.deepEqual(seen.h3, ['Operator']);
  assert.deepEqual(seen.h4, ['Contact']);
  assert.equal(seen.strong, '1 Main Street');
  assert.equal(seen.em, 'Springfield');
  assert.equal(seen.code, 'EX-123');
  for (const tag of ['script', 'img', 'iframe', 'style']) assert.ok(!seen.elements.includes(tag), `no <${tag}>`);
  assert.ok(seen.text.includes('<script>window.__ran = true</script>'), 'HTML shows as text');
  assert.deepEqual(seen.links, ['mailto:legal@example.com', 'https://example.com/terms']);
  assert.deepEqual(seen.items, [
    'Legal: legal@example.com',
    'not a link',
    'Terms: https://example.com/terms',
    'first',
    'second',
  ]);
  assert.equal(seen.ran, false);
  assert.equal(seen.text.includes('#'), false, 'no raw "#"');
  await screenshot(p, 'legal-markdown');
  await g.assertClean();
  await p.close();
});
