/*
 * app.js - the tpsd dashboard. Plain JavaScript: no framework, no library,
 * no request anywhere but this server's REST API (the page's CSP allows
 * nothing else). Charts are hand-written SVG.
 *
 * Data: /v1/healthz, /v1/suites, /v1/jobs (polled), /v1/jobs/{id}/events
 * (EventSource: the live view), /v1/trends, /v1/models and /v1/regressions
 * (polled with cache: 'no-cache', so the browser sends If-None-Match and the
 * server answers 304 while nothing changed), /v1/runs (failures) and
 * /v1/jobs/{id}/stability for stability jobs (shown only when it answers),
 * /v1/jobs/{id}/report?format=json for a depth sweep's charts (runs[].depth),
 * /v1/compare (the Compare panel, on demand).
 *
 * Everything user-supplied (model keys, names, error details) goes into the
 * DOM as text, never as HTML.
 */
'use strict';

(function () {
  const POLL_MS = 5000;          /* jobs and health, and the ETag'd history */
  const POLL_BUSY_MS = 2000;     /* while a job is queued or running */
  const LIVE_SAMPLES = 12;       /* rows in the live view's sample table */
  const LIVE_FAILURES = 20;      /* failed samples listed in the live view */
  const REPLAY_MAX = 5000;       /* a finished job's events are replayed up to this many samples */
  const POINTS_DOTS_MAX = 150;   /* above this many points a chart draws lines only */
  const DENSE_PASS_MARK = 0.9;   /* ... and marks points whose pass rate is below this */
  const FAIL_ROWS = 50;
  const REG_ROWS = 25;           /* verdict rows shown until "Show all" */
  const STAB_POLL_MS = 15000;    /* a running stability job's analysis */
  const DAY = 86400000;
  const SVGNS = 'http://www.w3.org/2000/svg';
  /* Okabe-Ito's hues (colour-blind safe), darkened where needed so every
   * line has 3:1 contrast on the light and the dark background; no yellow. */
  const COLORS = ['#0072B2', '#D55E00', '#008762', '#B8568E', '#A86F00', '#2B86BF', '#7a7a7a'];
  const DASHES = ['', '6 3', '2 3', '8 3 2 3'];
  const METRICS = [
    { key: 'decode_tps', title: 'Decode TPS', unit: 'tok/s', digits: 2 },
    { key: 'ttft_ms', title: 'Time to first token', unit: 'ms', digits: 1 },
    { key: 'e2e_tps', title: 'End-to-end TPS', unit: 'tok/s', digits: 2 },
  ];
  const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'interrupted']);
  const LIVE_EVENTS = ['job_started', 'preflight', 'run_started', 'model_loaded', 'sample',
    'run_finished', 'job_finished', 'job_recovered', 'stability', 'window'];

  const S = {
    jobs: [],
    jobsText: '',
    selected: 0,             /* job id in the live view */
    live: null,
    seriesColor: new Map(),  /* "model\u0000case" -> index, stable across charts */
    hidden: new Set(),       /* series switched off in the legends */
    trends: {},              /* metric -> last answer */
    trendKey: '',            /* the query the charts show */
    regs: [],
    regsAll: false,          /* the verdict table shows every row */
    models: [],
    etags: new Map(),        /* url -> ETag of what is rendered */
    autoBuckets: new Map(),  /* range|model|case -> the bucket "automatic" chose */
    ready: false,
    timer: 0,
    defaultsChosen: false,
    modelsReady: null,       /* resolves once the leaderboard answered (or failed) */
    modelsLoaded: null,
    blobUrls: new Map(),
  };

  /* ---- DOM helpers ---- */

  const $ = (id) => document.getElementById(id);

  function setAttrs(e, a) {
    if (!a) return;
    for (const k of Object.keys(a)) {
      const v = a[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = String(v);
      else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }
  function add(e, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k === null || k === undefined || k === false) continue;
      e.append(k instanceof Node ? k : String(k));
    }
    return e;
  }
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    return add(e, kids);
  }
  function s(tag, attrs, ...kids) {
    const e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    return add(e, kids);
  }
  /* Replace a node's children, keeping focus on an element with the same
   * data-focus key when there was one. */
  function replaceKids(node, ...kids) {
    const act = document.activeElement;
    const key = act && node.contains(act) ? act.getAttribute('data-focus') : null;
    node.replaceChildren();
    add(node, kids);
    if (key) {
      const again = node.querySelector('[data-focus="' + CSS.escape(key) + '"]');
      if (again) again.focus();
    }
  }

  /* ---- formatting ---- */

  const isNum = (v) => typeof v === 'number' && isFinite(v);
  const fmt = (v, d) => (isNum(v) ? v.toFixed(d) : '—');
  const fmtPct = (v) => (isNum(v) ? (v * 100).toFixed(0) + '%' : '—');
  const fmtGB = (b) => (isNum(b) ? (b / 1e9).toFixed(1) : '—');
  const pad = (n) => (n < 10 ? '0' + n : String(n));
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  function fmtTime(ms) {
    if (!isNum(ms)) return '—';
    const d = new Date(ms);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes());
  }
  function fmtDur(ms) {
    if (!isNum(ms) || ms < 0) return '—';
    const t = ms / 1000;
    if (t < 60) return t.toFixed(1) + ' s';
    if (t < 3600) return Math.floor(t / 60) + ' min ' + Math.round(t % 60) + ' s';
    if (t < DAY / 1000) return Math.floor(t / 3600) + ' h ' + Math.round((t % 3600) / 60) + ' min';
    return (t / 86400).toFixed(1) + ' d';
  }
  function loadText(lp) {
    if (!lp || lp.type === 'sequential' || !lp.type) return 'sequential';
    if (lp.type === 'concurrent') return 'concurrency ' + lp.concurrency;
    if (lp.type === 'rate') return lp.rps + ' req/s' + (isNum(lp.duration_s) ? ' for ' + lp.duration_s + ' s' : '');
    return String(lp.type);
  }
  function suiteText(suite) {
    if (typeof suite === 'string') return suite;
    if (suite && typeof suite === 'object') return (suite.name || 'inline') + ' (inline)';
    return 'standard';
  }
  function badge(text, cls) {
    return h('span', { class: 'badge ' + (cls || text) }, text);
  }

  /* ---- the API ---- */

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /* The API's bearer token when the server wants one: asked for on the
   * first 401 and kept in sessionStorage (this tab only). */
  function token() {
    try { return window.sessionStorage.getItem('tpsd.token') || ''; } catch (e) { return ''; }
  }
  function authHeaders() {
    const t = token();
    return t ? { Authorization: 'Bearer ' + t } : {};
  }
  function askToken(message) {
    const f = $('token-form');
    if (!f.hidden) return;
    $('token-msg').textContent = message || 'This tpsd wants its API token.';
    f.hidden = false;
    $('token').focus();
  }
  async function onToken(ev) {
    ev.preventDefault();
    const v = $('token').value.trim();
    try { window.sessionStorage.setItem('tpsd.token', v); } catch (e) { /* not kept */ }
    $('token').value = '';
    $('token-form').hidden = true;
    S.etags.clear();
    const id = S.selected;
    closeLive();
    S.selected = 0;
    await poll();
    if (id) selectJob(id);
  }
  /* With a token, links to the API cannot be plain navigations (they carry
   * no header): fetch them with the token and save what comes back. */
  async function onApiLink(ev) {
    const a = ev.target.closest && ev.target.closest('a[href^="/v1/"], a[href^="/metrics"]');
    if (!a || !token() || ev.defaultPrevented) return;
    ev.preventDefault();
    const r = await fetch(a.getAttribute('href'), { headers: authHeaders(), cache: 'no-cache' });
    const u = URL.createObjectURL(await r.blob());
    const d = h('a', { href: u, download: a.getAttribute('href').replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]+/g, '-') });
    document.body.append(d);
    d.click();
    d.remove();
    setTimeout(() => URL.revokeObjectURL(u), 60000);
  }

  /* fetch + JSON. cache 'no-cache' makes the browser revalidate with
   * If-None-Match; a 304 comes back as the cached 200. Non-2xx answers throw
   * an ApiError carrying the API's own error message. */
  async function api(path, opts) {
    const init = { cache: 'no-cache', headers: authHeaders() };
    if (opts && opts.method) init.method = opts.method;
    if (opts && opts.json !== undefined) {
      init.method = init.method || 'POST';
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.json);
    }
    let r;
    try {
      r = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'unreachable', 'tpsd is not answering: ' + e.message);
    }
    const text = await r.text();
    let body = null;
    if (text) {
      try { body = JSON.parse(text); } catch (e) { body = null; }
    }
    if (r.status === 401) askToken(token() ? 'The token was refused; enter it again.' : '');
    if (!r.ok) {
      const er = body && body.error;
      throw new ApiError(r.status, er ? er.code : 'http_' + r.status,
        er && er.message ? er.message : 'HTTP ' + r.status);
    }
    return { status: r.status, body: body, etag: r.headers.get('ETag') };
  }

  /* True when `url` answered something other than what is on screen. */
  function changed(url, etag) {
    if (!etag) return true;
    if (S.etags.get(url) === etag) return false;
    S.etags.set(url, etag);
    return true;
  }

  function panelError(tbody, cols, e) {
    replaceKids(tbody, h('tr', null, h('td', { colspan: cols, class: 'reason' },
      'Could not load: ' + e.message)));
  }

  /* ---- health ---- */

  async function loadHealth() {
    const el = $('health');
    let b = null;
    try {
      const r = await fetch('/v1/healthz', { cache: 'no-store', headers: authHeaders() });
      if (r.status === 401) {
        askToken(token() ? 'The token was refused; enter it again.' : '');
        el.textContent = 'Waiting for the API token';
        el.className = 'health bad';
        return;
      }
      b = await r.json();
    } catch (e) {
      el.textContent = 'tpsd is not answering';
      el.className = 'health bad';
      return;
    }
    const j = b.jobs || {};
    const parts = ['worker ' + b.worker, 'database ' + b.db, (j.running || 0) + ' running',
      (b.queue_depth || 0) + ' queued'];
    el.textContent = (b.status === 'ok' ? 'Healthy: ' : 'Degraded: ') + parts.join(' · ');
    el.className = 'health' + (b.status === 'ok' ? '' : ' bad');
  }

  /* ---- suites and the submit form ---- */

  async function loadSuites() {
    const sel = $('f-suite');
    try {
      const { body } = await api('/v1/suites');
      const suites = body.suites || [];
      S.suites = suites;
      replaceKids(sel, suites.map((su) => h('option', {
        value: su.name, selected: su.name === 'standard',
      }, su.name + ' (' + (su.cases || []).length + ' cases)')));
      fillCaseSelect();
    } catch (e) {
      /* keep the built-in "standard" option */
    }
  }

  function formShow() {
    const kind = $('f-kind').value;
    const load = $('f-load').value;
    for (const e of document.querySelectorAll('#submit-form [data-show]'))
      e.hidden = e.getAttribute('data-show') !== kind;
    for (const e of document.querySelectorAll('#submit-form [data-load]'))
      e.hidden = e.getAttribute('data-load') !== load;
  }

  /* The number in an input, or the raw text when it is not one (the API
   * then says what is wrong with it). */
  function numField(id) {
    const v = $(id).value.trim();
    if (v === '') return undefined;
    const n = Number(v);
    return isFinite(n) ? n : v;
  }

  function specFromForm() {
    const models = $('f-models').value.split('\n').map((m) => m.trim()).filter((m) => m !== '');
    const spec = { models: models, suite: $('f-suite').value, kind: $('f-kind').value };
    const name = $('f-name').value.trim();
    if (name) spec.name = name;
    const warm = numField('f-warmup');
    if (warm !== undefined) spec.warmup = warm;
    if (spec.kind === 'stability') {
      spec.duration_s = numField('f-duration');
      const iv = numField('f-interval');
      if (iv !== undefined) spec.interval_s = iv;
    } else {
      const reps = numField('f-reps');
      if (reps !== undefined) spec.repetitions = reps;
    }
    const load = $('f-load').value;
    if (load === 'concurrent') spec.load_pattern = { type: 'concurrent', concurrency: numField('f-conc') };
    else if (load === 'rate') spec.load_pattern = { type: 'rate', rps: numField('f-rps'), duration_s: numField('f-ldur') };
    else spec.load_pattern = { type: 'sequential' };
    return spec;
  }

  async function onSubmit(ev) {
    ev.preventDefault();
    const msg = $('submit-msg');
    const btn = $('f-submit');
    msg.textContent = '';
    msg.className = 'msg';
    btn.disabled = true;
    try {
      const { body } = await api('/v1/jobs', { json: specFromForm() });
      msg.textContent = 'Job #' + body.id + ' queued.';
      msg.className = 'msg ok';
      await loadJobs();
      selectJob(body.id);
    } catch (e) {
      msg.textContent = (e.status ? 'Refused (' + e.status + ' ' + e.code + '): ' : '') + e.message;
      msg.className = 'msg error';
    } finally {
      btn.disabled = false;
    }
  }

  /* ---- the job queue ---- */

  async function loadJobs() {
    let body;
    try {
      ({ body } = await api('/v1/jobs?limit=50'));
    } catch (e) {
      panelError($('jobs-body'), 12, e);
      return;
    }
    const jobs = body.jobs || [];
    const text = JSON.stringify(jobs);
    S.jobs = jobs;
    if (text !== S.jobsText) {
      S.jobsText = text;
      renderJobs();
      renderFailures();
      renderCompareOptions();
    }
    if (!S.selected && jobs.length) {
      const run = jobs.find((j) => j.state === 'running') || jobs[0];
      selectJob(run.id, run);
    }
  }

  async function cancelJob(id, button) {
    button.disabled = true;
    try {
      await api('/v1/jobs/' + id + '/cancel', { method: 'POST' });
    } catch (e) {
      window.alert('Cancel job #' + id + ': ' + e.message);
    }
    await loadJobs();
  }

  function renderJobs() {
    const tb = $('jobs-body');
    if (!S.jobs.length) {
      replaceKids(tb, h('tr', null, h('td', { colspan: 12, class: 'empty' }, 'No jobs yet.')));
      return;
    }
    const now = Date.now();
    replaceKids(tb, S.jobs.map((j) => {
      const spec = j.spec || {};
      const models = Array.isArray(spec.models) ? spec.models : [];
      const took = isNum(j.started_at)
        ? (isNum(j.finished_at) ? j.finished_at : (j.state === 'running' ? now : NaN)) - j.started_at : NaN;
      const state = j.state === 'running' && j.cancel_requested ? 'cancelling' : j.state;
      const acts = [h('button', {
        type: 'button', class: 'link', 'data-focus': 'watch-' + j.id,
        'aria-pressed': String(S.selected === j.id), 'aria-label': 'Watch job ' + j.id,
        onclick: () => selectJob(j.id),
      }, 'Watch')];
      if (j.state === 'queued' || j.state === 'running') {
        acts.push(h('button', {
          type: 'button', class: 'link', 'data-focus': 'cancel-' + j.id,
          'aria-label': 'Cancel job ' + j.id, onclick: (e) => cancelJob(j.id, e.currentTarget),
        }, 'Cancel'));
      }
      if (FINAL.has(j.state) && j.runs > 0) {
        acts.push(' report ', h('a', { href: '/v1/jobs/' + j.id + '/report?format=md', 'aria-label': 'Markdown report of job ' + j.id }, 'md'),
          ' ', h('a', { href: '/v1/jobs/' + j.id + '/report?format=csv', 'aria-label': 'CSV report of job ' + j.id }, 'csv'));
      }
      return h('tr', { 'data-job': j.id, 'data-state': j.state, class: S.selected === j.id ? 'selected' : null },
        h('td', null, '#' + j.id, j.name ? [' ', h('strong', null, j.name)] : null),
        h('td', { class: 'state' }, badge(state, j.state)),
        h('td', null, j.kind || spec.kind || 'benchmark'),
        h('td', { class: 'models' }, models.join(', ')),
        h('td', null, suiteText(spec.suite)),
        h('td', null, loadText(spec.load_pattern)),
        h('td', null, fmtTime(j.created_at)),
        h('td', null, fmtDur(took)),
        h('td', { class: 'num' }, String(j.samples ?? '—')),
        h('td', { class: 'num' + (j.errors > 0 ? ' reason' : '') }, String(j.errors ?? '—')),
        h('td', { class: 'reason' }, j.error_code ? j.error_code + ': ' + (j.error_detail || '') : ''),
        h('td', null, acts));
    }));
  }

  /* ---- compare (GET /v1/compare) ---- */

  /* The two pickers list the finished jobs with samples, keeping a choice. */
  function renderCompareOptions() {
    const jobs = S.jobs.filter((j) => FINAL.has(j.state) && j.samples > 0);
    ['cmp-a', 'cmp-b'].forEach((id, k) => {
      const sel = $(id);
      const keep = sel.value;
      replaceKids(sel, jobs.map((j) => h('option', { value: String(j.id) },
        '#' + j.id + (j.name ? ' ' + j.name : '') + ' (' + ((j.spec && j.spec.models) || []).join(', ') + ')')));
      if (keep && jobs.some((j) => String(j.id) === keep)) sel.value = keep;
      else if (jobs.length > 1) sel.value = String(jobs[k === 0 ? 1 : 0].id);
    });
    $('cmp-go').disabled = jobs.length < 1;
  }

  const VERDICT = {
    faster: ['faster', 'good'], slower: ['slower', 'bad'],
    no_significant_difference: ['no significant difference', 'info'],
    insufficient_data: ['insufficient data', 'warn'],
  };

  function pct(v) { return isNum(v) ? (v >= 0 ? '+' : '') + v.toFixed(1) + '%' : '—'; }

  async function onCompare(ev) {
    ev.preventDefault();
    const a = $('cmp-a').value, b = $('cmp-b').value, seed = $('cmp-seed').value || '1';
    const msg = $('cmp-msg');
    if (!a || !b) return;
    const path = '/v1/compare?a=job:' + encodeURIComponent(a) + '&b=job:' + encodeURIComponent(b) +
      '&seed=' + encodeURIComponent(seed);
    msg.textContent = 'Comparing…';
    msg.className = 'msg';
    let body;
    try {
      ({ body } = await api(path));
    } catch (e) {
      msg.textContent = 'Refused (' + e.status + ' ' + e.code + '): ' + e.message;
      msg.className = 'msg error';
      replaceKids($('cmp-body'), h('tr', null, h('td', { colspan: 8, class: 'empty' }, 'No comparison.')));
      return;
    }
    const m = body.method || {};
    const byModel = body.match === 'model_case';
    replaceKids(msg, 'A = job #' + a + ', B = job #' + b + '; ' + Math.round((m.level || 0) * 100) +
      '% percentile bootstrap, ' + m.resamples + ' resamples, seed ' + m.seed + '. ',
      h('a', { href: path }, 'JSON'));
    const rows = body.rows || [];
    replaceKids($('cmp-body'), rows.length ? rows.map((r) => {
      const v = VERDICT[r.verdict] || [r.verdict, 'info'];
      return h('tr', { 'data-verdict': r.verdict },
        h('td', null, byModel ? r.model_a + ' / ' + r.case : r.case),
        h('td', null, r.figure),
        h('td', { class: 'num' }, r.n_a + '/' + r.n_b),
        h('td', { class: 'num' }, isNum(r.median_a) ? r.median_a.toFixed(2) : '—'),
        h('td', { class: 'num' }, isNum(r.median_b) ? r.median_b.toFixed(2) : '—'),
        h('td', { class: 'num' }, pct(r.diff_pct)),
        h('td', null, isNum(r.ci_low_pct) ? pct(r.ci_low_pct) + ' to ' + pct(r.ci_high_pct) : '—'),
        h('td', null, badge(v[0], v[1])));
    }) : h('tr', null, h('td', { colspan: 8, class: 'empty' }, 'Nothing in common.')));
  }

  /* ---- the live view ---- */

  function closeLive() {
    if (S.live && S.live.es) S.live.es.close();
    S.live = null;
  }

  /* Show job `id` in the live view. `known` is its entry of the job list
   * when there is one: the view is drawn from it at once, and the job's
   * runs follow. */
  async function selectJob(id, known) {
    if (S.selected === id && S.live) return;
    closeLive();
    S.selected = id;
    for (const tr of document.querySelectorAll('#jobs-body tr[data-job]')) {
      const on = Number(tr.getAttribute('data-job')) === id;
      tr.classList.toggle('selected', on);
      const b = tr.querySelector('[data-focus^="watch-"]');
      if (b) b.setAttribute('aria-pressed', String(on));
    }
    let job = known || S.jobs.find((j) => j.id === id);
    const details = api('/v1/jobs/' + id);
    if (!job) {
      try {
        ({ body: job } = await details);
      } catch (e) {
        replaceKids($('live-body'), h('p', { class: 'reason' }, 'Job #' + id + ': ' + e.message));
        return;
      }
      if (S.selected !== id) return;
    }
    const L = {
      id: id, job: job, state: job.state, es: null, models: (job.spec && job.spec.models) || [],
      modelIndex: -1, model: '', runId: 0, caseName: '', repetition: 0, done: 0, total: 0,
      loadMs: NaN, samples: [], failures: [], nSamples: 0, nErrors: 0, preflight: null,
      runs: new Map(), finished: FINAL.has(job.state), raf: 0, lastStatus: '',
    };
    S.live = L;
    buildLive(L);
    if (!L.finished || (job.samples || 0) <= REPLAY_MAX) openStream(L);
    renderRuns(L, job.run_list || []);
    renderLive(L);
    showStability(job);
    showCapacity(job);
    showDepth(job);
    details.then(({ body }) => {
      if (S.live !== L) return;
      L.job = body;
      if (L.finished || !L.runs.size) renderRuns(L, body.run_list || []);
    }).catch(() => { /* the list entry is shown */ });
  }

  /* The event stream read with fetch, for a server that wants a token
   * (EventSource cannot send headers): the same events, resumed after a
   * drop with Last-Event-ID. */
  function openFetchStream(L) {
    const ctrl = new AbortController();
    let last = '';
    L.es = { close: () => ctrl.abort() };
    const dispatch = (block) => {
      let type = 'message', data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('id:')) last = line.slice(3).trim();
        else if (line.startsWith('event:')) type = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trim();
      }
      if (!data || !LIVE_EVENTS.includes(type) || S.live !== L) return;
      try { onLiveEvent(L, type, JSON.parse(data) || {}); } catch (e) { /* a bad event is skipped */ }
    };
    (async () => {
      while (!ctrl.signal.aborted && S.live === L) {
        try {
          const hd = authHeaders();
          if (last) hd['Last-Event-ID'] = last;
          const r = await fetch('/v1/jobs/' + L.id + '/events', { headers: hd, signal: ctrl.signal, cache: 'no-store' });
          if (!r.ok) {
            if (r.status === 401) askToken('');
            return;
          }
          const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += value.replace(/\r\n?/g, '\n');
            let i;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              dispatch(buf.slice(0, i));
              buf = buf.slice(i + 2);
            }
          }
        } catch (e) {
          if (ctrl.signal.aborted) return;
        }
        if (L.finished) return;
        await new Promise((res) => setTimeout(res, 2000));
      }
    })();
  }

  function openStream(L) {
    if (token()) {
      openFetchStream(L);
      return;
    }
    const es = new EventSource('/v1/jobs/' + L.id + '/events');
    L.es = es;
    for (const t of LIVE_EVENTS) {
      es.addEventListener(t, (e) => {
        let d = null;
        try { d = JSON.parse(e.data); } catch (err) { return; }
        if (S.live === L) onLiveEvent(L, t, d || {});
      });
    }
    es.onerror = async () => {
      /* The server ends a finished job's stream; do not let the browser
       * reconnect for ever. */
      if (S.live !== L || L.finished) {
        es.close();
        return;
      }
      try {
        const { body } = await api('/v1/jobs/' + L.id);
        if (FINAL.has(body.state)) {
          es.close();
          finishLive(L, body);
        }
      } catch (e) { /* the browser retries */ }
    };
  }

  function onLiveEvent(L, type, d) {
    switch (type) {
      case 'job_started':
        L.state = 'running';
        break;
      case 'job_recovered':
        L.state = d.state || L.state;
        break;
      case 'preflight':
        L.preflight = d;
        break;
      case 'run_started':
        L.runId = d.run_id;
        L.model = d.model;
        L.modelIndex = d.index;
        L.done = 0;
        L.total = 0;
        L.caseName = '';
        L.loadMs = NaN;
        L.runs.set(d.run_id, { run_id: d.run_id, model: d.model, state: 'loading', samples: 0, errors: 0 });
        break;
      case 'model_loaded':
        L.loadMs = d.load_ms;
        if (L.runs.has(d.run_id)) Object.assign(L.runs.get(d.run_id), { state: 'running', load_ms: d.load_ms });
        break;
      case 'sample':
        L.runId = d.run_id || L.runId;
        L.model = d.model || L.model;
        L.caseName = d.case;
        L.repetition = d.repetition;
        if (isNum(d.done)) L.done = d.done;
        if (isNum(d.total)) L.total = d.total;
        L.nSamples++;
        if (L.runs.has(d.run_id) && !d.warmup) {
          const run = L.runs.get(d.run_id);
          run.samples = (run.samples || 0) + 1;
          if (!d.ok) run.errors = (run.errors || 0) + 1;
        }
        if (!d.ok || d.passed === false) {
          L.nErrors++;
          L.failures.push(d);
          if (L.failures.length > LIVE_FAILURES) L.failures.shift();
        }
        L.samples.push(d);
        if (L.samples.length > LIVE_SAMPLES) L.samples.shift();
        break;
      case 'run_finished':
        L.runs.set(d.run_id, Object.assign(L.runs.get(d.run_id) || {}, d));
        break;
      case 'job_finished':
        L.state = d.state;
        L.finishedEvent = d;
        if (L.es) L.es.close();
        if (!L.finished) {
          L.finished = true;
          refreshAfterJob(L);
        }
        break;
      default:
        L.extra = d;
        break;
    }
    if (!L.raf) L.raf = requestAnimationFrame(() => { L.raf = 0; renderLive(L); });
  }

  async function finishLive(L, job) {
    L.finished = true;
    L.state = job.state;
    L.job = job;
    renderRuns(L, job.run_list || []);
    renderLive(L);
  }

  async function refreshAfterJob(L) {
    try {
      const { body } = await api('/v1/jobs/' + L.id);
      if (S.live === L) finishLive(L, body);
    } catch (e) { /* the next poll shows it */ }
    loadJobs();
    pollHistory(true);
    if (L.job && (L.job.kind === 'stability')) showStability(L.job);
    if (L.job && (L.job.kind === 'capacity')) showCapacity(L.job);
    showDepth(L.job);
  }

  function buildLive(L) {
    const job = L.job;
    const cancel = h('button', {
      type: 'button', id: 'live-cancel', hidden: FINAL.has(job.state),
      onclick: (e) => cancelJob(L.id, e.currentTarget),
    }, 'Cancel job');
    replaceKids($('live-body'),
      h('div', { class: 'live-head' },
        h('h3', null, 'Job #' + job.id + (job.name ? ' ' + job.name : '')),
        h('span', { id: 'live-state' }),
        cancel),
      h('p', { id: 'live-status', class: 'hint', role: 'status', 'aria-live': 'polite' }),
      h('dl', { class: 'facts' },
        h('dt', null, 'Model'), h('dd', { id: 'live-model' }, '—'),
        h('dt', null, 'Case'), h('dd', { id: 'live-case' }, '—'),
        h('dt', null, 'Progress'), h('dd', null,
          h('progress', { id: 'live-progress', max: 1, value: 0, 'aria-labelledby': 'live-progress-text' }),
          h('span', { id: 'live-progress-text' }, '—')),
        h('dt', null, 'Load time'), h('dd', { id: 'live-load' }, '—'),
        h('dt', null, 'Samples'), h('dd', { id: 'live-count' }, '—')),
      h('div', { id: 'live-reasons' }),
      h('h4', null, 'Latest samples'),
      h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'live-samples' },
        h('thead', null, h('tr', null,
          h('th', { scope: 'col', class: 'num' }, 'Seq'), h('th', { scope: 'col' }, 'Model'),
          h('th', { scope: 'col' }, 'Case'), h('th', { scope: 'col', class: 'num' }, 'Rep'),
          h('th', { scope: 'col', class: 'num' }, 'TTFT (ms)'),
          h('th', { scope: 'col', class: 'num' }, 'Decode TPS (tok/s)'),
          h('th', { scope: 'col', class: 'num' }, 'e2e TPS (tok/s)'),
          h('th', { scope: 'col', class: 'num' }, 'Tokens'),
          h('th', { scope: 'col' }, 'Result'))),
        h('tbody', { id: 'live-samples-body' }))),
      h('h4', null, 'Runs'),
      h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'live-runs' },
        h('thead', null, h('tr', null,
          h('th', { scope: 'col', class: 'num' }, 'Run'), h('th', { scope: 'col' }, 'Model'),
          h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col', class: 'num' }, 'Load (s)'),
          h('th', { scope: 'col', class: 'num' }, 'Samples'), h('th', { scope: 'col', class: 'num' }, 'Errors'),
          h('th', { scope: 'col' }, 'Reason'), h('th', { scope: 'col' }, 'Data'))),
        h('tbody', { id: 'live-runs-body' }))));
  }

  function renderRuns(L, runs) {
    if (S.live !== L) return;
    const tb = $('live-runs-body');
    if (!tb) return;
    if (!runs.length && !L.runs.size) {
      replaceKids(tb, h('tr', null, h('td', { colspan: 8, class: 'empty' }, 'No runs yet.')));
      return;
    }
    const rows = runs.length ? runs : Array.from(L.runs.values());
    replaceKids(tb, rows.map((r) => h('tr', { 'data-run': r.id || r.run_id },
      h('td', { class: 'num' }, String(r.id || r.run_id)),
      h('td', { class: 'models' }, r.model),
      h('td', null, badge(r.state || '—', r.state)),
      h('td', { class: 'num' }, fmt(isNum(r.load_ms) ? r.load_ms / 1000 : NaN, 1)),
      h('td', { class: 'num' }, String(r.samples ?? '—')),
      h('td', { class: 'num' }, String(r.errors ?? '—')),
      h('td', { class: 'reason' }, r.error_code ? r.error_code + ': ' + (r.error_detail || '') : ''),
      h('td', null, h('a', { href: '/v1/runs/' + (r.id || r.run_id) + '/samples?limit=5000' }, 'samples')))));
  }

  /* The code only: the reasons are listed in full above the table. */
  function sampleResult(d) {
    const b = !d.ok ? badge(d.error_code || 'error', 'bad')
      : d.passed === false ? badge('failed', 'warn')
        : d.warmup ? badge('warm-up', 'neutral') : badge('ok', 'ok');
    if (d.error_detail) b.setAttribute('title', d.error_detail);
    return b;
  }

  function renderLive(L) {
    if (S.live !== L || !$('live-state')) return;
    const st = $('live-state');
    st.replaceChildren(badge(L.state, L.state));
    $('live-cancel').hidden = L.finished;
    const n = L.models.length;
    $('live-model').textContent = L.model
      ? L.model + (n > 1 && L.modelIndex >= 0 ? ' (' + (L.modelIndex + 1) + ' of ' + n + ')' : '')
      : (L.state === 'queued' ? 'waiting in the queue' : '—');
    $('live-case').textContent = L.caseName
      ? L.caseName + ', repetition ' + (L.repetition + 1) : '—';
    const p = $('live-progress');
    p.max = Math.max(L.total, 1);
    p.value = L.done;
    $('live-progress-text').textContent = L.total
      ? ' ' + L.done + ' of ' + L.total + ' requests in this run' : ' —';
    $('live-load').textContent = isNum(L.loadMs) ? (L.loadMs / 1000).toFixed(2) + ' s' : '—';
    $('live-count').textContent = L.nSamples + ' received, ' + L.nErrors + ' failed';
    const status = L.finished
      ? 'Job ' + L.state + '.'
      : (L.model ? 'Measuring ' + L.model + (L.caseName ? ', case ' + L.caseName : '') + '.' : '');
    if (status !== L.lastStatus) {
      $('live-status').textContent = status;
      L.lastStatus = status;
    }
    /* Reasons: preflight, the job's own error, failed samples. */
    const reasons = [];
    if (L.preflight && L.preflight.ok === false) {
      reasons.push(h('p', null, h('strong', null, 'Preflight failed:')),
        h('ul', { class: 'reasons' }, (L.preflight.reasons || []).map((r) =>
          h('li', null, r.code + ': ' + r.detail))));
    }
    const fin = L.finishedEvent || (L.job && L.finished ? L.job : null);
    if (fin && fin.error_code) {
      reasons.push(h('p', { class: 'reason' }, h('strong', null, 'Job ' + (fin.state || L.state) + ': '),
        fin.error_code + ': ' + (fin.error_detail || '')));
    }
    if (L.failures.length) {
      reasons.push(h('details', {
        open: L.failuresOpen !== false,
        ontoggle: (e) => { L.failuresOpen = e.currentTarget.open; },
      }, h('summary', null, L.nErrors + ' failed requests (latest ' + L.failures.length + ')'),
        h('ul', { class: 'reasons' }, L.failures.map((d) => h('li', null,
          d.model + ' · ' + d.case + ' #' + d.seq + ': ' +
          (d.ok ? 'validation failed' : (d.error_code || 'error')) +
          (d.error_detail ? ' — ' + d.error_detail : ''))))));
    }
    replaceKids($('live-reasons'), reasons);
    const tb = $('live-samples-body');
    if (!L.samples.length) {
      replaceKids(tb, h('tr', null, h('td', { colspan: 9, class: 'empty' },
        L.finished ? 'No samples were streamed for this job.' : 'Waiting for the first sample…')));
    } else {
      replaceKids(tb, L.samples.slice().reverse().map((d) => h('tr', {
        'data-seq': d.seq, 'data-run': d.run_id,
      },
        h('td', { class: 'num' }, String(d.seq)),
        h('td', { class: 'models' }, d.model),
        h('td', null, d.case),
        h('td', { class: 'num' }, String((d.repetition ?? 0) + 1)),
        h('td', { class: 'num', 'data-k': 'ttft_ms' }, fmt(d.ttft_ms, 1)),
        h('td', Object.assign({ class: 'num', 'data-k': 'decode_tps' },
          // The server's own decode speed (sample_fields.h server_decode_tps),
          // when it reported timings: on hover, beside ours.
          typeof d.server_decode_tps === 'number'
            ? { title: 'server clock: ' + fmt(d.server_decode_tps, 2) + ' tok/s' } : {}),
          fmt(d.decode_tps, 2)),
        h('td', { class: 'num', 'data-k': 'e2e_tps' }, fmt(d.e2e_tps, 2)),
        h('td', { class: 'num' }, String(d.completion_tokens ?? '—')),
        h('td', { class: 'result' }, sampleResult(d)))));
    }
    if (L.runs.size && !(L.job && L.job.run_list && L.job.run_list.length && L.finished))
      renderRuns(L, []);
  }

  /* ---- stability jobs ---- */

  /* Windows of about 1/60 of the run (at least 5 s), system buckets of about
   * 1/120: a day-long run is 60 and 120 points, not 86400. */
  function stabilityUrl(job) {
    const dur = Number((job.spec && job.spec.duration_s) || 0) || 3600;
    const w = Math.max(5, Math.round(dur / 60));
    const b = Math.max(5, Math.round(dur / 120));
    return '/v1/jobs/' + job.id + '/stability?window_s=' + w + '&bucket_s=' + b;
  }

  async function showStability(job) {
    const sec = $('stability');
    if (!job || job.kind !== 'stability') {
      sec.hidden = true;
      return;
    }
    const url = stabilityUrl(job);
    let body;
    try {
      ({ body } = await api(url));
    } catch (e) {
      sec.hidden = true;         /* not available: no panel */
      return;
    }
    if (S.selected !== job.id || !body) return;
    sec.hidden = false;
    S.stabilityAt = Date.now();
    renderStability(job, body, url);
  }

  /* A drift label from the figures: the first span's mean against the last
   * span's, when it moved by STAB_DRIFT_PCT or more and the robust slope
   * agrees in sign. */
  const STAB_DRIFT_PCT = 5;
  function driftLabel(d, higherBetter) {
    if (!d || !d.first_last || !isNum(d.first_last.change_pct)) return { text: 'insufficient data', cls: 'neutral' };
    const c = d.first_last.change_pct;
    const slope = isNum(d.robust_slope_pct_per_hour) ? d.robust_slope_pct_per_hour : d.slope_pct_per_hour;
    if (Math.abs(c) < STAB_DRIFT_PCT || !isNum(slope) || Math.sign(slope) !== Math.sign(c)) return { text: 'steady', cls: 'good' };
    const worse = higherBetter ? c < 0 : c > 0;
    return { text: c < 0 ? 'falling' : 'rising', cls: worse ? 'bad' : 'warn' };
  }

  function pctText(v) {
    return isNum(v) ? (v > 0 ? '+' : '') + v.toFixed(1) + '%' : '—';
  }

  function stabVerdicts(run) {
    const srv = (run.memory && run.memory.server) || {};
    const dd = run.drift && run.drift.decode_tps;
    const dt = run.drift && run.drift.ttft_ms;
    const ld = driftLabel(dd, true);
    const lt = driftLabel(dt, false);
    const ed = run.error_detail || {};
    const codes = Object.keys(ed.by_code || {}).map((k) => k + ' ×' + ed.by_code[k]).join(', ');
    const th = run.thermal || {};
    const leakCls = srv.verdict === 'leak' ? 'leak' : srv.verdict === 'none' ? 'good' : 'neutral';
    const item = (key, label, b, text) => h('div', { 'data-verdict': key },
      h('strong', null, label + ': '), b, h('p', { class: 'hint' }, text));
    return h('div', { class: 'stab-verdicts' },
      item('leak', 'Server memory', badge(srv.verdict || 'unknown', leakCls),
        srv.readings ? fmt(srv.start_mb, 0) + ' → ' + fmt(srv.end_mb, 0) + ' MB, ' + fmt(srv.growth_mb_per_hour, 1) +
          ' MB/h (r² ' + fmt(srv.r2, 2) + ')' : 'no readings of the server process'),
      item('drift_decode_tps', 'Decode TPS drift', badge(ld.text, ld.cls),
        dd ? 'first → last ' + fmt(dd.first_last && dd.first_last.first_mean, 2) + ' → ' + fmt(dd.first_last && dd.first_last.last_mean, 2) +
          ' tok/s (' + pctText(dd.first_last && dd.first_last.change_pct) + '); slope ' + pctText(dd.robust_slope_pct_per_hour) + '/h robust, ' +
          pctText(dd.slope_pct_per_hour) + '/h OLS' : ''),
      item('drift_ttft_ms', 'TTFT drift', badge(lt.text, lt.cls),
        dt ? 'first → last ' + fmt(dt.first_last && dt.first_last.first_mean, 1) + ' → ' + fmt(dt.first_last && dt.first_last.last_mean, 1) +
          ' ms (' + pctText(dt.first_last && dt.first_last.change_pct) + ')' : ''),
      item('errors', 'Errors', badge(String(run.errors ?? 0), run.errors > 0 ? 'bad' : 'good'),
        fmtPct(run.error_rate) + ' of ' + (run.requests ?? 0) + ' requests' + (codes ? ': ' + codes : '') +
          '; ' + (ed.bursts_count || 0) + ' bursts, at most ' + (ed.max_consecutive || 0) + ' in a row'),
      item('stall', 'Longest stall', badge(fmt(run.stall && run.stall.longest_ms, 0) + ' ms', 'neutral'),
        (run.stall && run.stall.stall_errors ? run.stall.stall_errors + ' stall errors' : 'no stall errors')),
      item('swap', 'Swap', badge(fmt(run.swap && run.swap.max_mb, 0) + ' MB', run.swap && run.swap.max_mb > 0 ? 'warn' : 'good'), 'most swap used'),
      item('thermal', 'Thermal', badge(th.episodes_count ? th.episodes_count + ' episodes' : (th.worst ? 'no throttling' : 'unknown'),
        th.episodes_count ? 'warn' : 'neutral'), th.episodes_count ? fmt(th.throttled_s / 60, 1) + ' min throttled, worst ' + th.worst : ''));
  }

  /* A chart of one or more time series given as [{label, rows, get}]. */
  function stabChart(job, key, title, unit, digits, defs, url) {
    const m = { key: 'stab-' + key, title: title, unit: unit, digits: digits, simple: true };
    const data = {
      series: defs.map((d) => ({
        model: d.label, case: null,
        points: d.rows.map((r) => ({ t: d.time(r), mean: isNum(d.get(r)) ? d.get(r) : null, n: null }))
          .filter((p) => isNum(p.t)),
      })).filter((se) => se.points.some((p) => isNum(p.mean))),
    };
    const card = chartCard(m, url);
    drawChart(card, m, data, [], { now: 0, url: url });
    return card;
  }

  function renderStability(job, b, url) {
    const sys = Array.isArray(b.system) ? b.system : [];
    const at = (r) => r.at;
    const blocks = [];
    for (const run of b.runs || []) {
      const ws = run.windows || [];
      const start = (r) => r.start_at;
      const label = (s) => (b.runs.length > 1 ? run.model + ' · ' : '') + s;
      blocks.push(h('div', { class: 'stab-run', 'data-run': run.run_id },
        h('h3', null, run.model, ' ', badge(run.state || '—', run.state),
          h('span', { class: 'hint' }, ' measured ' + fmtDur((run.elapsed_s || 0) * 1000) +
            (isNum(run.remaining_s) && run.remaining_s > 0 ? ', ' + fmtDur(run.remaining_s * 1000) + ' to go' : ''))),
        stabVerdicts(run),
        h('div', { class: 'charts' },
          stabChart(job, 'tps-' + run.run_id, 'Decode TPS per window', 'tok/s', 2, [
            { label: label('mean'), rows: ws, time: start, get: (w) => w.decode_tps && w.decode_tps.mean },
            { label: label('median'), rows: ws, time: start, get: (w) => w.decode_tps && w.decode_tps.median }], url),
          stabChart(job, 'ttft-' + run.run_id, 'TTFT per window', 'ms', 1, [
            { label: label('mean'), rows: ws, time: start, get: (w) => w.ttft_ms && w.ttft_ms.mean },
            { label: label('median'), rows: ws, time: start, get: (w) => w.ttft_ms && w.ttft_ms.median }], url),
          stabChart(job, 'err-' + run.run_id, 'Errors per window', 'requests', 0, [
            { label: label('failed requests'), rows: ws, time: start, get: (w) => w.errors },
            { label: label('requests'), rows: ws, time: start, get: (w) => w.requests }], url))));
    }
    blocks.push(h('div', { class: 'charts' },
      stabChart(job, 'mem', 'Memory', 'MB', 0, [
        { label: 'server RSS', rows: sys, time: at, get: (r) => r.server_rss_mb },
        { label: 'server RSS max', rows: sys, time: at, get: (r) => r.server_rss_max_mb },
        { label: 'tpsd RSS', rows: sys, time: at, get: (r) => r.tpsd_rss_mb }], url),
      stabChart(job, 'swap', 'Swap used', 'MB', 0, [
        { label: 'swap used (max)', rows: sys, time: at, get: (r) => r.swap_max_mb }], url)));
    replaceKids($('stab-body'),
      h('p', { class: 'hint' }, 'Job #' + job.id + ': windows of ' + b.window_s + ' s, system readings in buckets of ' + b.bucket_s +
        ' s. A drift is a change of ' + STAB_DRIFT_PCT + '% or more between the first and the last span with the robust slope agreeing; ' +
        'the memory verdict is the server\'s (leak at ' + ((b.thresholds || {}).leak_mb_per_hour ?? '—') + ' MB/h or more). ',
        h('a', { href: url }, 'JSON'), ' · ', h('a', { href: '/v1/jobs/' + job.id + '/report?format=md' }, 'report')),
      blocks);
  }

  /* ---- capacity jobs ---- */

  /* The columns of a capacity curve's table: heading, step field, digits
   * (a negative count: a share shown in percent). */
  const CAP_COLS = [
    ['requests', 'n', 0], ['TTFT p50 ms', 'ttft_p50_ms', 0], ['TTFT p95 ms', 'ttft_p95_ms', 0],
    ['decode p5 tok/s per user', 'decode_p5_tps', 1], ['decode p50 tok/s per user', 'decode_p50_tps', 1],
    ['total tok/s', 'total_tps', 1], ['goodput req/s', 'goodput_rps', 2], ['errors', 'error_rate', -1],
  ];
  const capLoad = (st) => (isNum(st.concurrency) ? st.concurrency : st.rps);

  /* A job panel's data: the section hidden unless `wanted`, else the body
   * of GET /v1/jobs/{id}/{path}; null when hidden, failed, or another job
   * was selected meanwhile. */
  async function panelBody(sec, job, wanted, path) {
    if (!wanted) {
      sec.hidden = true;
      return null;
    }
    try {
      const { body } = await api('/v1/jobs/' + job.id + '/' + path);
      return S.selected === job.id ? body : null;
    } catch (e) {
      sec.hidden = true;
      return null;
    }
  }

  async function showCapacity(job) {
    const sec = $('capacity');
    const body = await panelBody(sec, job, !!job && job.kind === 'capacity', 'capacity');
    if (!body) return;
    const url = '/v1/jobs/' + job.id + '/capacity';
    sec.hidden = false;
    S.capacityAt = Date.now();
    renderCapacity(job, body, url);
  }

  /* A curve against the load: x at each load measured, y from 0 to the
   * highest value; each point titled with its numbers. */
  function capChart(title, unit, steps, get, xName) {
    const W = 420, H = 200, L = 48, R = 12, T = 12, B = 34;
    const pts = steps.filter((st) => isNum(get(st)) && isNum(capLoad(st)));
    const xs = pts.map(capLoad), ys = pts.map(get);
    const x0 = Math.min(...xs, 0), x1 = Math.max(...xs, 1), y1 = Math.max(...ys, 1) * 1.1;
    const px = (x) => L + (W - L - R) * (x - x0) / ((x1 - x0) || 1);
    const py = (y) => H - B - (H - T - B) * y / y1;
    const kids = [s('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }),
      s('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' })];
    for (let k = 0; k <= 4; k++) {
      const y = (y1 / 1.1) * k / 4;
      kids.push(s('text', { x: L - 4, y: py(y) + 4, 'text-anchor': 'end', class: 'tick' }, fmt(y, y < 10 ? 1 : 0)));
    }
    for (const x of xs) kids.push(s('text', { x: px(x), y: H - B + 14, 'text-anchor': 'middle', class: 'tick' }, fmt(x, Number.isInteger(x) ? 0 : 2)));
    kids.push(s('text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle', class: 'tick' }, xName));
    kids.push(s('polyline', { class: 'line', fill: 'none', points: pts.map((st) => px(capLoad(st)) + ',' + py(get(st))).join(' ') }));
    for (const st of pts)
      kids.push(s('circle', { cx: px(capLoad(st)), cy: py(get(st)), r: 4, class: st.passed && !st.saturated ? 'pass' : 'miss' },
        s('title', null, xName + ' ' + capLoad(st) + ': ' + fmt(get(st), 1) + ' ' + unit + (st.passed && !st.saturated ? '' : ' (outside the level)'))));
    return h('figure', { class: 'chart cap-chart' }, h('figcaption', null, title + ' (' + unit + ')'),
      s('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': title + ' against ' + xName }, kids));
  }

  function capTable(steps, xName) {
    return h('table', { class: 'cap-table' },
      h('thead', null, h('tr', null, h('th', null, xName), CAP_COLS.map((c) => h('th', null, c[0])), h('th', null, 'within level'))),
      h('tbody', null, steps.map((st) => h('tr', { 'data-load': String(capLoad(st)) },
        h('td', { class: 'num' }, fmt(capLoad(st), Number.isInteger(capLoad(st)) ? 0 : 2)),
        CAP_COLS.map((c) => h('td', { class: 'num', 'data-k': c[1] }, c[2] < 0 ? fmtPct(st[c[1]]) : fmt(st[c[1]], c[2]))),
        h('td', null, st.saturated ? 'saturated' : st.passed ? 'yes' : 'no')))));
  }

  /* The model's capacity trend series (GET /v1/capacity), filled in when
   * it arrives: every finished search of it, oldest first. */
  function capHistory(model) {
    const url = '/v1/capacity?model=' + encodeURIComponent(model);
    const box = h('details', { class: 'cap-history' }, h('summary', null, 'capacity of ' + model + ' over time'));
    api(url).then(({ body }) => {
      const pts = (body && body.points) || [];
      add(box, [h('table', null,
        h('thead', null, h('tr', null, h('th', null, 'finished'), h('th', null, 'job'), h('th', null, 'capacity'),
          h('th', null, 'goodput req/s'), h('th', null, 'service level'))),
        h('tbody', null, pts.map((pt) => h('tr', { 'data-job': pt.job_id },
          h('td', null, fmtTime(pt.finished_at)), h('td', null, '#' + pt.job_id),
          h('td', { class: 'num' }, fmt(pt.capacity, pt.mode === 'rate' ? 2 : 0) + (pt.mode === 'rate' ? ' req/s' : ' users')),
          h('td', { class: 'num' }, fmt(pt.goodput_rps, 2)), h('td', null, JSON.stringify(pt.level || {})))))),
      h('a', { href: url }, 'JSON')]);
    }).catch(() => { /* the panel stands without it */ });
    return box;
  }

  function renderCapacity(job, b, url) {
    const blocks = (b.models || []).map((run) => {
      const rate = run.mode === 'rate';
      const xName = rate ? 'requests/s' : 'concurrent users';
      const steps = (run.steps || []).slice().sort((p, q) => capLoad(p) - capLoad(q));
      const answer = isNum(run.capacity)
        ? fmt(run.capacity, rate ? 2 : 0) + ' ' + xName + ', goodput ' + fmt(run.goodput_rps, 2) + ' req/s'
        : (run.stop_reason ? 'no load met the level' : 'searching…');
      return h('div', { class: 'cap-run', 'data-run': run.run_id },
        h('h3', null, run.model, ' ', h('span', { 'data-k': 'capacity' }, answer),
          h('span', { class: 'hint' }, run.stop_reason ? ' (' + run.stop_reason + ')' : '')),
        h('p', { class: 'hint' }, 'Service level: ' + JSON.stringify(run.level || {})),
        h('div', { class: 'charts' },
          capChart('Decode speed per user (p50)', 'tok/s', steps, (st) => st.decode_p50_tps, xName),
          capChart('Total throughput', 'tok/s', steps, (st) => st.total_tps, xName)),
        h('details', null, h('summary', null, 'numbers'), capTable(steps, xName)),
        capHistory(run.model));
    });
    replaceKids($('cap-body'),
      h('p', { class: 'hint' }, 'Job #' + job.id + ': the throughput–latency curve, one point per load measured; ' +
        'a filled point met the service level. ', h('a', { href: url }, 'JSON'), ' · ',
        h('a', { href: '/v1/jobs/' + job.id + '/report?format=md' }, 'report')),
      blocks);
  }

  /* ---- depth sweeps ---- */

  /* A depth sweep's panel (issue 16): decode speed, prefill speed and TTFT
   * against depth, one line per model (warm requests as their own dashed
   * line), from the job's report JSON (runs[].depth: medians per depth);
   * each chart's numbers are one click away. Depths sit at equal steps on
   * the x axis, as llama-bench lists them (0, 4K ... 128K). */
  const DEPTH_FIGS = [
    { key: 'decode_tps', title: 'Decode TPS by depth', unit: 'tok/s', digits: 2 },
    { key: 'prefill_tps', title: 'Prefill TPS by depth', unit: 'tok/s', digits: 1 },
    { key: 'ttft_ms', title: 'TTFT by depth', unit: 'ms', digits: 0 },
  ];

  function fmtDepth(d) {
    return d >= 1024 && d % 1024 === 0 ? d / 1024 + 'K' : String(d);
  }

  async function showDepth(job) {
    const sec = $('depth');
    const wanted = !!job && !!job.spec && !!(job.spec.depths || job.spec.suite === 'depth');
    const body = await panelBody(sec, job, wanted, 'report?format=json');
    if (!body) return;
    const url = '/v1/jobs/' + job.id + '/report?format=json';
    const runs = (body.runs || []).filter((r) => Array.isArray(r.depth) && r.depth.length);
    sec.hidden = !runs.length;
    if (!runs.length) return;
    replaceKids($('depth-body'),
      h('p', { class: 'hint' }, 'Job #' + job.id + ': medians of the successful requests at each depth (tokens of context ' +
        'before the instruction, sized on the server). ', h('a', { href: url }, 'JSON'), ' · ',
        h('a', { href: '/v1/jobs/' + job.id + '/report?format=md' }, 'report')),
      h('div', { class: 'charts' }, DEPTH_FIGS.map((f) => depthChart(f, runs, url))));
  }

  /* One figure against depth: an SVG line per model (and warm), the rows
   * kept on the card for its numbers table and CSV. */
  function depthChart(f, runs, url) {
    const W = 640, H = 270, ML = 60, MR = 14, MT = 12, MB = 44;
    const m = { key: 'depth-' + f.key, title: f.title, unit: f.unit, digits: f.digits, simple: true, depth: true };
    const card = chartCard(m, url);
    const series = [];
    for (const run of runs) {
      for (const warm of [false, true]) {
        const rows = run.depth.filter((r) => Boolean(r.warm) === warm);
        if (rows.length) series.push({ model: run.model + (warm ? ' (warm)' : ''), case: null, warm: warm, rows: rows });
      }
    }
    const depths = [...new Set(series.flatMap((se) => se.rows.map((r) => r.depth)))].sort((a, b) => a - b);
    card._metric = m;
    card._rows = series.flatMap((se) => se.rows.map((r) => ({ model: se.model, warm: se.warm, depth: r.depth,
      prompt: r.prompt_tokens, value: r[f.key] })));
    let ymax = 0;
    for (const r of card._rows) if (isNum(r.value) && r.value > ymax) ymax = r.value;
    const yt = yTicks(ymax * 1.05);
    const px = (d) => ML + (depths.length > 1 ? depths.indexOf(d) / (depths.length - 1) : 0.5) * (W - ML - MR);
    const py = (v) => MT + (1 - v / yt.top) * (H - MT - MB);
    const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-labelledby': card.id + '-t', preserveAspectRatio: 'xMidYMid meet' },
      s('title', { id: card.id + '-t' }, f.title + ' (' + f.unit + '), ' + series.length + ' series'));
    const grid = s('g', { class: 'grid' });
    const axis = s('g', { class: 'axis' });
    for (const v of yt.ticks) {
      grid.append(s('line', { x1: ML, x2: W - MR, y1: py(v), y2: py(v) }));
      axis.append(s('text', { x: ML - 6, y: py(v) + 3.5, 'text-anchor': 'end' }, v.toFixed(yt.dec)));
    }
    for (const d of depths) {
      grid.append(s('line', { x1: px(d), x2: px(d), y1: MT, y2: H - MB }));
      axis.append(s('text', { x: px(d), y: H - MB + 15, 'text-anchor': 'middle' }, fmtDepth(d)));
    }
    axis.append(s('path', { d: 'M' + ML + ' ' + MT + 'V' + (H - MB) + 'H' + (W - MR) }));
    axis.append(s('text', { class: 'title', transform: 'translate(14 ' + ((H - MB + MT) / 2) + ') rotate(-90)', 'text-anchor': 'middle' },
      f.title.replace(/ by depth$/, '') + ' (' + f.unit + ')'));
    axis.append(s('text', { class: 'title', x: (ML + W - MR) / 2, y: H - 6, 'text-anchor': 'middle' }, 'depth (tokens of context)'));
    svg.append(grid, axis);
    for (const se of series) {
      const st = seriesStyle({ model: se.model.replace(/ \(warm\)$/, ''), case: null });
      const g = s('g', { class: 'series', 'data-model': se.model });
      const pts = se.rows.filter((r) => isNum(r[f.key]));
      g.append(s('path', { d: pts.map((r, i) => (i ? 'L' : 'M') + px(r.depth).toFixed(1) + ' ' + py(r[f.key]).toFixed(1)).join('') || 'M0 0',
        stroke: st.color, 'stroke-dasharray': se.warm ? '6 3' : null }));
      for (const r of pts) {
        g.append(s('circle', { class: 'pt', cx: px(r.depth).toFixed(1), cy: py(r[f.key]).toFixed(1), r: 3, fill: st.color },
          s('title', null, se.model + ', depth ' + r.depth + ': ' + fmt(r[f.key], f.digits) + ' ' + f.unit +
            ' (prompt ' + fmt(r.prompt_tokens, 0) + ' tokens, n ' + r.ok + ')')));
      }
      svg.append(g);
    }
    card.querySelector('.chart-body').replaceChildren(svg);
    replaceKids(card.querySelector('.legend'), series.map((se) => {
      const st = seriesStyle({ model: se.model.replace(/ \(warm\)$/, ''), case: null });
      return h('li', null, s('svg', { viewBox: '0 0 22 10', 'aria-hidden': 'true' },
        s('line', { x1: 1, x2: 21, y1: 5, y2: 5, stroke: st.color, 'stroke-width': 3, 'stroke-dasharray': se.warm ? '6 3' : null })), se.model);
    }));
    card.querySelector('.info').textContent = depths.length + ' depths';
    return card;
  }

  /* The numbers of a depth chart: model, depth, prompt tokens, value. */
  function fillDepthNumbers(card, m) {
    const rows = card._rows || [];
    card.querySelector('.numbers').replaceChildren(rows.length ? h('table', { class: 'data' },
      h('caption', { class: 'sr-only' }, m.title + ' numbers'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Model'), h('th', { scope: 'col', class: 'num' }, 'Depth'),
        h('th', { scope: 'col', class: 'num' }, 'Prompt tokens'), h('th', { scope: 'col', class: 'num' }, m.unit))),
      h('tbody', null, rows.map((r) => h('tr', { 'data-model': r.model, 'data-depth': r.depth, 'data-warm': r.warm ? '1' : '0' },
        h('td', null, r.model), h('td', { class: 'num' }, String(r.depth)), h('td', { class: 'num' }, fmt(r.prompt, 0)),
        h('td', { class: 'num', 'data-k': 'value' }, fmt(r.value, m.digits))))))
      : h('p', { class: 'empty' }, 'No data.'));
  }

  /* ---- trends ---- */

  const BUCKETS = ['run', 'hour', 'day', 'week'];
  function autoBucket(span) {
    if (span <= 2 * DAY) return 'run';
    if (span <= 14 * DAY) return 'hour';
    if (span <= 400 * DAY) return 'day';
    return 'week';
  }

  function trendQuery(metric, bucket, since) {
    const q = new URLSearchParams({ metric: metric, bucket: bucket });
    if (since > 0) q.set('since', String(since));
    if ($('t-model').value) q.set('model', $('t-model').value);
    if ($('t-case').value) q.set('case', $('t-case').value);
    return '/v1/trends?' + q.toString();
  }

  /* Fetch the three charts' data; redraw what changed (or everything when
   * the controls did). */
  /* The first time there is history: the case filter as the user left it,
   * or, when all cases of all models would be more than SERIES_DEFAULT_MAX
   * lines, one case ("long", the sustained-speed case, when there is one). */
  const SERIES_DEFAULT_MAX = 12;
  /* The filters the user left (localStorage), applied at once: a model or
   * case not listed yet gets its option now. */
  function storedDefaults() {
    let v = null;
    try { v = JSON.parse(window.localStorage.getItem('tpsd.trends') || 'null'); } catch (e) { v = null; }
    if (!v || typeof v !== 'object') return false;
    for (const [id, val] of [['t-model', v.model], ['t-case', v.case], ['t-range', v.range], ['t-bucket', v.bucket]]) {
      const sel = $(id);
      if (typeof val !== 'string') continue;
      if (!Array.from(sel.options).some((o) => o.value === val)) {
        if (id === 't-range' || id === 't-bucket') continue;
        sel.append(h('option', { value: val }, val));
      }
      sel.value = val;
    }
    S.defaultsChosen = true;
    return true;
  }

  function chooseDefaults() {
    if (!S.models.length) return;
    S.defaultsChosen = true;
    const count = new Map();
    let series = 0;
    for (const mo of S.models) {
      for (const c of mo.cases || []) {
        count.set(c.case, (count.get(c.case) || 0) + 1);
        series++;
      }
    }
    if (series <= SERIES_DEFAULT_MAX) return;
    let pick = count.has('long') ? 'long' : '';
    if (!pick) for (const [c, n] of count) if (!pick || n > count.get(pick)) pick = c;
    fillCaseSelect();
    $('t-case').value = pick;
  }

  function saveDefaults() {
    try {
      window.localStorage.setItem('tpsd.trends', JSON.stringify({
        model: $('t-model').value, case: $('t-case').value, range: $('t-range').value, bucket: $('t-bucket').value,
      }));
    } catch (e) { /* private mode: not kept */ }
  }

  /* `regs`: the verdicts being loaded (a promise of "they changed"); the
   * charts are drawn once they are there, with their marks. */
  async function loadTrends(force, regs) {
    if (!S.defaultsChosen && !storedDefaults()) {
      await S.modelsReady;
      chooseDefaults();
    }
    const range = Number($('t-range').value);
    const now = Date.now();
    /* a stable URL for a minute, so that the browser's revalidation hits */
    const since = range > 0 ? Math.floor((now - range) / 60000) * 60000 : 0;
    const fetchAll = (b) => Promise.all(METRICS.map(async (m) => {
      const url = trendQuery(m.key, b, since);
      try {
        return { m, url, r: await api(url) };
      } catch (e) {
        return { m, url, err: e };
      }
    }));
    let bucket = $('t-bucket').value;
    const auto = bucket === 'auto';
    const akey = [range, $('t-model').value, $('t-case').value].join('|');
    if (auto) bucket = S.autoBuckets.get(akey) || (range > 0 ? autoBucket(range) : 'week');
    let answers = await fetchAll(bucket);
    if (auto) {
      /* Points fitting the history actually there: a short history in a
       * long range gets finer points (there are few of them). */
      let t0 = Infinity;
      for (const a of answers) for (const se of (a.r && a.r.body.series) || []) if (se.points.length) t0 = Math.min(t0, se.points[0].t);
      let want = t0 < now ? autoBucket(now - t0) : bucket;
      if (range > 0 && BUCKETS.indexOf(want) > BUCKETS.indexOf(autoBucket(range))) want = autoBucket(range);
      if (want !== bucket) {
        bucket = want;
        answers = await fetchAll(bucket);
      }
      S.autoBuckets.set(akey, bucket);
    }
    const key = [range, bucket, $('t-model').value, $('t-case').value].join('|');
    if (key !== S.trendKey) force = true;
    if (regs && await regs) force = true;
    S.trendKey = key;
    for (const a of answers) a.redraw = force || !a.r || changed(a.url, a.r.etag);
    let total = 0;
    let truncated = false;
    for (const a of answers) {
      let card = $('chart-' + a.m.key);
      if (!card) {
        card = chartCard(a.m, a.url);
        $('charts').append(card);
      }
      if (a.err) {
        card.querySelector('.chart-body').replaceChildren(h('p', { class: 'reason' }, 'Could not load: ' + a.err.message));
        continue;
      }
      S.trends[a.m.key] = a.r.body;
      truncated = truncated || a.r.body.truncated;
      for (const se of a.r.body.series || []) total += se.points.length;
      if (a.redraw) drawChart(card, a.m, a.r.body, S.regs, { since: range > 0 ? since : 0, now: now, url: a.url });
    }
    $('trend-note').textContent = 'Points: ' + bucketText(bucket) + '; ' + total + ' in all.' +
      (truncated ? ' The answer was truncated: narrow the range or pick a model.' : '');
    fillCaseSelect();
  }

  function bucketText(b) {
    return { run: 'one per run', hour: 'hourly means', day: 'daily means', week: 'weekly means' }[b] || b;
  }

  function seriesKey(se) {
    return se.model + '\u0000' + (se.case ?? '');
  }
  function seriesLabel(se) {
    return se.case ? se.model + ' · ' + se.case : se.model;
  }
  function seriesStyle(se) {
    const k = seriesKey(se);
    if (!S.seriesColor.has(k)) S.seriesColor.set(k, S.seriesColor.size);
    const i = S.seriesColor.get(k);
    return { color: COLORS[i % COLORS.length], dash: DASHES[Math.floor(i / COLORS.length) % DASHES.length] };
  }

  /* A chart's frame: heading, SVG slot, legend, tools, numbers table. */
  function chartCard(m, url) {
    const id = 'chart-' + m.key;
    const numbersId = id + '-numbers';
    const toggle = h('button', {
      type: 'button', class: 'link', 'aria-expanded': 'false', 'aria-controls': numbersId,
      'data-focus': id + '-toggle',
    }, 'Show numbers');
    const csv = h('a', { href: '#', download: 'tpsd-' + m.key + '.csv', class: 'csv' }, 'CSV');
    const json = h('a', { href: url, class: 'json' }, 'JSON');
    const info = h('span', { class: 'hint info' });
    const numbers = h('div', { class: 'numbers', id: numbersId, hidden: true });
    const card = h('div', { class: 'chart', id: id, 'data-metric': m.key },
      h('h3', { id: id + '-h' }, m.title, ' ', h('span', { class: 'hint' }, '(' + m.unit + (m.simple ? '' : ', mean per point') + ')')),
      h('div', { class: 'chart-body' }),
      h('ul', { class: 'legend', 'aria-label': m.title + ' series' }),
      h('div', { class: 'tools' }, toggle, csv, json, info),
      numbers);
    toggle.addEventListener('click', () => {
      const open = toggle.getAttribute('aria-expanded') !== 'true';
      toggle.setAttribute('aria-expanded', String(open));
      toggle.textContent = open ? 'Hide numbers' : 'Show numbers';
      numbers.hidden = !open;
      card.classList.toggle('open', open);
      if (open) fillNumbers(card);
    });
    csv.addEventListener('click', () => {
      const old = S.blobUrls.get(m.key);
      if (old) URL.revokeObjectURL(old);
      const u = URL.createObjectURL(new Blob([toCsv(card._rows || [], m)], { type: 'text/csv' }));
      S.blobUrls.set(m.key, u);
      csv.href = u;
    });
    return card;
  }

  /* Flat rows of a trends answer: one per point. */
  function flatRows(data) {
    const rows = [];
    for (const se of data.series || []) {
      for (const p of se.points || []) rows.push(Object.assign({ model: se.model, case: se.case }, p));
    }
    rows.sort((a, b) => a.t - b.t || (a.model < b.model ? -1 : a.model > b.model ? 1 : 0));
    return rows;
  }

  const NUM_COLS = [
    ['mean', 'Mean'], ['p50', 'p50'], ['p90', 'p90'], ['min', 'Min'], ['max', 'Max'], ['stddev', 'Std dev'],
  ];

  function toCsv(rows, m) {
    const q = (v) => (/[",\n]/.test(String(v)) ? '"' + String(v).replace(/"/g, '""') + '"' : String(v));
    if (m.depth) {
      return ['model,warm,depth,prompt_tokens,' + m.key.replace(/^depth-/, '')].concat(rows.map((r) =>
        [q(r.model), r.warm ? 1 : 0, r.depth, isNum(r.prompt) ? r.prompt : '', isNum(r.value) ? r.value : ''].join(','))).join('\n') + '\n';
    }
    if (m.simple) {
      return ['time_ms,time,series,value_' + m.unit.replace('/', '_per_')].concat(rows.map((r) =>
        [r.t, fmtTime(r.t), q(r.model), isNum(r.mean) ? r.mean : ''].join(','))).join('\n') + '\n';
    }
    const head = ['time_ms', 'time', 'model', 'case', ...NUM_COLS.map((c) => c[0] + '_' + m.unit.replace('/', '_per_')),
      'n', 'runs', 'pass_rate', 'run_id'];
    const lines = [head.join(',')];
    for (const r of rows) {
      lines.push([r.t, fmtTime(r.t), q(r.model), q(r.case ?? ''), ...NUM_COLS.map((c) => (isNum(r[c[0]]) ? r[c[0]] : '')),
        r.n ?? '', r.runs ?? '', isNum(r.pass_rate) ? r.pass_rate : '', r.run_id ?? ''].join(','));
    }
    return lines.join('\n') + '\n';
  }

  function pointNote(r) {
    if (r.n === 0) return 'no successful samples';
    if (!isNum(r.pass_rate) || r.pass_rate >= 1) return '';
    return r.pass_rate === 0 ? 'no request passed (errors or validation)' : 'some requests failed (errors or validation)';
  }

  function fillNumbers(card) {
    const rows = card._rows || [];
    const m = card._metric;
    const d = m ? m.digits : 2;
    if (m && m.depth) return fillDepthNumbers(card, m);
    if (m && m.simple) {
      card.querySelector('.numbers').replaceChildren(rows.length ? h('table', { class: 'data' },
        h('caption', { class: 'sr-only' }, m.title + ' numbers'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, 'Series'),
          h('th', { scope: 'col', class: 'num' }, 'Value (' + m.unit + ')'))),
        h('tbody', null, rows.map((r) => h('tr', { 'data-series': r.model, 'data-t': r.t },
          h('td', null, fmtTime(r.t)), h('td', null, r.model), h('td', { class: 'num', 'data-k': 'value' }, fmt(r.mean, d))))))
        : h('p', { class: 'empty' }, 'No data.'));
      return;
    }
    const table = h('table', { class: 'data' },
      h('caption', { class: 'sr-only' }, (m ? m.title : '') + ' numbers'),
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, 'Model'), h('th', { scope: 'col' }, 'Case'),
        NUM_COLS.map((c) => h('th', { scope: 'col', class: 'num' }, c[1] + ' (' + (m ? m.unit : '') + ')')),
        h('th', { scope: 'col', class: 'num' }, 'Samples'), h('th', { scope: 'col', class: 'num' }, 'Runs'),
        h('th', { scope: 'col', class: 'num' }, 'Pass rate'), h('th', { scope: 'col' }, 'Note'))),
      h('tbody', null, rows.map((r) => h('tr', { 'data-model': r.model, 'data-case': r.case ?? '', 'data-t': r.t, 'data-run': r.run_id ?? '' },
        h('td', null, fmtTime(r.t)), h('td', { class: 'models' }, r.model), h('td', null, r.case ?? '—'),
        NUM_COLS.map((c) => h('td', { class: 'num', 'data-k': c[0] }, fmt(r[c[0]], d))),
        h('td', { class: 'num' }, String(r.n ?? '—')), h('td', { class: 'num' }, String(r.runs ?? '—')),
        h('td', { class: 'num' }, fmtPct(r.pass_rate)),
        h('td', { class: r.n === 0 || (isNum(r.pass_rate) && r.pass_rate < 1) ? 'reason' : '' }, pointNote(r))))));
    card.querySelector('.numbers').replaceChildren(rows.length ? table : h('p', { class: 'empty' }, 'No data.'));
  }

  /* ---- scales and ticks ---- */

  function niceStep(raw) {
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const n = raw / mag;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10) * mag;
  }
  function yTicks(max) {
    if (!(max > 0)) max = 1;
    const step = niceStep(max / 5);
    const top = Math.ceil(max / step) * step;
    const ticks = [];
    for (let i = 0; i * step <= top + step / 2; i++) ticks.push(i * step);
    const dec = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    return { top: top, ticks: ticks, dec: Math.min(dec, 6) };
  }
  const HOUR = 3600000;
  const TSTEPS = [1000, 5000, 10000, 15000, 30000, 60000, 300000, 900000, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR,
    DAY, 2 * DAY, 7 * DAY, 14 * DAY];
  function xTicks(x0, x1) {
    const span = x1 - x0;
    const out = [];
    if (span <= 0) return out;
    const step = TSTEPS.find((st) => span / st <= 6);
    if (step && step < DAY) {
      const tz = new Date(x0).getTimezoneOffset() * 60000;
      for (let t = Math.ceil((x0 - tz) / step) * step + tz; t <= x1; t += step) {
        const d = new Date(t);
        out.push({
          t: t,
          label: (span > DAY ? MONTHS[d.getMonth()] + ' ' + d.getDate() + ' ' : '') + pad(d.getHours()) + ':' +
            pad(d.getMinutes()) + (step < 60000 ? ':' + pad(d.getSeconds()) : ''),
        });
      }
      return out;
    }
    if (step) {
      const d0 = new Date(x0);
      let d = new Date(d0.getFullYear(), d0.getMonth(), d0.getDate() + 1);
      const days = step / DAY;
      for (; d.getTime() <= x1; d = new Date(d.getFullYear(), d.getMonth(), d.getDate() + days))
        out.push({ t: d.getTime(), label: MONTHS[d.getMonth()] + ' ' + d.getDate() });
      return out;
    }
    const months = [1, 2, 3, 6, 12, 24, 60].find((mo) => span / (mo * 30 * DAY) <= 6) || 120;
    const d0 = new Date(x0);
    let d = new Date(d0.getFullYear(), d0.getMonth() + 1, 1);
    while (d.getMonth() % months !== 0 && months <= 12) d = new Date(d.getFullYear(), d.getMonth() + 1, 1);
    for (; d.getTime() <= x1; d = new Date(d.getFullYear(), d.getMonth() + months, 1))
      out.push({ t: d.getTime(), label: MONTHS[d.getMonth()] + ' ' + d.getFullYear() });
    return out;
  }

  /* Draw one chart: `data` is a trends answer (or the same shape), `regs`
   * the verdicts to mark. */
  function drawChart(card, m, data, regs, view) {
    const W = 640, H = 270, ML = 60, MR = 14, MT = 12, MB = 44;
    const all = (data.series || []);
    const shown = all.filter((se) => !S.hidden.has(seriesKey(se)));
    card._rows = flatRows({ series: shown });
    card._metric = m;
    const body = card.querySelector('.chart-body');
    const title = m.title + ' over time';
    let x0 = Infinity, x1 = -Infinity, ymax = 0, npts = 0;
    for (const se of shown) {
      for (const p of se.points) {
        npts++;
        if (p.t < x0) x0 = p.t;
        if (p.t > x1) x1 = p.t;
        if (isNum(p.mean) && p.mean > ymax) ymax = p.mean;
      }
    }
    const marks = (regs || []).filter((r) => r.metric === m.key && shown.some((se) => se.model === r.model && se.case === r.case));
    for (const r of marks) {
      if (isNum(r.value) && r.value > ymax) ymax = r.value;
      if (r.at < x0) x0 = r.at;
      if (r.at > x1) x1 = r.at;
    }
    if (view && view.now) x1 = Math.max(x1, view.now);
    const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-labelledby': card.id + '-t ' + card.id + '-d', preserveAspectRatio: 'xMidYMid meet' },
      s('title', { id: card.id + '-t' }, title + ' (' + m.unit + ')'),
      s('desc', { id: card.id + '-d' }, shown.length + ' series, ' + npts + ' points. The numbers are one click away: Show numbers, or the CSV link.'));
    if (!npts) {
      svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'nodata' }, all.length ? 'All series hidden' : 'No data in this range'));
      body.replaceChildren(svg);
      drawLegend(card, all, m, data, regs, view);
      card.querySelector('.info').textContent = '';
      return;
    }
    if (x0 === x1) {
      x0 -= HOUR;
      x1 += HOUR;
    }
    const yt = yTicks(ymax * 1.05);
    const px = (t) => ML + (t - x0) / (x1 - x0) * (W - ML - MR);
    const py = (v) => MT + (1 - v / yt.top) * (H - MT - MB);
    const grid = s('g', { class: 'grid' });
    const axis = s('g', { class: 'axis' });
    for (const v of yt.ticks) {
      grid.append(s('line', { x1: ML, x2: W - MR, y1: py(v), y2: py(v) }));
      axis.append(s('text', { x: ML - 6, y: py(v) + 3.5, 'text-anchor': 'end' }, v.toFixed(yt.dec)));
    }
    for (const tk of xTicks(x0, x1)) {
      const x = px(tk.t);
      const half = tk.label.length * 3;   /* about half the label's width at 11px */
      grid.append(s('line', { x1: x, x2: x, y1: MT, y2: H - MB }));
      axis.append(s('text', {
        x: x, y: H - MB + 15,
        'text-anchor': x + half > W ? 'end' : x - half < ML - 20 ? 'start' : 'middle',
      }, tk.label));
    }
    axis.append(s('path', { d: 'M' + ML + ' ' + MT + 'V' + (H - MB) + 'H' + (W - MR) }));
    axis.append(s('text', { class: 'title', transform: 'translate(14 ' + ((H - MB + MT) / 2) + ') rotate(-90)', 'text-anchor': 'middle' },
      m.title + ' (' + m.unit + ')'));
    axis.append(s('text', { class: 'title', x: (ML + W - MR) / 2, y: H - 6, 'text-anchor': 'middle' }, 'time (local)'));
    svg.append(grid, axis);
    const dots = npts <= POINTS_DOTS_MAX;
    for (const se of shown) {
      const st = seriesStyle(se);
      const g = s('g', { class: 'series', 'data-model': se.model, 'data-case': se.case ?? '' });
      let d = '';
      let pen = false;
      for (const p of se.points) {
        if (!isNum(p.mean)) {
          pen = false;
          continue;
        }
        d += (pen ? 'L' : 'M') + px(p.t).toFixed(1) + ' ' + py(p.mean).toFixed(1);
        pen = true;
      }
      g.append(s('path', { d: d || 'M0 0', stroke: st.color, 'stroke-dasharray': st.dash || null }));
      for (const p of se.points) {
        if (!isNum(p.mean)) {
          if (p.n !== 0) continue;  /* a gap */
          const label = seriesLabel(se) + ', ' + fmtTime(p.t) + ': ';
          const x = px(p.t), y = py(0) - 5;
          g.append(s('path', { class: 'fail', d: 'M' + (x - 4) + ' ' + (y - 4) + 'l8 8m0 -8l-8 8' },
            s('title', null, label + 'no successful samples' + (isNum(p.pass_rate) ? ' (pass rate ' + fmtPct(p.pass_rate) + ')' : ''))));
          continue;
        }
        const partial = isNum(p.pass_rate) && p.pass_rate < 1;
        /* Dense charts mark only the points where failures matter. */
        if (!dots && !(partial && p.pass_rate < DENSE_PASS_MARK)) continue;
        const label = seriesLabel(se) + ', ' + fmtTime(p.t) + ': ';
        g.append(s('circle', {
          class: 'pt' + (partial ? ' partial' : ''), cx: px(p.t).toFixed(1), cy: py(p.mean).toFixed(1), r: partial ? 3.5 : 3,
          fill: partial ? null : st.color, stroke: partial ? st.color : null,
        }, s('title', null, label + fmt(p.mean, m.digits) + ' ' + m.unit + ' (n ' + p.n + (p.runs > 1 ? ', ' + p.runs + ' runs' : '') +
          (partial ? ', pass rate ' + fmtPct(p.pass_rate) : '') + ')')));
      }
      svg.append(g);
    }
    for (const r of marks) {
      if (!isNum(r.value)) continue;
      const x = px(r.at), y = py(r.value);
      const reg = r.verdict === 'regression';
      svg.append(s('path', {
        class: reg ? 'reg' : 'imp', 'data-verdict': r.verdict,
        d: reg ? 'M' + (x - 6) + ' ' + (y - 13) + 'h12l-6 10z' : 'M' + (x - 6) + ' ' + (y + 13) + 'h12l-6 -10z',
      }, s('title', null, r.verdict + ': ' + r.model + ' · ' + r.case + ', run ' + r.run_id + ': ' +
        fmt(r.value, m.digits) + ' vs ' + fmt(r.baseline, m.digits) + ' ' + m.unit + ' (' + (r.change * 100).toFixed(1) + '%)')));
    }
    body.replaceChildren(svg);
    drawLegend(card, all, m, data, regs, view);
    card.querySelector('.info').textContent = npts + ' points' + (marks.length ? ', ' + marks.length + ' verdicts marked' : '');
    if (view && view.url) card.querySelector('a.json').href = view.url;
    if (card.querySelector('[aria-expanded="true"]')) fillNumbers(card);
  }

  function drawLegend(card, all, m, data, regs, view) {
    const ul = card.querySelector('.legend');
    replaceKids(ul, all.map((se) => {
      const st = seriesStyle(se);
      const k = seriesKey(se);
      const on = !S.hidden.has(k);
      return h('li', null, h('button', {
        type: 'button', 'aria-pressed': String(on), 'data-focus': card.id + '-' + k,
        title: on ? 'Hide this series' : 'Show this series',
        onclick: () => {
          if (S.hidden.has(k)) S.hidden.delete(k); else S.hidden.add(k);
          redrawAll();
        },
      }, s('svg', { viewBox: '0 0 22 10', 'aria-hidden': 'true' },
        s('line', { x1: 1, x2: 21, y1: 5, y2: 5, stroke: st.color, 'stroke-width': 3, 'stroke-dasharray': st.dash || null })),
      seriesLabel(se)));
    }));
  }

  function redrawAll() {
    const range = Number($('t-range').value);
    for (const m of METRICS) {
      const card = $('chart-' + m.key);
      if (card && S.trends[m.key]) {
        const url = card.querySelector('a.json').getAttribute('href');
        drawChart(card, m, S.trends[m.key], S.regs, { since: range > 0 ? Date.now() - range : 0, now: Date.now(), url: url });
      }
    }
  }

  function fillCaseSelect() {
    const sel = $('t-case');
    const cur = sel.value;
    const names = new Set();
    for (const su of S.suites || []) for (const c of su.cases || []) names.add(c.name);
    for (const mo of S.models) for (const c of mo.cases || []) names.add(c.case);
    for (const k of Object.keys(S.trends)) for (const se of S.trends[k].series || []) if (se.case) names.add(se.case);
    if (cur) names.add(cur);
    const list = Array.from(names).sort();
    const have = Array.from(sel.options).map((o) => o.value).slice(1).join('\u0000');
    if (have === list.join('\u0000')) return;
    replaceKids(sel, h('option', { value: '' }, 'all cases'), list.map((n) => h('option', { value: n, selected: n === cur }, n)));
  }

  function fillModelSelect() {
    const sel = $('t-model');
    const cur = sel.value;
    const list = S.models.map((mo) => mo.model);
    if (cur && !list.includes(cur)) list.push(cur);
    list.sort();
    const have = Array.from(sel.options).map((o) => o.value).slice(1).join('\u0000');
    if (have === list.join('\u0000')) return;
    replaceKids(sel, h('option', { value: '' }, 'all models'), list.map((n) => h('option', { value: n, selected: n === cur }, n)));
  }

  /* ---- regressions ---- */

  async function loadRegressions() {
    const url = '/v1/regressions?all=1&limit=200';
    let r;
    try {
      r = await api(url);
    } catch (e) {
      panelError($('reg-body'), 10, e);
      return false;
    }
    if (!changed(url, r.etag) && S.regsDone) return false;
    S.regsDone = true;
    S.regs = r.body.regressions || [];
    const th = r.body.thresholds;
    $('reg-note').textContent = th
      ? 'A run is flagged when its median differs from the last ' + th.window + ' runs of the same series by |t| ≥ ' + th.t +
        ' and at least ' + (th.change * 100).toFixed(0) + '%. Marked on the charts: ▼ regression, ▲ improvement.'
      : '';
    const tb = $('reg-body');
    if (!S.regs.length) {
      replaceKids(tb, h('tr', null, h('td', { colspan: 10, class: 'empty' }, 'No regressions or improvements detected.')));
      return true;
    }
    renderRegs();
    return true;
  }

  /* The newest REG_ROWS verdicts, or all of them (every one is marked on
   * the charts either way): a table of hundreds of rows costs the first
   * load more than all the charts. */
  function renderRegs() {
    const tb = $('reg-body');
    const more = $('reg-more');
    const all = S.regsAll || S.regs.length <= REG_ROWS;
    more.hidden = S.regs.length <= REG_ROWS;
    more.textContent = all ? 'Show the newest ' + REG_ROWS : 'Show all ' + S.regs.length;
    const unit = (k) => (METRICS.find((m) => m.key === k) || { unit: '' }).unit;
    replaceKids(tb, (all ? S.regs : S.regs.slice(0, REG_ROWS)).map((g) => h('tr', { 'data-verdict': g.verdict },
      h('td', null, fmtTime(g.at)), h('td', null, badge(g.verdict, g.verdict)),
      h('td', { class: 'models' }, g.model), h('td', null, g.case), h('td', null, g.metric + ' (' + unit(g.metric) + ')'),
      h('td', { class: 'num' }, fmt(g.value, 2)), h('td', { class: 'num' }, fmt(g.baseline, 2)),
      h('td', { class: 'num' }, isNum(g.change) ? (g.change * 100).toFixed(1) + '%' : '—'),
      h('td', { class: 'num' }, fmt(g.t, 1)),
      h('td', { class: 'num' }, h('a', { href: '/v1/runs/' + g.run_id }, String(g.run_id))))));
  }

  /* ---- the leaderboard ---- */

  async function loadModels() {
    const url = '/v1/models';
    let r;
    try {
      r = await api(url);
    } catch (e) {
      panelError($('board-body'), 13, e);
      S.modelsLoaded();
      return;
    }
    if (!changed(url, r.etag) && S.modelsDone) return;
    S.modelsDone = true;
    S.models = r.body.models || [];
    fillModelSelect();
    S.modelsLoaded();
    await null;                  /* the trends' requests go out before the board is built */
    renderBoard();
  }

  const openCases = new Set();

  function renderBoard() {
    const tb = $('board-body');
    if (!S.models.length) {
      replaceKids(tb, h('tr', null, h('td', { colspan: 13, class: 'empty' }, 'No finished runs yet.')));
      return;
    }
    const rows = [];
    for (const mo of S.models) {
      const tps = (mo.cases || []).map((c) => c.latest_e2e_tps).filter(isNum);
      const lo = tps.length ? Math.min(...tps) : NaN;
      const hi = tps.length ? Math.max(...tps) : NaN;
      const open = openCases.has(mo.model);
      const subId = 'cases-' + mo.rank;
      const fmtq = [mo.model_format, mo.model_quant].filter(Boolean).join(' ');
      const bar = isNum(mo.relative_speed)
        ? s('svg', { class: 'bar', width: 60, height: 8, viewBox: '0 0 60 8', 'aria-hidden': 'true' },
          s('rect', { x: 0, y: 0, height: 8, width: Math.max(0, Math.min(1, mo.relative_speed)) * 60 }))
        : null;
      rows.push(h('tr', { 'data-model': mo.model },
        h('td', { class: 'num', 'data-k': 'rank' }, String(mo.rank)),
        h('td', { class: 'models' }, mo.model, ' ', h('button', {
          type: 'button', class: 'link', 'aria-expanded': String(open), 'aria-controls': subId,
          'data-focus': 'cases-' + mo.model,
          onclick: () => {
            if (openCases.has(mo.model)) openCases.delete(mo.model); else openCases.add(mo.model);
            renderBoard();
          },
        }, 'cases')),
        h('td', null, fmtq || '—'),
        h('td', { class: 'num', 'data-k': 'size_gb' }, fmtGB(mo.model_size_bytes)),
        h('td', { class: 'num', 'data-k': 'avg_e2e_tps' }, fmt(mo.avg_e2e_tps, 2), bar),
        h('td', { class: 'num', 'data-k': 'range' }, tps.length ? fmt(lo, 2) + '–' + fmt(hi, 2) : '—'),
        h('td', { class: 'num', 'data-k': 'avg_decode_tps' }, fmt(mo.avg_decode_tps, 2)),
        h('td', { class: 'num' + (isNum(mo.pass_rate) && mo.pass_rate < 1 ? ' reason' : ''), 'data-k': 'pass_rate' }, fmtPct(mo.pass_rate)),
        h('td', { class: 'num', 'data-k': 'tps_per_gb' }, fmt(mo.tps_per_gb, 3)),
        h('td', { class: 'num', 'data-k': 'load_s' }, fmt(isNum(mo.load_ms) ? mo.load_ms / 1000 : NaN, 1)),
        h('td', { class: 'num', 'data-k': 'relative_speed' }, fmtPct(mo.relative_speed)),
        h('td', { class: 'num', 'data-k': 'runs' }, String(mo.runs)),
        h('td', null, h('a', { href: '/v1/runs/' + mo.latest_run_id }, '#' + mo.latest_run_id), ' ', fmtTime(mo.latest_at))));
      if (open) {
        rows.push(h('tr', { class: 'sub', id: subId }, h('td', { colspan: 13 },
          h('table', { class: 'data' },
            h('caption', { class: 'sr-only' }, 'Cases of ' + mo.model),
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Case'),
              h('th', { scope: 'col', class: 'num' }, 'e2e TPS (tok/s)'), h('th', { scope: 'col', class: 'num' }, 'Decode TPS (tok/s)'),
              h('th', { scope: 'col', class: 'num' }, 'TTFT (ms)'), h('th', { scope: 'col', class: 'num' }, 'Best e2e TPS (tok/s)'),
              h('th', { scope: 'col', class: 'num' }, 'Pass rate'))),
            h('tbody', null, (mo.cases || []).map((c) => h('tr', { 'data-case': c.case },
              h('td', null, c.case), h('td', { class: 'num' }, fmt(c.latest_e2e_tps, 2)),
              h('td', { class: 'num' }, fmt(c.latest_decode_tps, 2)), h('td', { class: 'num' }, fmt(c.latest_ttft_ms, 1)),
              h('td', { class: 'num' }, fmt(c.best_e2e_tps, 2)),
              h('td', { class: 'num' + (isNum(c.pass_rate) && c.pass_rate < 1 ? ' reason' : '') }, fmtPct(c.pass_rate)))))))));
      }
    }
    replaceKids(tb, rows);
  }

  /* ---- failures ---- */

  async function loadRuns() {
    try {
      const { body } = await api('/v1/runs?limit=200');
      S.runs = body.runs || [];
    } catch (e) {
      S.runs = [];
    }
    renderFailures();
  }

  function renderFailures() {
    const tb = $('fail-body');
    const rows = [];
    for (const j of S.jobs) {
      if (j.error_code) rows.push({ at: j.finished_at || j.updated_at, job: j.id, run: null, model: ((j.spec || {}).models || []).join(', '), code: j.error_code, detail: j.error_detail || '' });
    }
    for (const r of S.runs || []) {
      if (r.error_code) rows.push({ at: r.finished_at || r.started_at, job: r.job_id, run: r.id, model: r.model, code: r.error_code, detail: r.error_detail || '' });
      else if (r.errors > 0) rows.push({ at: r.finished_at || r.started_at, job: r.job_id, run: r.id, model: r.model, code: 'failed_requests', detail: r.errors + ' of ' + r.samples + ' requests failed (see the run\'s samples)' });
    }
    rows.sort((a, b) => (b.at || 0) - (a.at || 0));
    if (!rows.length) {
      replaceKids(tb, h('tr', null, h('td', { colspan: 6, class: 'empty' }, 'No failures.')));
      return;
    }
    replaceKids(tb, rows.slice(0, FAIL_ROWS).map((f) => h('tr', { 'data-job': f.job, 'data-run': f.run ?? '' },
      h('td', null, fmtTime(f.at)), h('td', null, '#' + f.job),
      h('td', null, f.run ? h('a', { href: '/v1/runs/' + f.run + '/samples?limit=5000' }, '#' + f.run) : '—'),
      h('td', { class: 'models' }, f.model), h('td', null, badge(f.code, 'bad')), h('td', { class: 'detail' }, f.detail))));
  }

  /* ---- polling ---- */

  /* The models first: on a first visit the trends wait for them (the
   * default case filter depends on what there is). */
  async function pollHistory(force) {
    const models = loadModels();
    const regs = loadRegressions();
    await Promise.all([regs, models, loadTrends(force, regs), loadRuns()]);
  }

  async function poll() {
    clearTimeout(S.timer);
    if (!document.hidden) {
      try {
        await Promise.all([loadHealth(), loadJobs(), pollHistory(false)]);
      } catch (e) { /* shown by each panel */ }
    }
    const L = S.live;
    if (L && !L.finished && L.job && L.job.kind === 'stability' && Date.now() - (S.stabilityAt || 0) > STAB_POLL_MS)
      showStability(L.job);
    if (L && !L.finished && L.job && L.job.kind === 'capacity' && Date.now() - (S.capacityAt || 0) > STAB_POLL_MS)
      showCapacity(L.job);
    const busy = S.jobs.some((j) => j.state === 'running' || j.state === 'queued');
    S.timer = setTimeout(poll, busy ? POLL_BUSY_MS : POLL_MS);
  }

  async function start() {
    performance.mark('tpsd-start');
    S.modelsReady = new Promise((resolve) => { S.modelsLoaded = resolve; });
    $('submit-form').addEventListener('submit', onSubmit);
    $('token-form').addEventListener('submit', onToken);
    $('cmp-form').addEventListener('submit', onCompare);
    document.addEventListener('click', onApiLink);
    $('f-kind').addEventListener('change', formShow);
    $('f-load').addEventListener('change', formShow);
    formShow();
    for (const id of ['t-model', 't-case', 't-range', 't-bucket']) {
      $(id).addEventListener('change', () => {
        saveDefaults();
        loadTrends(true).catch(() => {});
      });
    }
    $('trend-controls').addEventListener('submit', (e) => e.preventDefault());
    $('reg-more').addEventListener('click', () => {
      S.regsAll = !S.regsAll;
      renderRegs();
    });
    document.addEventListener('visibilitychange', () => { if (!document.hidden) poll(); });
    for (const m of METRICS) $('charts').append(chartCard(m, trendQuery(m.key, 'day', 0)));
    try {
      await Promise.all([pollHistory(true), loadHealth(), loadSuites(), loadJobs()]);
    } catch (e) { /* each panel shows its own error */ }
    performance.mark('tpsd-rendered');
    /* Ready once the browser has laid out and painted what was rendered. */
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    S.ready = true;
    document.documentElement.setAttribute('data-ready', '1');
    performance.mark('tpsd-ready');
    const busy = S.jobs.some((j) => j.state === 'running' || j.state === 'queued');
    S.timer = setTimeout(poll, busy ? POLL_BUSY_MS : POLL_MS);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
