// Drives the web console of a running `sluice serve` in headless Chromium (Debian's
// /usr/bin/chromium, or $CHROMIUM). Usage:
// node run.mjs URL OUTDIR FAILED_ID LONG_ID WIDE_ID RECOVERED_ID
// With $CONSOLE_TOKEN set, the node wants that bearer token and the console must ask for it.
//
// The node serves the console fixture project (examples/wordcount plus flaky, long and wide);
// FAILED_ID is a failed execution of `flaky` whose cause is fixed already, LONG_ID a finished
// execution of the 200-state `long`, WIDE_ID a finished one of `wide` (a Distributed Map of
// 100,000 items), RECOVERED_ID a finished one of `recover` (a state retried, one caught).
// Screenshots go to OUTDIR; the results are printed as one JSON line and the
// process exits non-zero at the first check that fails.

import { chromium } from 'playwright-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [url, outdir, failedId, longId, wideId, recoveredId] = process.argv.slice(2);
if (!recoveredId) {
  console.error('usage: node run.mjs URL OUTDIR FAILED_ID LONG_ID WIDE_ID RECOVERED_ID');
  process.exit(2);
}
mkdirSync(outdir, { recursive: true });
const results = { screenshots: [], overlaps: {}, external: [] };
const WAIT = { timeout: 60000 };

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

