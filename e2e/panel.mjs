// End-to-end scenario of the Efir admin panel in headless Chromium.
//
// Run by crates/efir/tests/panel_e2e.rs, which starts `efir serve` and
// passes everything through EFIR_E2E_* variables (see `need` below). Every
// step goes through the panel's pages (forms, buttons); the device API and
// the router are called as a set-top box would call them. A failed step
// fails the run; steps that depend on it are reported as not run. The
// screenshots go to EFIR_E2E_ARTIFACTS.
//
//   chains (independent of each other):
//     login        superuser and operator admin log in (dashboard)
//     subscriber   tariff -> channel -> customer + tariff -> account ->
//                  the channel in the device API's channel/list
//     cdn          drain the edge a channel is routed to; the router moves
//     ingest       a file dropped into the hot folder -> its job at 100 %
//     cases        a case, a task with a reminder; the reminder fires

import { chromium } from 'playwright-core';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through crates/efir/tests/panel_e2e.rs)`);
  return v;
}

const BASE = need('EFIR_E2E_BASE');
const ROUTER = need('EFIR_E2E_ROUTER');
const ARTIFACTS = need('EFIR_E2E_ARTIFACTS');
const CHROMIUM = process.env.EFIR_E2E_CHROMIUM || '/usr/bin/chromium';
const [SU_NAME, SU_PASSWORD] = splitOnce(need('EFIR_E2E_SUPERUSER'), ':');
const [OP_NAME, OP_PASSWORD] = splitOnce(need('EFIR_E2E_OPERATOR'), ':');
const CLIENT_ID = need('EFIR_E2E_CLIENT_ID');
const API_KEY = need('EFIR_E2E_API_KEY');
const EDGES = Object.fromEntries(need('EFIR_E2E_EDGES').split(',').map((e) => splitOnce(e, '=')));
const HOT_FOLDER = need('EFIR_E2E_HOT_FOLDER');
const PIPELINE = need('EFIR_E2E_PIPELINE');
const SAMPLE = need('EFIR_E2E_SAMPLE');
const EFIR_BIN = need('EFIR_E2E_BIN');
const MANAGE_DIR = need('EFIR_E2E_MANAGE_DIR');

const TIMEOUT = 15_000;
const RUN = Date.now().toString(36);

function splitOnce(s, sep) {
  const i = s.indexOf(sep);
  if (i < 0) throw new Error(`expected NAME${sep}VALUE, got ${s}`);
  return [s.slice(0, i), s.slice(i + sep.length)];
}

// ------------------------------------------------------------------ steps

const results = [];
const failedChains = new Map();

function log(line) {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

/** Runs step `name` of `chain` unless an earlier step of the chain failed. */
async function step(chain, name, page, fn) {
  if (failedChains.has(chain)) {
    const why = `not run: step "${failedChains.get(chain)}" failed`;
    results.push({ chain, name, status: 'not run', why });
    log(`SKIP [${chain}] ${name}: ${why}`);
    return;
  }
  log(`.... [${chain}] ${name}`);
  const started = Date.now();
  try {
    await fn();
    results.push({ chain, name, status: 'ok' });
    log(`ok   [${chain}] ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failedChains.set(chain, name);
    const why = (e && e.message) || String(e);
    results.push({ chain, name, status: 'FAILED', why });
    log(`FAIL [${chain}] ${name}: ${why}`);
    if (page) {
      const file = `failed-${chain}-${name.replace(/[^a-z0-9]+/gi, '-')}.png`;
      await page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true }).catch(() => {});
      log(`     page: ${page.url()} (screenshot ${file})`);
    }
  }
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

// ------------------------------------------------------------------ page helpers

/** Opens a panel page and requires a 200 (a missing page says so). */
async function open(page, url) {
  const resp = await page.goto(BASE + url, { waitUntil: 'load' });
  const status = resp ? resp.status() : 0;
  if (status === 404) {
    throw new Error(`page ${url} answers 404: not built yet or not routed`);
  }
  check(status === 200, `GET ${url} answered ${status}: ${await pageError(page)}`);
  check(!new URL(page.url()).pathname.startsWith('/admin/login'), `GET ${url} went to the login page`);
  return resp;
}

async function pageError(page) {
  const t = await page.locator('.error, h1').first().textContent().catch(() => '');
  return (t || '').trim().slice(0, 300);
}

