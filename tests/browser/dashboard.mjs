// dashboard.mjs - the dashboard end to end in headless Chromium (Debian's,
// driven by playwright-core): starts tpsd-sim, points the fake `lms` at it,
// starts `tpsd serve` on a fresh database, then in the page: a refused
// submission shows the API's message; a job submitted from the form streams
// its progress live; the leaderboard, a trend chart and its numbers table
// show the job's figures exactly as the API gives them; failures show their
// reasons; a depth sweep's charts hold the report's depth table; no request
// leaves loopback and the console stays clean.
// Screenshots go to $TPSD_ARTIFACTS (default ./artifacts).
//
// Environment: TPSD_BIN, TPSD_SIM, TPSD_SRC (set by ctest), CHROMIUM (set by
// run.sh), TPSD_ARTIFACTS.
// With --measure DB it only times the first load of the page against a copy
// of the database DB (e.g. a year of history) and prints the figures.
//
// Exit: 0 passed, 1 failed (the reason on stderr).

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const T0 = Date.now();
const BIN = process.env.TPSD_BIN;
const SIM = process.env.TPSD_SIM;
const SRC = process.env.TPSD_SRC || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const CHROME = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.resolve(process.env.TPSD_ARTIFACTS || path.join(SRC, 'tests/artifacts'));
const JOB_TIMEOUT_MS = 240000;
const MEASURE_RUNS = 5;

const children = [];
let tmp = '';

function log(...a) {
  console.log(`[${((Date.now() - T0) / 1000).toFixed(1)}s]`, ...a);
}

class Failure extends Error {}
function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}
function checkEq(got, want, what) {
  if (got !== want) throw new Failure(`${what}: page shows ${JSON.stringify(got)}, API says ${JSON.stringify(want)}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* ---- processes ---- */

function start(bin, args, env, name) {
  const out = fs.openSync(path.join(tmp, name + '.stdout'), 'w');
  const err = fs.openSync(path.join(tmp, name + '.stderr'), 'w');
  const p = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', out, err] });
  p.exitInfo = null;
  p.exited = new Promise((resolve) => p.on('exit', (code, sig) => { p.exitInfo = { code, sig }; resolve(p.exitInfo); }));
  p.tpsdName = name;
  children.push(p);
  return p;
}

function tail(name, n = 30) {
  try {
    return fs.readFileSync(path.join(tmp, name + '.stderr'), 'utf8').split('\n').slice(-n).join('\n');
  } catch (e) {
    return '';
  }
}

async function stop(p, ms = 10000) {
  if (p.exitInfo) return p.exitInfo;
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), ms);
  const info = await p.exited;
  clearTimeout(t);
  return info;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function httpJson(url, init) {
  const r = await fetch(url, init);
  const text = await r.text();
  let body = null;
  try { body = JSON.parse(text); } catch (e) { body = text; }
  return { status: r.status, body };
}

async function waitFor(what, fn, ms, p) {
  const end = Date.now() + ms;
  for (;;) {
    if (p && p.exitInfo) throw new Failure(`${what}: ${p.tpsdName} exited ${JSON.stringify(p.exitInfo)}\n${tail(p.tpsdName)}`);
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { /* not yet */ }
    if (Date.now() > end) throw new Failure(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const SIM_CONFIG = {
  models: [
    {
      // Passes every validator of the standard suite.
      key: 'sim/alpha', ttft_ms: 30, tps: 400, output_tokens: 120, size_bytes: 2e9, load_ms: 200,
      text: 'def f( Gradient ANSWER: Ben Title: 1. 2. 3. Summary: ',
    },
    {
      // Capacity (sim_batch.c): 100 tok/s per stream, 200 tok/s shared, so
      // decode p5 >= 72 holds up to 2 users.
      key: 'sim/cap', ttft_ms: 30, tps: 100, output_tokens: 20, budget_tps: 200, size_bytes: 2e9, load_ms: 100,
      text: 'def f( Gradient ANSWER: Ben Title: 1. 2. 3. Summary: ',
    },
    {
      // Fails validators, and every 5th request answers HTTP 500.
      key: 'sim/beta', ttft_ms: 60, tps: 250, output_tokens: 120, size_bytes: 3e9, load_ms: 400,
      format: 'mlx', quant: '4bit', text: 'hello world ', fault: { http_500: true, every: 5 },
    },
  ],
};

async function startSim() {
  fs.writeFileSync(path.join(tmp, 'sim.json'), JSON.stringify(SIM_CONFIG));
  const portFile = path.join(tmp, 'sim.port');
  const p = start(SIM, ['--port', '0', '--port-file', portFile, '--config', path.join(tmp, 'sim.json'), '--exit-with-parent'], {}, 'sim');
  const port = await waitFor('tpsd-sim', async () => {
    const n = Number(fs.readFileSync(portFile, 'utf8'));
    if (!(n > 0)) return 0;
    const r = await fetch(`http://127.0.0.1:${n}/v1/models`);
    return r.ok ? n : 0;
  }, 20000, p);
  return `http://127.0.0.1:${port}`;
}