async function shot(page, name) {
  const path = join(outdir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  results.screenshots.push(path);
}

/** Overlapping sibling boxes and boxes outside their parent, read from the rendered SVG. */
async function overlaps(page) {
  return page.evaluate(() => {
    const boxes = [...document.querySelectorAll('#graph svg g[data-id]')].map((g) => {
      const b = g.querySelector('rect').getBBox();
      return { id: g.dataset.id, parent: g.dataset.parent, x: b.x, y: b.y, w: b.width, h: b.height };
    });
    const byId = new Map(boxes.map((b) => [b.id, b]));
    const found = [];
    boxes.forEach((a, i) => {
      for (const b of boxes.slice(i + 1)) {
        const apart = a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
        if (a.parent === b.parent && !apart) found.push(`${a.id} overlaps ${b.id}`);
      }
      const p = byId.get(a.parent);
      if (p && (a.x < p.x || a.y < p.y || a.x + a.w > p.x + p.w || a.y + a.h > p.y + p.h)) found.push(`${a.id} is outside ${p.id}`);
    });
    return { boxes: boxes.length, found };
  });
}

/** Milliseconds from loading the console at `hash` (from a blank page) until `selector` is on
 * the page. */
async function firstPaint(page, hash, selector) {
  await page.goto('about:blank');
  const t0 = Date.now();
  await page.goto(`${url}/${hash}`);
  await page.waitForSelector(selector, WAIT);
  return Date.now() - t0;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const origin = new URL(url).origin;
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) results.external.push(r.url()); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  // The token, when the node wants one; then the executions list.
  await page.goto(url);
  if (process.env.CONSOLE_TOKEN) {
    await page.waitForSelector('#token-dialog[open]', WAIT);
    await shot(page, 'token');
    await page.fill('#token-input', process.env.CONSOLE_TOKEN);
    await page.press('#token-input', 'Enter');
    results.askedForToken = true;
  }
  await page.waitForSelector('#executions table', WAIT);
  // An execution started by a script shows up without a reload (the event stream).
  await page.evaluate(async () => {
    const token = sessionStorage.getItem('sluice.token');
    const headers = { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) };
    await fetch('/v1/flows/wordcount/executions', { method: 'POST', headers, body: JSON.stringify({ name: 'from-a-script', input: {} }) });
  });
  await page.waitForSelector('#executions a[href="#/executions/from-a-script"]', WAIT);
  results.liveList = true;
  await shot(page, 'executions');

  // Start examples/wordcount (its ASL flow) from the flow page, after a JSON error shown at its line.
  await page.goto(`${url}/#/flows/wordcount-asl`);
  await page.waitForSelector('#graph svg', WAIT);
  results.overlaps['wordcount-asl'] = await overlaps(page);
  await page.fill('#start-input', '{\n  "source": "raw/",\n  "oops": \n}');
  await page.click('#start-form button[type=submit]');
  const inputError = await page.textContent('#input-error');
  check(/^Line 4\b/.test(inputError), `the JSON error names line 4: ${inputError}`);
  results.inputError = inputError;
  await shot(page, 'flow');
  await page.fill('#start-input', '{}');
  await page.click('#start-form button[type=submit]');
  await page.waitForURL(/#\/executions\/.+/, WAIT);
  results.started = decodeURIComponent(page.url().split('#/executions/')[1]);
  await page.waitForSelector('.badge.SUCCEEDED', WAIT);
  await page.waitForSelector('#graph g[data-name="Reduce"][data-status="succeeded"]', WAIT);
  results.overlaps['wordcount-asl execution'] = await overlaps(page);

  // Open the Map's shard state with the keyboard and read a shard's output.
  await page.focus('#graph g[data-name="CountShard"]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#state .state-output', WAIT);
  results.shardOutput = JSON.parse(await page.textContent('#state .state-output'));
  check(results.shardOutput && typeof results.shardOutput === 'object', 'a shard has an output');
  await shot(page, 'execution-graph');

  // The failed execution: the failing state in red with its error; its Map run; redrive.
  await page.goto(`${url}/#/executions/${encodeURIComponent(failedId)}`);
  await page.waitForSelector('.badge.FAILED', WAIT);
  const failing = await page.waitForSelector('#graph g[data-status="failed"]', WAIT);
  results.failedState = await failing.getAttribute('data-name');
  results.failedFill = await page.evaluate((g) => getComputedStyle(g.querySelector('rect')).fill, failing);
  await failing.click({ position: { x: 30, y: 10 } });
  await page.waitForSelector('#state .state-error', WAIT);
  results.failedError = await page.textContent('#state .state-error');
  results.overlaps.flaky = await overlaps(page);
  await shot(page, 'execution-failed');
  await page.click('#map-runs a');
  await page.waitForSelector('#items table', WAIT);
  await page.waitForSelector('#failed-items table', WAIT);
  results.failedItems = await page.$$eval('#failed-items tbody tr', (rows) => rows.length);
  await shot(page, 'map-run-failed');
  await page.goto(`${url}/#/executions/${encodeURIComponent(failedId)}`);
  await page.waitForSelector('.badge.FAILED', WAIT);
  await page.click('button:has-text("Redrive")');
  await page.waitForSelector('.badge.SUCCEEDED', WAIT);
  await page.waitForSelector('#graph g[data-name="Report"][data-status="succeeded"]', WAIT);
  results.redriven = await page.textContent('.badge');
  await page.click('#map-runs a');
  await page.waitForSelector('#items table', WAIT);
  await shot(page, 'map-run');
  await page.click('#items tbody tr:first-child a');
  await page.waitForSelector('#graph g[data-name="Square"][data-status="succeeded"]', WAIT);
  await page.click('a:has-text("Squares:")');
  await page.waitForSelector('#items table', WAIT);
  results.childAndBack = true;

  // A state that succeeded on its retry, one whose error was caught.
  await page.goto(`${url}/#/executions/${encodeURIComponent(recoveredId)}`);
  await page.waitForSelector('#graph g[data-name="Recovered"][data-status="succeeded"]', WAIT);
  results.recovered = await page.$$eval('#graph g[data-name]', (gs) => Object.fromEntries(gs.map((g) => [g.dataset.name, g.dataset.status])));
  await shot(page, 'execution-recovered');

  // The other pages.
  for (const name of ['functions', 'queues', 'cdc']) {
    await page.goto(`${url}/#/${name}`);
    await page.waitForSelector('main h1', WAIT);
    await page.waitForTimeout(300);
    await shot(page, name);
  }
  await page.goto(`${url}/#/functions`);
  await page.waitForSelector('main table', WAIT);
  results.functions = await page.$$eval('main tbody tr', (rows) => Object.fromEntries(rows.map((r) => {
    const cells = [...r.querySelectorAll('td')].map((td) => td.textContent);
    return [cells[0], { invocations: Number(cells[5]), errors: Number(cells[6]), p50: cells[7], p99: cells[8] }];
  })));

  // First paint of big runs: a 200-state flow, a Map of 100,000 items.
  results.longFirstPaintMs = await firstPaint(page, `#/executions/${encodeURIComponent(longId)}`, '#graph g[data-name="Step199"][data-status="succeeded"]');
  results.overlaps.long = await overlaps(page);
  await page.goto(`${url}/#/executions/${encodeURIComponent(wideId)}`);
  await page.waitForSelector('#map-runs a', WAIT);
  const wideRun = await page.getAttribute('#map-runs a', 'href');
  results.wideFirstPaintMs = await firstPaint(page, wideRun, '#items tbody tr');
  results.wideRows = await page.$$eval('#items tbody tr', (r) => r.length);
  await shot(page, 'map-run-wide');
  results.pageErrors = errors;
} finally {
  await browser.close();
}
writeFileSync(join(outdir, 'results.json'), JSON.stringify(results, null, 2));
console.log(JSON.stringify(results));