/** Field errors shown on a form page (`#err-<name>`). */
async function fieldErrors(page) {
  return page.$$eval('[id^="err-"]', (els) => els.map((e) => `${e.id.slice(4)}: ${e.textContent.trim()}`));
}

/** Submits `form` by its submit button; requires a successful page after it. */
async function submit(page, form, what) {
  const count = await form.count();
  check(count > 0, `${what}: no such form on ${page.url()}`);
  const nav = page.waitForNavigation({ waitUntil: 'load', timeout: TIMEOUT });
  await form.first().locator('button[type=submit]').first().click();
  const resp = await nav;
  const status = resp ? resp.status() : 0;
  if (status === 422) {
    throw new Error(`${what}: refused (422): ${(await fieldErrors(page)).join('; ') || (await pageError(page))}`);
  }
  check(status > 0 && status < 400, `${what}: answered ${status}: ${await pageError(page)}`);
  return resp;
}

/** Fills the form field `name` (`#f-name`); it must exist. */
async function fill(page, name, value) {
  const field = page.locator(`#f-${name}`);
  check((await field.count()) > 0, `no field #f-${name} on ${page.url()}`);
  await field.fill(value);
}

/** Fills `#f-name` when the form has such a field. */
async function fillIfPresent(page, name, value) {
  if ((await page.locator(`#f-${name}`).count()) > 0) await page.locator(`#f-${name}`).fill(value);
}

/** The id at the end of the current URL's path `/admin/<prefix>/<id>`. */
function idFromUrl(page, prefix) {
  const m = new URL(page.url()).pathname.match(new RegExp(`^/admin/${prefix}/(\\d+)/?$`));
  check(m, `expected to land on /admin/${prefix}/<id>, got ${page.url()}`);
  return m[1];
}