async function startTpsd(db, simUrl, extra = [], name = 'tpsd', upMs = 30000) {
  // The fake lms reads ~/.lmstudio/fake-lms.json (tpsd passes lms a clean
  // environment, so HOME is what reaches it).
  const home = path.join(tmp, 'home');
  fs.mkdirSync(path.join(home, '.lmstudio'), { recursive: true });
  fs.writeFileSync(path.join(home, '.lmstudio', 'fake-lms.json'), JSON.stringify({ sim: simUrl, log: path.join(tmp, 'lms-argv.log') }));
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const env = { HOME: home, TPSD_CONFIG: '', TPSD_DB: '' };
    const p = start(BIN, ['serve', '--db', db, '--listen-port', String(port), '--lms', path.join(SRC, 'tests/fake-lms'),
      '--base-url', simUrl, ...extra], env, name);
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor('tpsd serve', async () => (await fetch(base + '/')).ok, upMs, p);
      return { p, base };
    } catch (e) {
      if (!p.exitInfo || !/cannot listen/.test(tail(name))) throw e;
      log(`port ${port} was taken; trying another`);
    }
  }
  throw new Failure('tpsd serve: no free port');
}

/* ---- the browser ---- */

async function launch() {
  return chromium.launch({
    executablePath: CHROME,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions'],
  });
}

/* Record every request and every console error of a context's pages. */
function watch(context, page, base) {
  const w = { requests: [], errors: [], allowed: [], revalidated: 0 };
  context.on('request', (r) => {
    w.requests.push(r.url());
    // The history answers are polled with If-None-Match (the browser adds
    // it, and turns the server's 304 into the cached answer).
    if (/\/v1\/(models|trends|regressions)/.test(r.url()))
      r.allHeaders().then((hd) => { if (hd['if-none-match']) w.revalidated++; }).catch(() => {});
  });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    const i = w.allowed.findIndex((re) => re.test(text));
    if (i >= 0) w.allowed.splice(i, 1);
    else w.errors.push(text);
  });
  page.on('pageerror', (e) => w.errors.push('uncaught: ' + e.message));
  w.check = () => {
    const outside = w.requests.filter((u) => !(u.startsWith(base + '/') || u === base || u.startsWith('blob:' + base) || u.startsWith('data:')));
    check(outside.length === 0, 'requests left loopback: ' + outside.join(', '));
    check(w.errors.length === 0, 'console errors: ' + w.errors.join(' | '));
  };
  return w;
}

async function shot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  log('screenshot', file);
}

/* Navigation start to every panel rendered (the page's 'tpsd-ready' mark).
 * With `parts`, also when the page's script started and when the data was
 * drawn (before the paint that 'tpsd-ready' waits for). */
async function loadTime(page, base, parts) {
  await page.goto(base + '/', { waitUntil: 'domcontentloaded' });
  /* Wait in the page for the ready mark with a MutationObserver: Playwright's
   * waitForSelector polls from the page on every animation frame, and that
   * work fell on the load being timed (renderer CPU 1.3 -> 1.1 s a load). */
  await page.evaluate((ms) => new Promise((resolve, reject) => {
    const d = document.documentElement;
    if (d.getAttribute('data-ready') === '1') return resolve();
    const timer = setTimeout(() => reject(new Error('page not ready after ' + ms + ' ms')), ms);
    new MutationObserver((_, o) => {
      if (d.getAttribute('data-ready') !== '1') return;
      o.disconnect();
      clearTimeout(timer);
      resolve();
    }).observe(d, { attributes: true, attributeFilter: ['data-ready'] });
  }), 30000);
  const t = await page.evaluate(() => {
    const m = (n) => performance.getEntriesByName(n)[0].startTime;
    return { ready: m('tpsd-ready'), start: m('tpsd-start'), rendered: m('tpsd-rendered') };
  });
  if (parts) parts.push(t);
  return t.ready;
}

const text = (page, sel) => page.locator(sel).first().innerText();
const fmt = (v, d) => (typeof v === 'number' && isFinite(v) ? v.toFixed(d) : '—');
const pct = (v) => (typeof v === 'number' && isFinite(v) ? (v * 100).toFixed(0) + '%' : '—');

/* ---- the test ---- */

