// The console in headless Chromium, as an operator uses it: log in, read the
// overview, page to older events, find a failed event by its delivery id,
// replay it, see it delivered; replay one dead letter and purge another;
// hostile text shows as text; a wrong token reaches nothing.
//
// Run by tests/binary/console_browser.rs, which starts the gateway and the
// downstream and passes: HOOKGATE_URL, HOOKGATE_TOKEN, DELIVERY_ID (of an
// event the downstream failed, since recovered), XSS_ROUTE (a route whose
// name is markup), XSS_TEXT (a fragment of the hostile body), DEAD_ROUTE (a
// queued route holding two dead letters, its downstream since recovered),
// SCREENSHOTS.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const url = process.env.HOOKGATE_URL;
const token = process.env.HOOKGATE_TOKEN;
const deliveryId = process.env.DELIVERY_ID;
const xssRoute = process.env.XSS_ROUTE;
const xssText = process.env.XSS_TEXT;
const deadRoute = process.env.DEAD_ROUTE;
const screenshots = process.env.SCREENSHOTS;
const TIMEOUT = 20000;

function step(text) {
  console.log(`- ${text}`);
}

async function wrongTokenReachesNothing(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${url}/console`);
  assert.equal(new URL(page.url()).pathname, '/console/login', 'no session: the login form');
  await page.fill('#token', 'not-the-admin-token');
  await page.click('button[type=submit]');
  await page.getByText('Wrong token.').waitFor({ timeout: TIMEOUT });
  assert.equal(new URL(page.url()).pathname, '/console/login');
  const cookies = await context.cookies();
  assert.ok(!cookies.some((c) => c.name === 'hookgate_session'), 'no session cookie');
  await page.goto(`${url}/console#/events`);
  assert.equal(new URL(page.url()).pathname, '/console/login', 'still the login form');
  const statuses = await page.evaluate(async () => {
    const call = async (method, path) => (await fetch(path, { method, headers: { 'X-CSRF-Token': 'x' } })).status;
    return [await call('GET', '/admin/events'), await call('POST', '/admin/events/x/replay'),
      await call('DELETE', '/admin/routes/chatwoot/dead-letters')];
  });
  assert.deepEqual(statuses, [401, 401, 401], 'every action refused');
  await context.close();
  step('a wrong token reaches no page and no action');
}

async function logIn(page) {
  await page.goto(`${url}/console`);
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForURL(`${url}/console`, { timeout: TIMEOUT });
  const cookie = (await page.context().cookies()).find((c) => c.name === 'hookgate_session');
  assert.ok(cookie && cookie.httpOnly && cookie.sameSite === 'Strict', 'an HttpOnly, SameSite=Strict session');
  step('logged in');
}

async function overview(page) {
  const table = page.locator('#overview');
  await table.locator('tr[data-route="chatwoot"]').waitFor({ timeout: TIMEOUT });
  await table.locator('tr[data-route="chatwoot"] svg.spark polyline').first().waitFor({ timeout: TIMEOUT });
  const names = await table.locator('tbody tr td:first-child a').allTextContents();
  assert.ok(names.includes('chatwoot'), `routes listed: ${names}`);
  assert.ok(names.includes(xssRoute), 'a route named with markup is listed as text');
  // A queued route answers 202 whatever its downstream does: its errors are its deliveries.
  const failedDeliveries = table.locator('tr[data-route="orders"] .deliveries.bad');
  await failedDeliveries.waitFor({ timeout: TIMEOUT });
  assert.match(await failedDeliveries.textContent(), /^[1-9]\d* of \d+ deliveries failed$/);
  const rate = await table.locator('tr[data-route="orders"] td.errors').evaluate((td) => td.firstChild.textContent);
  assert.equal(rate, '100.0%', 'the queued route\'s error rate is its failed deliveries\'');
  await page.screenshot({ path: `${screenshots}/console-overview.png`, fullPage: true });
  step(`the overview lists ${names.length} routes, a queued route with its failed deliveries`);
}

async function olderEvents(page) {
  await page.click('#nav-events');
  const rows = page.locator('#events tbody tr[data-id]');
  await rows.nth(1).waitFor({ timeout: TIMEOUT });
  const newest = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
  const oldestShown = newest[newest.length - 1];
  await page.click('#older');
  // The older page is drawn once its first row is older than the first page's last.
  await page.waitForFunction((last) => {
    const first = document.querySelector('#events tbody tr[data-id]');
    return first && first.dataset.id < last;
  }, oldestShown, { timeout: TIMEOUT });
  const older = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
  assert.ok(older.every((id) => id < oldestShown), `older ids: ${older}`);
  step(`${newest.length} newest events, then ${older.length} older ones a link away`);
}