async function bodyText(page) {
  return (await page.locator('main').textContent()) || '';
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function until(what, seconds, fn) {
  const deadline = Date.now() + seconds * 1000;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Logs in through the login form. */
async function login(page, username, password) {
  await page.goto(`${BASE}/admin/`);
  check(new URL(page.url()).pathname === '/admin/login', `/admin/ without a session should go to the login page, got ${page.url()}`);
  await page.locator('#login-form input[name=username]').fill(username);
  await page.locator('#login-form input[name=password]').fill(password);
  await submit(page, page.locator('#login-form'), `log in as ${username}`);
  check(new URL(page.url()).pathname === '/admin/', `after logging in expected /admin/, got ${page.url()}`);
  check((await page.locator('#logout').count()) === 1, 'no log-out button after logging in');
  check((await page.locator('#profile-link').textContent()).includes(username), 'the header does not name the user');
}

// ------------------------------------------------------------------ outside calls

/** A device API call as a set-top box makes it. */
async function tv(method, params) {
  const q = new URLSearchParams({ client_id: CLIENT_ID, ...params });
  const r = await fetch(`${BASE}/tvmiddleware/api/${method}/?${q}`);
  check(r.status === 200, `device API ${method}: HTTP ${r.status}`);
  return r.json();
}

/** Where the router sends a live request: [status, Location]. */
async function route(key) {
  const r = await fetch(`${ROUTER}/btv/live/hls/${key}.m3u8`, { redirect: 'manual' });
  return [r.status, r.headers.get('location') || ''];
}

/** `efir manage ARGS --json` on the test's database (optionally at a frozen time). */
function manage(args, now) {
  const env = { ...process.env };
  if (now) env.EFIR_NOW = String(now);
  const r = spawnSync(EFIR_BIN, ['manage', ...args, '--json'], { cwd: MANAGE_DIR, env, encoding: 'utf8' });
  check(r.status === 0, `efir manage ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** `2026-12-04T16:50` in UTC. */
function utcMinute(unixSeconds) {
  return new Date(unixSeconds * 1000).toISOString().slice(0, 16);
}

// ------------------------------------------------------------------ scenario

fs.mkdirSync(ARTIFACTS, { recursive: true });
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
log(`Chromium ${browser.version()}, panel ${BASE}, router ${ROUTER}, artefacts ${ARTIFACTS}`);
const jsErrors = [];

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('dialog', (d) => d.accept()); // data-confirm buttons
  page.on('pageerror', (e) => jsErrors.push(`${page.url()}: ${e.message}`));
  return page;
}

const op = await newPage(); // the operator's admin: subscribers, content, cases
const su = await newPage(); // the superuser: CDN edges, the ingest farm

// --- login -----------------------------------------------------------------

await step('login-refused', 'a wrong password is refused', op, async () => {
  await op.goto(`${BASE}/admin/login`);
  await op.locator('#login-form input[name=username]').fill(OP_NAME);
  await op.locator('#login-form input[name=password]').fill('not-the-password');
  const nav = op.waitForNavigation();
  await op.locator('#login-form button[type=submit]').click();
  const resp = await nav;
  check(resp.status() === 401, `a wrong password answered ${resp.status()}, expected 401`);
  check((await op.locator('.error[role=alert]').count()) === 1, 'no error message for a wrong password');
});

await step('login', 'the operator admin logs in', op, async () => {
  await login(op, OP_NAME, OP_PASSWORD);
  await shot(op, 'dashboard-operator');
});

await step('login', 'the superuser logs in and sees the dashboard', su, async () => {
  await login(su, SU_NAME, SU_PASSWORD);
  check((await su.locator('main h1').textContent()).trim().length > 0, 'the dashboard has no heading');
  await shot(su, 'dashboard');
});

const loggedIn = !failedChains.has('login');
if (!loggedIn) {
  for (const c of ['subscriber', 'cdn', 'ingest', 'cases']) failedChains.set(c, 'login');
}

// --- subscriber: tariff, channel, customer, account, device API ------------

const tariffName = `E2E Basic ${RUN}`;
const channelName = `E2E News ${RUN}`;
const abonement = `e2e${RUN}`;
const accountPassword = 'pa55-e2e';
let tariffId, channelId, customerId, accountId;

await step('subscriber', 'create a tariff', op, async () => {
  await open(op, '/admin/tariffs');
  const create = op.locator('#create-link');
  check((await create.count()) === 1, 'the tariff list has no create link');
  await create.click();
  await op.waitForLoadState();
  check(new URL(op.url()).pathname === '/admin/tariffs/new', `the create link went to ${op.url()}`);
  await fill(op, 'name', tariffName);
  await fill(op, 'price', '9.90');
  await fillIfPresent(op, 'period', '1');
  await fill(op, 'basic_tariff_priority', '1');
  await fillIfPresent(op, 'description', 'Made by the browser test');
  await submit(op, op.locator('form.form'), 'create the tariff');
  tariffId = idFromUrl(op, 'tariffs');
  check((await bodyText(op)).includes(tariffName), 'the new tariff page does not show its name');
  await open(op, '/admin/tariffs');
  check((await bodyText(op)).includes(tariffName), 'the tariff list does not show the new tariff');
  await shot(op, 'tariffs');
});

await step('subscriber', 'create a channel in that tariff', op, async () => {
  await open(op, '/admin/content/channel');
  const create = op.locator('#create-link');
  check((await create.count()) === 1, 'the channel list has no create link');
  await create.click();
  await op.waitForLoadState();
  check(new URL(op.url()).pathname === '/admin/content/channel/new', `the create link went to ${op.url()}`);
  await fill(op, 'name', channelName);
  await fillIfPresent(op, 'uri', 'http://origin.e2e.tv/news/index.m3u8');
  const enabled = op.locator('form.form input[type=checkbox][name=enabled]');
  if ((await enabled.count()) > 0) await enabled.check();
  const tariffBox = op.locator(`form.form input[type=checkbox][name=tariff_id][value="${tariffId}"]`);
  check((await tariffBox.count()) === 1, `the channel form has no tariff_id checkbox for tariff ${tariffId}`);
  await tariffBox.check();
  await submit(op, op.locator('form.form'), 'create the channel');
  const m = new URL(op.url()).pathname.match(/^\/admin\/content\/channel\/(\d+)\/?$/);
  await open(op, '/admin/content/channel');
  const link = op.locator('main table a', { hasText: channelName }).first();
  check((await link.count()) > 0, 'the channel list does not show the new channel');
  if (m) {
    channelId = m[1];
  } else {
    const href = await link.getAttribute('href');
    channelId = (href.match(/\/admin\/content\/channel\/(\d+)/) || [])[1];
    check(channelId, `no channel id in the list's link ${href}`);
  }
  await shot(op, 'channels');
});

await step('subscriber', 'create a customer', op, async () => {
  await open(op, '/admin/customers');
  const create = op.locator('#create-link');
  check((await create.count()) === 1, 'the customer list has no create link');
  await create.click();
  await op.waitForLoadState();
  check(new URL(op.url()).pathname === '/admin/customers/new', `the create link went to ${op.url()}`);
  await fill(op, 'firstname', 'Ann');
  await fill(op, 'lastname', `Browser-${RUN}`);
  await fill(op, 'email', `ann-${RUN}@e2e.tv`);
  await fillIfPresent(op, 'mobile_phone_number', '+79990000001');
  await fillIfPresent(op, 'ext_id', `crm-${RUN}`);
  await submit(op, op.locator('form.form'), 'create the customer');
  customerId = idFromUrl(op, 'customers');
  check((await bodyText(op)).includes(`Browser-${RUN}`), 'the customer page does not show the name');
  // Found by search in the list.
  await open(op, `/admin/customers?q=${encodeURIComponent(`Browser-${RUN}`)}`);
  check(
    (await op.locator(`main table a[href="/admin/customers/${customerId}"]`).count()) > 0,
    'searching the customer list for the name does not find the customer',
  );
  await shot(op, 'customers');
});

await step('subscriber', 'assign the tariff to the customer', op, async () => {
  await open(op, `/admin/customers/${customerId}`);
  const form = op.locator(`form[action="/admin/customers/${customerId}/tariffs"]`);
  check((await form.count()) === 1, 'the customer page has no "assign a tariff" form');
  await form.locator('select[name=tariff_id]').selectOption(tariffId);
  await submit(op, form, 'assign the tariff');
  await open(op, `/admin/customers/${customerId}`);
  check(
    (await op.locator(`main table a[href="/admin/tariffs/${tariffId}"]`).count()) > 0,
    'the customer page does not list the assigned tariff',
  );
});

await step('subscriber', 'create an account for the customer', op, async () => {
  const form = op.locator(`form[action="/admin/customers/${customerId}/accounts"]`);
  check((await form.count()) === 1, 'the customer page has no "new account" form');
  await form.locator('[name=abonement]').fill(abonement);
  await form.locator('[name=password]').fill(accountPassword);
  await submit(op, form, 'create the account');
  accountId = idFromUrl(op, 'accounts');
  check((await bodyText(op)).includes(abonement), 'the account page does not show the abonement');
  check(
    (await op.locator('main table', { hasText: channelName }).count()) > 0,
    `the account page does not list the channel "${channelName}" it gets`,
  );
  await shot(op, 'account');
  await open(op, `/admin/customers/${customerId}`);
  check(
    (await op.locator(`main table a[href="/admin/accounts/${accountId}"]`).count()) > 0,
    'the customer page does not list the new account',
  );
  await shot(op, 'customer');
});

await step('subscriber', "the channel is in the account's device API channel list", null, async () => {
  const login = await tv('login', {
    api_key: API_KEY,
    abonement,
    password: accountPassword,
    device_uid: `e2e-stb-${RUN}`,
  });
  check(login.error === 0, `device login failed: ${JSON.stringify(login)}`);
  check(typeof login.authkey === 'string' && login.authkey.length > 0, 'device login gave no authkey');
  const list = await tv('channel/list', { authkey: login.authkey });
  check(list.error === 0, `channel/list failed: ${JSON.stringify(list)}`);
  const names = (list.channels || []).map((c) => c.name);
  check(names.includes(channelName), `channel/list has ${JSON.stringify(names)}, not "${channelName}"`);
  const ch = list.channels.find((c) => c.name === channelName);
  check(String(ch.id) === String(channelId), `channel/list gives id ${ch.id}, the panel ${channelId}`);
});

// --- cdn: drain the edge a channel goes to --------------------------------

const routeKey = `e2e-${RUN}`;
let drained;

function edgeOf(location) {
  let origin;
  try {
    origin = new URL(location).origin;
  } catch {
    return undefined;
  }
  return Object.keys(EDGES).find((name) => new URL(EDGES[name]).origin === origin);
}

await step('cdn', 'the router sends a live request to one of the edges', null, async () => {
  const [status, location] = await route(routeKey);
  check(status === 302, `the router answered ${status}, expected 302`);
  drained = edgeOf(location);
  check(drained, `the router sent ${location}, to none of the edges ${JSON.stringify(EDGES)}`);
  log(`     /btv/live/hls/${routeKey}.m3u8 -> ${location} (${drained})`);
});

await step('cdn', 'drain that edge on its page', su, async () => {
  await open(su, '/admin/cdn/edges');
  for (const name of Object.keys(EDGES)) {
    check((await bodyText(su)).includes(name), `the edge list does not show ${name}`);
  }
  const link = su.locator('main table a', { hasText: drained }).first();
  check((await link.count()) > 0, `the edge list has no link to ${drained}`);
  await link.click();
  await su.waitForLoadState();
  check(/^\/admin\/cdn\/edges\/\d+$/.test(new URL(su.url()).pathname), `the edge link went to ${su.url()}`);
  const drain = su.locator('form[action$="/drain"]');
  check((await drain.count()) > 0, `the page of ${drained} has no drain button`);
  await submit(su, drain, `drain ${drained}`);
  await shot(su, 'edge');
});

await step('cdn', 'the router stops sending to the drained edge', su, async () => {
  const other = Object.keys(EDGES).find((n) => n !== drained);
  const location = await until(`the router to move away from ${drained}`, 12, async () => {
    const [status, loc] = await route(routeKey);
    return status === 302 && edgeOf(loc) !== drained ? loc : null;
  });
  check(edgeOf(location) === other, `after the drain the router sent ${location}, expected ${other}`);
  log(`     after the drain: ${location} (${other})`);
  await open(su, '/admin/cdn/edges');
  const row = su.locator('main table tr', { hasText: drained });
  check(/drain/i.test((await row.first().textContent()) || ''), `the edge list does not show ${drained} as draining`);
  await shot(su, 'edges');
});

// --- ingest: a file in the hot folder, its job at 100 % -------------------

const clip = `e2e-clip-${RUN}.mp4`;

await step('ingest', 'a file dropped into the hot folder shows up as a job', su, async () => {
  const part = path.join(HOT_FOLDER, `.${clip}.part`);
  fs.copyFileSync(SAMPLE, part);
  fs.renameSync(part, path.join(HOT_FOLDER, clip));
  // The list shows the job by its file name or, failing that, by the hot
  // folder's pipeline (this run drops one file only); the job's page must
  // then name the file.
  const link = await until(`a job for ${clip} in the job list`, 60, async () => {
    await open(su, '/admin/ingest/jobs');
    const jobLink = 'a[href^="/admin/ingest/jobs/"]';
    const byName = su.locator('main table tbody tr', { hasText: clip }).locator(jobLink);
    if ((await byName.count()) > 0) return byName.first();
    const byPipeline = su
      .locator('main table tbody tr')
      .filter({ has: su.locator('td', { hasText: new RegExp(`^\\s*${PIPELINE}\\s*$`) }) })
      .locator(jobLink);
    return (await byPipeline.count()) > 0 ? byPipeline.first() : null;
  });
  await shot(su, 'jobs');
  await link.click();
  await su.waitForLoadState();
  check(/^\/admin\/ingest\/jobs\/\d+$/.test(new URL(su.url()).pathname), `the job link went to ${su.url()}`);
  check((await bodyText(su)).includes(clip), `the job page does not name the file ${clip}`);
});

await step('ingest', 'the job page reaches 100 %', su, async () => {
  const jobId = idFromUrl(su, 'ingest/jobs');
  check((await su.locator('[data-events^="/admin/ingest/events"]').count()) === 1, 'the job page does not subscribe to /admin/ingest/events');
  const job = su.locator(`[data-job="${jobId}"]`);
  check((await job.count()) === 1, `the job page has no [data-job="${jobId}"]`);
  const initial = ((await job.locator('[data-field=state]').first().textContent()) || '').trim();
  // Live: no reloads, the page updates itself.
  await until('the job page to show 100 % and succeeded', 60, async () => {
    const progress = ((await job.locator('[data-field=progress]').first().textContent()) || '').trim();
    const state = ((await job.locator('[data-field=state]').first().textContent()) || '').trim();
    if (state === 'failed' || state === 'dead' || state === 'cancelled') {
      throw new Error(`the job ended ${state}: ${await bodyText(su)}`);
    }
    return /^100\s*%$/.test(progress) && state === 'succeeded';
  });
  const bar = job.locator('progress[max="100"]').first();
  check((await bar.count()) === 1, 'the job page has no <progress max="100">');
  check(Number(await bar.evaluate((e) => e.value)) === 100, 'the progress bar is not full');
  if (initial !== 'succeeded') {
    log(`     the page opened with the job ${initial} and updated itself to succeeded`);
    await shot(su, 'job-live');
  }
  // Rendered afresh, the page says the same.
  await open(su, `/admin/ingest/jobs/${jobId}`);
  check(
    ((await job.locator('[data-field=state]').first().textContent()) || '').trim() === 'succeeded',
    'after a reload the job page does not say succeeded',
  );
  check(
    /^100\s*%$/.test(((await job.locator('[data-field=progress]').first().textContent()) || '').trim()),
    'after a reload the job page does not say 100 %',
  );
  await shot(su, 'job');
});

// --- cases: a case, a task with a reminder, the reminder fires ----------

const caseTitle = `E2E: no picture on ${channelName}`;
const taskTitle = `Call Ann back ${RUN}`;
let caseId;
let nowS; // when the task was added

await step('cases', 'open a case', op, async () => {
  await open(op, '/admin/cases');
  const create = op.locator('#create-link');
  check((await create.count()) === 1, 'the case list has no create link');
  await create.click();
  await op.waitForLoadState();
  check(new URL(op.url()).pathname === '/admin/cases/new', `the create link went to ${op.url()}`);
  await op.locator('#f-case_type').selectOption('support_ticket');
  await fill(op, 'title', caseTitle);
  await fill(op, 'description', 'The subscriber sees a black screen. <script>alert(1)</script>');
  await submit(op, op.locator('form.form'), 'create the case');
  caseId = idFromUrl(op, 'cases');
  check((await bodyText(op)).includes(caseTitle), 'the case page does not show its title');
});

await step('cases', 'add a task with a reminder', op, async () => {
  const form = op.locator(`form[action="/admin/cases/${caseId}/tasks"]`);
  check((await form.count()) === 1, 'the case page has no task form');
  nowS = Math.floor(Date.now() / 1000);
  await form.locator('[name=title]').fill(taskTitle);
  await form.locator('[name=due_at]').fill(utcMinute(nowS + 86_400));
  // Reminds in two to three minutes: not yet when the reminders first run.
  await form.locator('[name=remind_at]').fill(utcMinute(nowS + 180));
  await submit(op, form, 'add the task');
  await open(op, `/admin/cases/${caseId}`);
  check((await bodyText(op)).includes(taskTitle), 'the case page does not list the task');
  check((await op.locator('script', { hasText: 'alert(1)' }).count()) === 0, 'the description was not escaped');
  await shot(op, 'case');
});

await step('cases', 'the reminder does not fire before its time', op, async () => {
  const r = manage(['send-case-reminders']);
  check(r.reminders_sent === 0, `send-case-reminders now sent ${JSON.stringify(r)}`);
  await open(op, '/admin/notifications');
  check(!(await bodyText(op)).includes(taskTitle), 'the reminder shows before its time');
});

await step('cases', 'the reminder fires and shows in the notifications', op, async () => {
  const r = manage(['send-case-reminders'], nowS + 300);
  check(r.reminders_sent === 1, `send-case-reminders five minutes later: ${JSON.stringify(r)}`);
  await open(op, '/admin/notifications');
  check((await bodyText(op)).includes(taskTitle), `the notifications do not show the reminder of "${taskTitle}"`);
  await shot(op, 'notifications');
});

// --- the end ---------------------------------------------------------------

await step('login', 'the dashboard after the scenario', su, async () => {
  await open(su, '/admin/');
  await shot(su, 'dashboard');
});

if (jsErrors.length > 0) {
  results.push({ chain: 'pages', name: 'no JavaScript errors', status: 'FAILED', why: jsErrors.join('\n') });
  log(`FAIL [pages] JavaScript errors:\n${jsErrors.join('\n')}`);
}
await browser.close();

const count = (s) => results.filter((r) => r.status === s).length;
log('');
log('summary:');
for (const r of results) {
  log(`  ${r.status.padEnd(7)} [${r.chain}] ${r.name}${r.why ? ` — ${r.why}` : ''}`);
}
log(`e2e: ${count('ok')} ok, ${count('FAILED')} failed, ${count('not run')} not run; screenshots in ${ARTIFACTS}`);
process.exit(count('FAILED') + count('not run') === 0 ? 0 : 1);