async function mainTest() {
  const simUrl = await startSim();
  const { p: tpsd, base } = await startTpsd(path.join(tmp, 'tpsd.db'), simUrl,
    ['--capacity-step-requests', '8', '--capacity-step-s', '0', '--capacity-max-concurrency', '4']);
  log('tpsd at', base, 'sim at', simUrl);
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const w = watch(context, page, base);
  let ok = false;
  try {
    const firstMs = await loadTime(page, base);
    log(`first load (empty database): ${firstMs.toFixed(0)} ms`);
    await shot(page, '01-empty');
    check(await page.locator('#board-body').innerText() !== 'Loading…', 'leaderboard never rendered');

    // 1. A refused submission shows the API's own message.
    const badSpec = { models: ['sim/alpha'], suite: 'standard', kind: 'benchmark', warmup: 1, repetitions: 0, load_pattern: { type: 'sequential' } };
    const refused = await httpJson(base + '/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(badSpec) });
    check(refused.status === 400, 'the API accepted repetitions 0');
    w.allowed.push(/status of 400/);
    await page.fill('#f-models', 'sim/alpha');
    await page.fill('#f-reps', '0');
    await page.click('#f-submit');
    await page.waitForSelector('#submit-msg.error');
    const msg = await text(page, '#submit-msg');
    check(msg.includes(refused.body.error.message), `form error "${msg}" lacks the API's "${refused.body.error.message}"`);
    log('refused submission shows:', msg);

    // 2. A job from the form, watched live.
    await page.fill('#f-models', 'sim/alpha\nsim/beta');
    await page.fill('#f-name', 'browser e2e');
    await page.selectOption('#f-suite', 'standard');
    await page.fill('#f-reps', '2');
    await page.fill('#f-warmup', '1');
    await page.selectOption('#f-load', 'sequential');
    await page.press('#f-submit', 'Enter');
    await page.waitForSelector('#submit-msg.ok');
    const jobId = Number((await text(page, '#submit-msg')).match(/#(\d+)/)[1]);
    log('submitted job', jobId);
    await page.waitForSelector(`#jobs-body tr[data-job="${jobId}"]`);

    const seen = { progress: new Set(), models: new Set(), cases: new Set(), done: [] };
    let midShot = false;
    const end = Date.now() + JOB_TIMEOUT_MS;
    let sampleRow = null;
    for (;;) {
      check(!tpsd.exitInfo, 'tpsd exited during the job: ' + tail('tpsd'));
      const st = await page.evaluate(() => ({
        state: document.querySelector('#live-state')?.innerText || '',
        progress: document.querySelector('#live-progress-text')?.innerText || '',
        value: document.querySelector('#live-progress')?.value ?? 0,
        model: document.querySelector('#live-model')?.innerText || '',
        case: document.querySelector('#live-case')?.innerText || '',
        first: (() => {
          const tr = document.querySelector('#live-samples-body tr[data-seq]');
          if (!tr) return null;
          return { seq: Number(tr.dataset.seq), run: Number(tr.dataset.run),
            ttft: tr.querySelector('[data-k="ttft_ms"]').innerText, decode: tr.querySelector('[data-k="decode_tps"]').innerText };
        })(),
      }));
      if (st.progress && st.progress.trim() !== '—') {
        if (!seen.progress.has(st.progress)) seen.done.push(st.value);
        seen.progress.add(st.progress);
      }
      if (st.model && st.model !== '—') seen.models.add(st.model.replace(/ \(.*$/, ''));
      if (st.case && st.case !== '—') seen.cases.add(st.case.replace(/,.*$/, ''));
      if (st.first && !sampleRow && st.state === 'running') sampleRow = st.first;
      if (!midShot && st.state === 'running' && st.value >= 4) {
        await shot(page, '02-live');
        midShot = true;
      }
      if (/succeeded|failed|cancelled|interrupted/.test(st.state)) {
        log('job ended in the page:', st.state);
        break;
      }
      check(Date.now() < end, 'the job did not finish in time');
      await sleep(100);
    }
    const job = (await httpJson(`${base}/v1/jobs/${jobId}`)).body;
    checkEq((await text(page, '#live-state')).trim(), job.state, 'final state');
    check(job.state === 'succeeded', `job ${jobId} ${job.state}: ${job.error_code} ${job.error_detail}`);
    log(`live: ${seen.progress.size} progress values, models ${[...seen.models].join(', ')}, cases ${[...seen.cases].join(', ')}`);
    check(seen.progress.size >= 4, `progress updated only ${seen.progress.size} times while the job ran`);
    check(seen.models.has('sim/alpha') && seen.models.has('sim/beta'), 'the live view did not show both models: ' + [...seen.models]);
    check(seen.cases.size >= 3, 'the live view showed too few cases: ' + [...seen.cases]);
    check(midShot, 'no screenshot while running');

    // The live samples' figures are the stored ones.
    check(sampleRow !== null, 'no sample row while the job ran');
    const samples = (await httpJson(`${base}/v1/runs/${sampleRow.run}/samples?limit=5000`)).body.samples;
    const sm = samples.find((x) => x.seq === sampleRow.seq);
    check(sm, `sample seq ${sampleRow.seq} of run ${sampleRow.run} not in the API`);
    checkEq(sampleRow.ttft, fmt(sm.ttft_ms, 1), `live TTFT of seq ${sm.seq}`);
    checkEq(sampleRow.decode, fmt(sm.decode_tps, 2), `live decode TPS of seq ${sm.seq}`);

    // Failed requests are listed with their reasons.
    const reasons = await page.locator('#live-reasons').textContent();
    check(/http_500/.test(reasons), 'the live view does not show the HTTP 500 failures: ' + reasons);
    check(/validation/.test(reasons), 'the live view does not show validation failures');
    await shot(page, '03-finished');

    // 3. The leaderboard shows the API's numbers.
    const models = await waitFor('leaderboard', async () => {
      const m = (await httpJson(base + '/v1/models')).body.models;
      if (m.length < 2) return null;
      const rows = await page.locator('#board-body tr[data-model]').count();
      return rows >= 2 ? m : null;
    }, 20000);
    for (const mo of models) {
      const row = page.locator(`#board-body tr[data-model="${mo.model}"]`);
      const cell = async (k) => (await row.locator(`[data-k="${k}"]`).innerText()).trim();
      const tps = mo.cases.map((c) => c.latest_e2e_tps).filter((v) => typeof v === 'number');
      checkEq(await cell('rank'), String(mo.rank), `${mo.model} rank`);
      checkEq(await cell('avg_e2e_tps'), fmt(mo.avg_e2e_tps, 2), `${mo.model} e2e TPS`);
      checkEq(await cell('avg_decode_tps'), fmt(mo.avg_decode_tps, 2), `${mo.model} decode TPS`);
      checkEq(await cell('range'), fmt(Math.min(...tps), 2) + '–' + fmt(Math.max(...tps), 2), `${mo.model} range`);
      checkEq(await cell('pass_rate'), pct(mo.pass_rate), `${mo.model} pass rate`);
      checkEq(await cell('tps_per_gb'), fmt(mo.tps_per_gb, 3), `${mo.model} TPS/GB`);
      checkEq(await cell('size_gb'), fmt(mo.model_size_bytes / 1e9, 1), `${mo.model} size`);
      checkEq(await cell('load_s'), fmt(mo.load_ms / 1000, 1), `${mo.model} load time`);
      log(`leaderboard ${mo.model}: ${fmt(mo.avg_e2e_tps, 2)} tok/s e2e, pass ${pct(mo.pass_rate)}: matches the API`);
    }
    check(models.find((m) => m.model === 'sim/beta').pass_rate < 1, 'sim/beta should have failures');

    // 4. The decode TPS chart draws the job's points, and its numbers table
    // holds exactly what the API answers for the chart's own query.
    const chart = page.locator('#chart-decode_tps');
    await waitFor('trend lines', async () => (await chart.locator('g.series').count()) >= 10, 20000);
    for (const m of ['sim/alpha', 'sim/beta']) {
      const d = await chart.locator(`g.series[data-model="${m}"] path`).first().getAttribute('d');
      check(d && d.startsWith('M'), `no line for ${m}`);
    }
    const axis = await chart.locator('.chart-body svg').innerHTML();
    check(axis.includes('(tok/s)') && axis.includes('time (local)'), 'chart axes lack units');
    await chart.locator('button[aria-controls="chart-decode_tps-numbers"]').click();
    const url = await chart.locator('a.json').getAttribute('href');
    const trends = (await httpJson(base + url)).body;
    let compared = 0;
    for (const se of trends.series) {
      for (const pt of se.points) {
        const row = chart.locator(`.numbers tr[data-model="${se.model}"][data-case="${se.case}"][data-t="${pt.t}"]`);
        checkEq(await row.count(), 1, `rows for ${se.model} ${se.case} at ${pt.t}`);
        for (const k of ['mean', 'p50', 'p90', 'min', 'max']) checkEq((await row.locator(`[data-k="${k}"]`).innerText()).trim(), fmt(pt[k], 2), `${se.model} ${se.case} decode TPS ${k}`);
        compared++;
      }
    }
    check(compared >= 10, `only ${compared} trend points compared`);
    log(`trend chart: ${compared} points match ${url}`);
    const csvHref = await chart.locator('a.csv').evaluate((a) => { a.click(); return a.href; });
    check(csvHref.startsWith('blob:'), 'the CSV link is not a local file');
    await chart.scrollIntoViewIfNeeded();
    await shot(page, '04-trends-numbers');

    // 5. A job that fails shows its reason in the queue and in the failures.
    const fail = await httpJson(base + '/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ models: ['sim/missing'], suite: 'standard', repetitions: 1 }) });
    check(fail.status === 201, 'could not submit the failing job');
    const failed = await waitFor('the failing job', async () => {
      const j = (await httpJson(`${base}/v1/jobs/${fail.body.id}`)).body;
      return /failed/.test(j.state) ? j : null;
    }, 60000);
    const reasonCell = page.locator(`#jobs-body tr[data-job="${failed.id}"] td.reason`);
    await waitFor('the failed job in the queue', async () => (await reasonCell.innerText()).includes(failed.error_code), 20000);
    checkEq((await reasonCell.innerText()).trim(), `${failed.error_code}: ${failed.error_detail}`, 'failed job reason');
    await waitFor('the failures panel', async () => (await page.locator(`#fail-body tr[data-job="${failed.id}"]`).count()) > 0, 20000);
    check((await page.locator('#fail-body').innerText()).includes('failed_requests'), 'failed requests of sim/beta not listed');
    await page.locator('#failures').scrollIntoViewIfNeeded();
    await shot(page, '05-failures');

    // 6. A stability job from the form: its panel shows the verdicts, and
    // the per-window chart's numbers are the API's.
    await page.selectOption('#f-kind', 'stability');
    await page.fill('#f-models', 'sim/alpha');
    await page.fill('#f-name', 'browser stability');
    await page.fill('#f-duration', '12');
    await page.fill('#f-interval', '0');
    await page.click('#f-submit');
    await page.waitForSelector('#submit-msg.ok');
    const stabId = Number((await text(page, '#submit-msg')).match(/#(\d+)/)[1]);
    log('submitted stability job', stabId);
    await page.waitForSelector('#stability:not([hidden])', { timeout: 30000 });
    await waitFor('the stability job', async () => /succeeded|failed/.test(await text(page, '#live-state')), JOB_TIMEOUT_MS);
    const stabJob = (await httpJson(`${base}/v1/jobs/${stabId}`)).body;
    check(stabJob.state === 'succeeded', `stability job ${stabJob.state}: ${stabJob.error_code} ${stabJob.error_detail}`);
    const tpsCard = page.locator('#stability .chart[data-metric^="stab-tps-"]').first();
    const stabUrl = await tpsCard.locator('a.json').getAttribute('href');
    const stab = (await httpJson(base + stabUrl)).body;
    const run0 = stab.runs[0];
    await waitFor('the final stability panel', async () => (await page.locator('#stability').innerText()).includes('succeeded'), 20000);
    for (const k of ['leak', 'drift_decode_tps', 'drift_ttft_ms', 'errors']) {
      check(await page.locator(`#stability [data-verdict="${k}"] .badge`).count() === 1, `no ${k} verdict in the stability panel`);
    }
    checkEq((await page.locator('#stability [data-verdict="leak"] .badge').innerText()).trim(), run0.memory.server.verdict, 'server memory verdict');
    await tpsCard.locator('button[aria-controls$="-numbers"]').click();
    let wins = 0;
    for (const win of run0.windows) {
      if (typeof win.decode_tps.mean !== 'number') continue;
      const cell = tpsCard.locator(`.numbers tr[data-series="mean"][data-t="${win.start_at}"] [data-k="value"]`);
      checkEq((await cell.innerText()).trim(), fmt(win.decode_tps.mean, 2), `window ${win.index} decode TPS mean`);
      wins++;
    }
    check(wins >= 2, `only ${wins} stability windows compared`);
    log(`stability panel: verdict ${run0.memory.server.verdict}, ${wins} windows match ${stabUrl}`);
    await page.locator('#stability').scrollIntoViewIfNeeded();
    await shot(page, '06-stability');

    // 6b. The Compare panel: the first job against itself (every row "no
    // significant difference"), its rows the API's, number for number.
    await page.selectOption('#cmp-a', String(jobId));
    await page.selectOption('#cmp-b', String(jobId));
    await page.fill('#cmp-seed', '7');
    await page.click('#cmp-go');
    const cmpUrl = `${base}/v1/compare?a=job:${jobId}&b=job:${jobId}&seed=7`;
    const cmp = (await httpJson(cmpUrl)).body;
    check(cmp && cmp.rows && cmp.rows.length > 0, 'GET /v1/compare gave no rows');
    await waitFor('the compare table', async () => (await page.locator('#cmp-body tr[data-verdict]').count()) === cmp.rows.length, 20000);
    const cmpRows = await page.locator('#cmp-body tr[data-verdict]').evaluateAll((trs) =>
      trs.map((tr) => [...tr.cells].map((td) => td.innerText.trim())));
    cmp.rows.forEach((r, i) => {
      check(r.verdict === 'no_significant_difference' || r.verdict === 'insufficient_data',
        `job ${jobId} against itself: ${r.case} ${r.figure} ${r.verdict}`);
      checkEq(cmpRows[i][1], r.figure, 'compare row figure');
      checkEq(cmpRows[i][2], `${r.n_a}/${r.n_b}`, 'compare row n');
      if (typeof r.median_a === 'number') checkEq(cmpRows[i][3], r.median_a.toFixed(2), 'compare row median A');
    });
    check((await text(page, '#cmp-msg')).includes('seed 7'), 'the compare panel does not show the seed');
    log(`compare panel: ${cmp.rows.length} rows match ${cmpUrl}`);
    await page.locator('#compare').scrollIntoViewIfNeeded();
    await shot(page, '06b-compare');

    // 6c. A capacity job: its panel draws the curve, and the numbers one
    // click away are the API's, step for step.
    const capSpec = {
      models: ['sim/cap'], kind: 'capacity', warmup: 0, service_level: { decode_tps_p5: 72 },
      suite: { name: 'cap', cases: [{ name: 'short', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }] },
    };
    const capPost = await httpJson(base + '/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(capSpec) });
    check(capPost.status === 201, `capacity job refused: ${JSON.stringify(capPost.body)}`);
    const capId = capPost.body.id;
    await page.waitForSelector(`#jobs-body tr[data-job="${capId}"]`, { timeout: 30000 });
    await page.click(`#jobs-body tr[data-job="${capId}"] button[aria-label="Watch job ${capId}"]`);
    await page.waitForSelector('#capacity:not([hidden])', { timeout: 30000 });
    await waitFor('the capacity job', async () => /succeeded|failed/.test(await text(page, '#live-state')), JOB_TIMEOUT_MS);
    const capUrl = `${base}/v1/jobs/${capId}/capacity`;
    const capRun = (await httpJson(capUrl)).body.models[0];
    check(capRun.capacity === 2, `capacity of sim/cap: ${capRun.capacity}, want 2`);
    check(capRun.steps.every((st) => st.n_failed === 0), 'sim/cap requests failed');
    await waitFor('the final capacity panel', async () => (await text(page, '#capacity [data-k="capacity"]')).startsWith('2 concurrent users'), 20000);
    check(await page.locator('#capacity .cap-chart').count() === 2, 'the capacity panel lacks its two curves');
    await page.click('#capacity details summary');
    for (const st of capRun.steps) {
      const row = page.locator(`#capacity .cap-table tr[data-load="${st.concurrency}"]`);
      checkEq((await row.locator('[data-k="decode_p50_tps"]').innerText()).trim(), fmt(st.decode_p50_tps, 1), `c=${st.concurrency} decode p50`);
      checkEq((await row.locator('[data-k="total_tps"]').innerText()).trim(), fmt(st.total_tps, 1), `c=${st.concurrency} total tok/s`);
      checkEq((await row.locator('[data-k="goodput_rps"]').innerText()).trim(), fmt(st.goodput_rps, 2), `c=${st.concurrency} goodput`);
    }
    // The model's capacity over time (GET /v1/capacity): this search is in it.
    await page.click('#capacity .cap-history summary');
    await waitFor('the capacity history', async () => (await page.locator(`#capacity .cap-history tr[data-job="${capId}"]`).count()) === 1, 20000);
    checkEq((await page.locator(`#capacity .cap-history tr[data-job="${capId}"] td.num`).first().innerText()).trim(), '2 users', 'capacity history');
    log(`capacity panel: capacity ${capRun.capacity}, ${capRun.steps.length} steps match ${capUrl}`);
    await page.locator('#capacity').scrollIntoViewIfNeeded();
    await shot(page, '06c-capacity');
    // 6d. A depth sweep (issue 16): its panel draws decode and prefill
    // speed and TTFT against depth, one line per model, and each chart's
    // numbers are the report JSON's depth rows, number for number.
    const dsub = await httpJson(base + '/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'browser depth', models: ['sim/alpha', 'sim/beta'], suite: 'depth', depths: [0, 512, 2048],
        repetitions: 1, warmup: 0 }) });
    check(dsub.status === 201, 'could not submit the depth job: ' + JSON.stringify(dsub.body));
    const depthId = dsub.body.id;
    await page.waitForSelector(`#jobs-body tr[data-job="${depthId}"] [data-focus^="watch-"]`);
    await page.click(`#jobs-body tr[data-job="${depthId}"] [data-focus^="watch-"]`);
    await waitFor('the depth job', async () => /succeeded|failed/.test((await httpJson(`${base}/v1/jobs/${depthId}`)).body.state), JOB_TIMEOUT_MS);
    await page.waitForSelector('#depth:not([hidden]) .chart', { timeout: 30000 });
    const drep = (await httpJson(`${base}/v1/jobs/${depthId}/report?format=json`)).body;
    const druns = drep.runs.filter((r) => Array.isArray(r.depth));
    check(druns.length === 2, `the depth report has ${druns.length} runs with a depth table`);
    let dcompared = 0;
    for (const [key, digits] of [['decode_tps', 2], ['prefill_tps', 1], ['ttft_ms', 0]]) {
      const card = page.locator(`#depth .chart[data-metric="depth-${key}"]`);
      for (const run of druns) {
        const drawn = run.depth.filter((r) => !r.warm && typeof r[key] === 'number').length;
        const points = async () => ((await card.locator(`g.series[data-model="${run.model}"] path`).first()
          .getAttribute('d')) || '').match(/[ML]/g)?.length || 0;
        // The panel may have been drawn while the job ran; the page redraws
        // it from the final report once the job ends (refreshAfterJob).
        await waitFor(`${key}: the line of ${run.model} from the final report`, async () => (await points()) === drawn, 30000)
          .catch(() => {});
        checkEq(await points(), drawn, `${key}: points on the line of ${run.model}`);
      }
      await card.locator('button[aria-controls$="-numbers"]').click();
      for (const run of druns) {
        for (const r of run.depth) {
          const cell = card.locator(`.numbers tr[data-model="${run.model}"][data-depth="${r.depth}"][data-warm="0"] [data-k="value"]`);
          checkEq((await cell.innerText()).trim(), fmt(r[key], digits), `${run.model} ${key} at depth ${r.depth}`);
          dcompared++;
        }
      }
    }
    check(dcompared === 18, `only ${dcompared} depth numbers compared`);
    log(`depth panel: ${dcompared} numbers match /v1/jobs/${depthId}/report?format=json`);
    await page.locator('#depth').scrollIntoViewIfNeeded();
    await shot(page, '06d-depth');

    // 7. Keyboard: the form is reachable and labelled.
    for (const id of ['f-models', 'f-suite', 'f-reps', 'f-load', 't-model', 't-case', 't-range', 't-bucket']) {
      const label = await page.locator(`label[for="${id}"]`).count();
      check(label === 1, `#${id} has no label`);
    }

    // 8. A reload is served from revalidated caches (304s) and is as clean.
    const reloadMs = await loadTime(page, base);
    log(`reload: ${reloadMs.toFixed(0)} ms`);
    await shot(page, '07-reloaded');
    w.check();
    check(w.revalidated > 0, 'the page never revalidated the history with If-None-Match');
    log(`${w.requests.length} requests, all to ${base} (${w.revalidated} revalidated with If-None-Match); no console errors`);
    ok = true;
    return { firstMs, reloadMs, jobId, simUrl };
  } finally {
    if (!ok) {
      try { await shot(page, '99-failure'); } catch (e) { /* best effort */ }
    }
    await browser.close();
    const info = await stop(tpsd);
    if (ok) check(info.code === 0, `tpsd serve exited ${JSON.stringify(info)} (sanitizer report?)\n${tail('tpsd')}`);
  }
}

/* A server that wants a bearer token: the page loads without it, asks for
 * it, then shows everything and follows a job live (the event stream read
 * with fetch, since EventSource cannot send the header). */
async function tokenTest(simUrl) {
  const tokFile = path.join(tmp, 'token');
  fs.writeFileSync(tokFile, 'tok-' + process.pid + '\n', { mode: 0o600 });
  const { p: tpsd, base } = await startTpsd(path.join(tmp, 'token.db'), simUrl, ['--token-file', tokFile], 'tpsd-token');
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const w = watch(context, page, base);
  let ok = false;
  try {
    w.allowed.push(...Array(100).fill(/status of 401/));
    await page.goto(base + '/');
    await page.waitForSelector('#token-form:not([hidden])');
    await page.fill('#token', 'wrong');
    await page.press('#token', 'Enter');
    await page.waitForSelector('#token-form:not([hidden])');
    check(/refused/.test(await text(page, '#token-msg')), 'a wrong token is not reported');
    await page.fill('#token', 'tok-' + process.pid);
    await page.press('#token', 'Enter');
    await waitFor('health with the token', async () => /^Healthy/.test(await text(page, '#health')), 20000);
    await page.fill('#f-models', 'sim/alpha');
    await page.fill('#f-reps', '1');
    await page.selectOption('#f-kind', 'benchmark');
    await page.click('#f-submit');
    await page.waitForSelector('#submit-msg.ok');
    await waitFor('the job over the token stream', async () => /succeeded/.test(await text(page, '#live-state')), JOB_TIMEOUT_MS, tpsd);
    const rows = await page.locator('#live-samples-body tr[data-seq]').count();
    check(rows >= 5, `only ${rows} live samples arrived over the fetch stream`);
    await waitFor('the leaderboard with the token', async () => (await page.locator('#board-body tr[data-model="sim/alpha"]').count()) === 1, 20000);
    await shot(page, '08-token');
    const n401 = 100 - w.allowed.length;
    w.check();
    log(`token: the page asked for it (${n401} refused requests before), then streamed ${rows} samples live`);
    ok = true;
  } finally {
    if (!ok) {
      try { await shot(page, '99-token-failure'); } catch (e) { /* best effort */ }
    }
    await browser.close();
    const info = await stop(tpsd);
    if (ok) check(info.code === 0, `tpsd serve (token) exited ${JSON.stringify(info)}\n${tail('tpsd-token')}`);
  }
}

/* Time the first load against a copy of an existing database, in three
 * views: the page's defaults (the last 30 days; one case when all of them
 * would be too many lines), the last year of that case, and the last year
 * of every model and case (the heaviest view). The page's clock is moved to
 * an hour after the newest run, so that "now" is the end of the history
 * (bench/bench_history writes 2024). The server answers a round of requests
 * first: a daemon that has run for a while has its connections open. */
async function measure(dbPath) {
  let tpsd = null;
  let base = process.env.TPSD_MEASURE_URL;   // a server already running on it
  if (!base) {
    const db = path.join(tmp, 'measure.db');
    fs.copyFileSync(dbPath, db);
    for (const ext of ['-wal', '-shm']) if (fs.existsSync(dbPath + ext)) fs.copyFileSync(dbPath + ext, db + ext);
    const simUrl = await startSim();
    // A database of an older schema is migrated first.
    ({ p: tpsd, base } = await startTpsd(db, simUrl, [], 'tpsd', 600000));
  }
  log('tpsd at', base);
  const warm = ['/v1/healthz', '/v1/jobs?limit=50', '/v1/models', '/v1/regressions?all=1&limit=200', '/v1/runs?limit=200', '/v1/suites',
    '/v1/trends?metric=e2e_tps&bucket=week', '/v1/trends?metric=decode_tps&bucket=day'];
  for (let i = 0; i < 2; i++) await Promise.all(warm.map((u) => fetch(base + u).then((r) => r.text())));
  const models = (await httpJson(base + '/v1/models')).body.models || [];
  const newest = Math.max(0, ...models.map((m) => m.latest_at || 0));
  const shift = newest > 0 ? newest + 3600000 - Date.now() : 0;
  const oneCase = models.reduce((n, m) => n + (m.cases || []).length, 0) > 12 ? 'long' : '';
  const views = [
    { name: 'defaults (last 30 days)', store: null },
    { name: `last year${oneCase ? ', case ' + oneCase : ''}`, store: { model: '', case: oneCase, range: '31536000000', bucket: 'auto' } },
    { name: 'last year, every model and case', store: { model: '', case: '', range: '31536000000', bucket: 'auto' } },
  ];
  log(`history: ${models.length} models, newest run ${new Date(newest).toISOString()}; page clock shifted by ${(shift / 86400000).toFixed(0)} days`);
  const browser = await launch();
  const results = [];
  try {
    /* A page that is not ours first, in a context thrown away: Chromium's
     * one-time start-up (its GPU and network processes, font caches) is
     * the browser's, not the dashboard's, and a user's browser has paid it
     * already. Nothing of the dashboard is cached by it. */
    const warm = await browser.newContext();
    await (await warm.newPage()).goto('data:text/html,<p>warm-up</p>');
    await warm.close();
    for (const v of views) {
      const times = [];
      const parts = [];
      let note = '';
      for (let i = 0; i < MEASURE_RUNS; i++) {
        // A new context each time: an empty cache, a real first load.
        const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
        await context.addInitScript(({ st, off }) => {
          if (st) window.localStorage.setItem('tpsd.trends', st);
          if (off) {
            const Real = Date;
            class Shifted extends Real {
              constructor(...a) {
                if (a.length === 0) super(Real.now() + off);
                else super(...a);
              }
              static now() { return Real.now() + off; }
            }
            window.Date = Shifted;
          }
        }, { st: v.store ? JSON.stringify(v.store) : null, off: shift });
        const page = await context.newPage();
        const w = watch(context, page, base);
        times.push(await loadTime(page, base, parts));
        if (i === 0) {
          note = await page.locator('#trend-note').textContent();
          await shot(page, 'measure-' + results.length);
          w.check();
        }
        await context.close();
      }
      const sorted = times.slice().sort((a, b) => a - b);
      const med = (k) => parts.map((p) => p[k]).sort((a, b) => a - b)[Math.floor(parts.length / 2)];
      const r = { view: v.name, note, first: times[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1],
        start: med('start'), data: med('rendered') - med('start') };
      results.push(r);
      log(`${v.name}: first ${r.first.toFixed(0)} ms, median ${r.median.toFixed(0)} ms, max ${r.max.toFixed(0)} ms (${note})`);
    }
  } finally {
    await browser.close();
    if (tpsd) await stop(tpsd);
  }
  const size = fs.statSync(dbPath).size;
  console.log(`first load, navigation to every panel drawn, ${MEASURE_RUNS} cold loads each, ${path.basename(dbPath)} (${(size / 1e6).toFixed(0)} MB):`);
  for (const r of results) {
    console.log(`  ${r.view}: median ${r.median.toFixed(0)} ms (first ${r.first.toFixed(0)}, max ${r.max.toFixed(0)}); ` +
      `script started at ${r.start.toFixed(0)} ms, data fetched and drawn in ${r.data.toFixed(0)} ms; ${r.note}`);
  }
  return results;
}

async function main() {
  check(BIN && SIM, 'TPSD_BIN and TPSD_SIM must name the tpsd and tpsd-sim binaries');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tpsd-browser-'));
  const mi = process.argv.indexOf('--measure');
  if (mi >= 0) {
    await measure(process.argv[mi + 1]);
    return;
  }
  const r = await mainTest();
  await tokenTest(r.simUrl);
  console.log(`dashboard: first load ${r.firstMs.toFixed(0)} ms, reload ${r.reloadMs.toFixed(0)} ms, ` +
    `test ${((Date.now() - T0) / 1000).toFixed(1)} s; screenshots in ${ARTIFACTS}`);
}

let code = 0;
try {
  await main();
} catch (e) {
  console.error(e instanceof Failure ? 'FAIL: ' + e.message : e);
  if (tmp) console.error('logs in ' + tmp);
  code = 1;
} finally {
  for (const p of children) if (!p.exitInfo) p.kill('SIGKILL');
  if (code === 0 && tmp) fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