async function failedEventReplayed(page) {
  await page.click('#nav-events');
  await page.locator('#events tbody tr[data-id]').nth(1).waitFor({ timeout: TIMEOUT });
  await page.fill('input[name=delivery_id]', deliveryId);
  await page.click('#filters button[type=submit]');
  // The list before the filter has other events; the filtered one, only this.
  await page.waitForFunction(() => window.location.hash.includes('delivery_id')
    && document.querySelectorAll('#events tbody tr[data-id]').length === 1, null, { timeout: TIMEOUT });
  const row = page.locator('#events tbody tr[data-id]');
  assert.equal((await row.locator('td').nth(5).textContent()), deliveryId, 'found by its delivery id');
  assert.equal((await row.locator('td').nth(2).textContent()), '500');
  assert.equal((await row.locator('td').nth(4).textContent()), '—', 'not delivered yet');
  await row.locator('a').click();
  const attempts = page.locator('#attempts li');
  await attempts.first().waitFor({ timeout: TIMEOUT });
  assert.equal(await page.locator('#attempts li.delivered').count(), 0, 'failed at first');
  const facts = await page.locator('#facts').textContent();
  assert.ok(facts.includes(deliveryId) && facts.includes('downstream_error'), `the event's facts: ${facts}`);
  assert.ok((await page.locator('#event-body').textContent()).includes(xssText), 'the body as text');
  await page.click('#replay');
  await page.locator('#attempts li.delivered').waitFor({ timeout: TIMEOUT });
  await page.getByText('Replayed: queued').waitFor({ timeout: TIMEOUT });
  await page.locator('#facts dt', { hasText: 'Delivered' }).waitFor({ timeout: TIMEOUT });
  await page.screenshot({ path: `${screenshots}/console-event.png`, fullPage: true });
  step('the failed event is found, replayed with the button, and shown delivered');
}

// Back in the list, the event still shows the 500 its source was answered,
// and now when it was delivered.
async function replayedShownInTheList(page) {
  await page.goBack();
  await page.waitForFunction(() => {
    const delivered = document.querySelector('#events tbody tr[data-id] td:nth-child(5)');
    return delivered && delivered.classList.contains('good');
  }, null, { timeout: TIMEOUT });
  const row = page.locator('#events tbody tr[data-id]');
  assert.equal((await row.locator('td').nth(2).textContent()), '500');
  step('in the list, the replayed event keeps its 500 and shows when it was delivered');
}

async function hostileTextIsText(page, dialogs, fragments) {
  const text = await page.locator('main').textContent();
  for (const fragment of fragments) assert.ok(text.includes(fragment), `visible as text: ${fragment}`);
  const ran = await page.evaluate(() => [window.__xss, document.querySelectorAll('main img, main script').length]);
  assert.deepEqual(ran, [undefined, 0], 'no hostile element made, no script ran');
  assert.equal(dialogs.length, 0, `no dialog: ${dialogs}`);
  step('hostile body, header, answer and route name show as text and run nothing');
}

async function deadRows(page, count) {
  await page.waitForFunction((n) => document.querySelectorAll('#dead tbody tr[data-id]').length === n,
    count, { timeout: TIMEOUT });
}

async function deadLettersReplayedAndPurged(page) {
  await page.goto(`${url}/console#/`);
  const link = page.locator(`#overview tr[data-route="${deadRoute}"] a[href="#/dead/${deadRoute}"]`);
  await link.waitFor({ timeout: TIMEOUT });
  assert.equal(await link.textContent(), '2', 'the overview counts the dead letters');
  await link.click();
  await deadRows(page, 2);
  const rows = page.locator('#dead tbody tr[data-id]');
  // Purging asks to be clicked twice, on the page; the table is redrawn in
  // between (here by the replay of the other row), and the button stays armed.
  await rows.nth(1).getByRole('button', { name: 'Purge', exact: true }).click();
  await rows.nth(0).getByRole('button', { name: 'Replay', exact: true }).click();
  await page.getByText('Replayed 1.').waitFor({ timeout: TIMEOUT });
  // Delivered, it is a dead letter no more.
  await deadRows(page, 1);
  await rows.first().getByRole('button', { name: 'Purge: click again', exact: true }).click({ timeout: TIMEOUT });
  await page.getByText('Purged 1.').waitFor({ timeout: TIMEOUT });
  await page.getByText('No dead letter.').waitFor({ timeout: TIMEOUT });
  step('one dead letter replayed and delivered, the other purged');
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  mkdirSync(screenshots, { recursive: true });
  await wrongTokenReachesNothing(browser);
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  const dialogs = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    dialog.dismiss();
  });
  await logIn(page);
  await overview(page);
  await olderEvents(page);
  await failedEventReplayed(page);
  // The body, a header and the downstream's answer each carry markup.
  await hostileTextIsText(page, dialogs, [xssText, '"><img src=x onerror=window.__xss=3>', '<b onmouseover=']);
  await replayedShownInTheList(page);
  await page.goto(`${url}/console#/`);
  await overview(page);
  await hostileTextIsText(page, dialogs, [xssRoute]);
  await deadLettersReplayedAndPurged(page);
  console.log('console: all checks passed');
} finally {
  await browser.close();
}
