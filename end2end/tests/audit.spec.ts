import { expect, type APIRequestContext, type Page, type TestInfo } from '@playwright/test';
import * as path from 'node:path';
import { apiHeaders, BRANCH, exclusive, hasJs, listItems, ready, SCREENSHOTS, test, type DiffItem } from './helpers';

/** The "what" choice for decisions: every action a verdict writes, one by one or in bulk. */
const VERDICTS = ['review.approve', 'review.reject', 'review.reset', 'review.bulk', 'review.group'];

/** The comment of this file's approvals: long, with a long unbroken run, as a lead may paste. */
function commentFor(testInfo: TestInfo): string {
  return `approved by the e2e audit test (${testInfo.project.name}), see https://example.org/${'notes/'.repeat(20)}end`;
}

/** Approves the first pending, non-conflicting item matching `filter` through the JSON API. */
async function approveThroughApi(request: APIRequestContext, filter: string, comment: string): Promise<DiffItem> {
  return exclusive('approvals', async () => {
    const [item] = await listItems(request, `per_page=1&conflict=false&status=pending&${filter}`);
    expect(item, `a pending item with ${filter}`).toBeTruthy();
    const response = await request.post(
      `/api/v1/branches/${BRANCH}/diffs/${encodeURIComponent(item.chart_id)}/review`,
      {
        headers: apiHeaders(),
        data: {
          status: 'approved',
          staging_hash: item.staging_hash,
          production_hash: item.production_hash,
          comment,
        },
      },
    );
    expect(response.status(), await response.text()).toBe(200);
    const decided = await response.json();
    expect(decided.review.status).toBe('approved');
    return item;
  });
}

/** The page's `action` filter, as the URL holds it. */
function actionOf(page: Page): string | null {
  return new URL(page.url()).searchParams.get('action');
}

/** Chooses `what` in the filter form and submits it (a plain GET form, with or without JS). */
async function filterBy(page: Page, testInfo: TestInfo, what: string, fields: Record<string, string> = {}) {
  await page.locator('[data-testid=filter-action]').selectOption({ label: what });
  for (const [name, value] of Object.entries(fields)) await page.locator(`[data-testid=filter-${name}]`).fill(value);
  await page.locator('[data-testid=audit-filters] button[type=submit]').click();
  await expect(page).toHaveURL(/[?&]action=/);
  await ready(page, testInfo);
  // The form keeps what was asked.
  await expect(page.locator('[data-testid=filter-action] option:checked')).toHaveText(what);
}

/** Filters the audit trail through its GET form: verdicts on one chart. */
async function filterByChart(page: Page, chartId: string, testInfo: TestInfo) {
  await page.goto('/audit');
  await ready(page, testInfo);
  await expect(page.locator('[data-testid=audit-table]')).toBeVisible();
  await filterBy(page, testInfo, 'Verdicts', { chart_id: chartId });
  await expect(page).toHaveURL(new RegExp(`[?&]chart_id=${chartId}(&|$)`));
  expect(actionOf(page)).toBe(VERDICTS.join(','));

  const rows = page.locator('[data-testid=audit-row]');
  await expect(rows.first()).toBeVisible();
  for (const row of await rows.all()) {
    await expect(row).toContainText(chartId);
    expect(VERDICTS).toContain(await row.getAttribute('data-action'));
  }
  const comment = commentFor(testInfo);
  const mine = rows.filter({ has: page.locator(`summary[title="${comment}"]`) });
  await expect(mine).toHaveCount(1);
  // The comment is a labelled field, cut short, the whole of it one click away (native
  // <details>: no JavaScript needed).
  const detail = mine.locator('[data-testid=audit-detail]');
  await expect(detail.locator('dt')).toHaveText(['comment:']);
  const whole = detail.locator('.audit-long .whole');
  await expect(whole).toBeHidden();
  await detail.locator('.audit-long summary').click();
  await expect(whole).toBeVisible();
  await expect(whole).toHaveText(comment);
  await expect(page.locator('[data-testid=filter-chart_id]')).toHaveValue(chartId);
}

test('a decision made through the API is in the audit trail, its CSV and its version', async ({
  page,
  request,
}, testInfo) => {
  test.skip(!hasJs(testInfo), 'the no-JavaScript variant is below');
  const item = await approveThroughApi(request, 'kind=new', commentFor(testInfo));
  const chartId = item.chart_id;

  await page.goto('/audit');
  await ready(page, testInfo);
  await expect(page.locator('[data-testid=audit-table]')).toBeVisible();
  const plot = page.locator('[data-testid=decisions-plot]');
  await expect(plot.locator('svg')).toBeVisible();
  expect(await plot.locator('svg rect').count()).toBeGreaterThanOrEqual(1);
  await expect(plot).toContainText(process.env.CHARTGATE_E2E_EMAIL ?? 'e2e@example.com');

  await filterByChart(page, chartId, testInfo);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'audit.png'), fullPage: true });

  const csv = page.locator('[data-testid=csv-link]');
  const href = await csv.getAttribute('href');
  expect(href).toBeTruthy();
  const params = new URL(href!, page.url()).searchParams;
  expect(params.get('format')).toBe('csv');
  expect(params.get('chart_id')).toBe(chartId);
  expect(params.get('action')).toBe(VERDICTS.join(','));

  // The session cookie authenticates the download.
  const response = await page.request.get(href!);
  expect(response.status()).toBe(200);
  expect(response.headers()['content-type']).toMatch(/^text\/csv/);
  const lines = (await response.text()).split(/\r?\n/).filter((l) => l.length > 0);
  expect(lines[0]).toMatch(/^id,at,actor,action/);
  expect(lines.length).toBeGreaterThanOrEqual(2);
  for (const line of lines.slice(1)) expect(line).toContain(chartId);
  expect(lines.some((l) => l.includes('review.approve'))).toBe(true);

  // The exact content approved, by hash: 8 characters shown, the whole hash in the title.
  const row = page.locator('[data-testid=audit-row]').filter({ has: page.locator(`summary[title="${commentFor(testInfo)}"]`) });
  const version = row.locator('[data-testid=version-link]');
  await expect(version).toHaveCount(1);
  await expect(version).toHaveText(item.staging_hash!.slice(0, 8));
  await expect(version).toHaveAttribute('title', new RegExp(item.staging_hash!));
  const versionHref = await version.getAttribute('href');
  expect(versionHref).toBe(`/versions/${item.staging_hash}`);
  await version.click();
  await expect(page).toHaveURL(new RegExp(`/versions/${item.staging_hash}$`));
  await ready(page, testInfo);
  await expect(page.locator('[data-testid=version-hash]')).toHaveText(item.staging_hash!.slice(0, 12));
  await expect(page.locator('[data-testid=chart-svg]')).toHaveCount(1);
  await expect(page.locator('[data-testid=chart-svg]')).toBeVisible();
});

test('the audit filter form works without JavaScript', async ({ page, request }, testInfo) => {
  test.skip(hasJs(testInfo), 'the JavaScript variant is above');
  // A different item from the js test: a config-only change.
  const item = await approveThroughApi(request, 'kind=modified&part=config', commentFor(testInfo));
  await filterByChart(page, item.chart_id, testInfo);
  const href = await page.locator('[data-testid=csv-link]').getAttribute('href');
  const params = new URL(href!, page.url()).searchParams;
  expect([params.get('format'), params.get('chart_id'), params.get('action')]).toEqual([
    'csv',
    item.chart_id,
    VERDICTS.join(','),
  ]);
});

test('the audit "what" select narrows the trail, with and without JavaScript', async ({ page }, testInfo) => {
  await page.goto('/audit');
  await ready(page, testInfo);

  // Branches: the demo registered several.
  await filterBy(page, testInfo, 'Branches');
  expect(actionOf(page)).toBe('branch.*');
  const rows = page.locator('[data-testid=audit-row]');
  await expect(rows.first()).toBeVisible();
  for (const action of await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-action')))) {
    expect(action).toMatch(/^branch\./);
  }
  // Each registration's detail as fields: where its store is, whether it is a fork.
  const registrations = page.locator('[data-testid=audit-row][data-action="branch.register"]');
  await expect(registrations.first()).toBeVisible();
  for (const r of await registrations.all()) await expect(r.locator('dt').first()).toHaveText('store:');
  await expect(registrations.filter({ hasText: /fork:\s*(yes|no)/ }).first()).toBeVisible();

  // Verdicts by one person: the "what" select and the actor together.
  const email = process.env.CHARTGATE_E2E_EMAIL ?? 'e2e@example.com';
  await filterBy(page, testInfo, 'Verdicts', { actor: email });
  expect(actionOf(page)).toBe(VERDICTS.join(','));
  await expect(page.locator('[data-testid=filter-actor]')).toHaveValue(email);
  for (const row of await rows.all()) {
    expect(VERDICTS).toContain(await row.getAttribute('data-action'));
    await expect(row.locator('td.audit-who')).toHaveText(email);
  }

  // Dismissals: whatever the trail holds, only dismissals, or the empty state.
  await filterBy(page, testInfo, 'Dismissals');
  expect(actionOf(page)).toBe('review.dismiss');
  const dismissals = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-action')));
  if (dismissals.length === 0) {
    await expect(page.locator('[data-testid=audit-empty]')).toHaveText('No events match these filters.');
  }
  for (const action of dismissals) expect(action).toBe('review.dismiss');

  // An event's action is a link to that action alone; the select names it.
  await filterBy(page, testInfo, 'Syncs');
  const first = rows.first();
  if ((await rows.count()) > 0) {
    const action = (await first.getAttribute('data-action'))!;
    await first.locator('td.audit-action a').click();
    await ready(page, testInfo);
    expect(actionOf(page)).toBe(action);
    await expect(page.locator('[data-testid=filter-action] option:checked')).toHaveText(`Only ${action}`);
    for (const a of await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-action')))) expect(a).toBe(action);
  }

  // A filter the API cannot read is said, not ignored.
  await page.goto('/audit?action=review.%25');
  await ready(page, testInfo);
  await expect(page.locator('.error-box')).toContainText('action: ');
});

/** Every detail cell reads as fields (never a JSON blob), every time as one line. */
async function readable(page: Page) {
  const details = await page.locator('[data-testid=audit-detail]').allInnerTexts();
  expect(details.length).toBeGreaterThan(0);
  for (const text of details) {
    expect(text).not.toContain('{"');
    expect(text).not.toContain('["');
  }
  const times = page.locator('[data-testid=audit-time]');
  const shapes = await times.evaluateAll((els) =>
    els.map((e) => ({
      text: e.textContent,
      datetime: e.getAttribute('datetime'),
      title: e.getAttribute('title'),
      lines: e.getClientRects().length,
      // The time stays inside its cell.
      inside: e.getBoundingClientRect().right <= e.parentElement!.getBoundingClientRect().right + 0.5,
    })),
  );
  expect(shapes.length).toBe(details.length);
  for (const t of shapes) {
    expect(t.text).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(t.datetime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(t.title).toBe(t.datetime);
    expect(t, 'one line, inside its cell').toMatchObject({ lines: 1, inside: true });
  }
}

test('the audit table fits 1400 and 1024 px windows and reads as text', async ({ page, request }, testInfo) => {
  // A decision whose comment starts with a long run without a break (a pasted digest or link).
  const comment = `${'a1b2c3d4'.repeat(14)} approved by the e2e audit fit test (${testInfo.project.name})`;
  await approveThroughApi(request, 'kind=new', comment);
  for (const width of [1400, 1024]) {
    await page.setViewportSize({ width, height: 900 });
    for (const url of ['/audit', '/audit?action=branch.*', `/audit?action=${VERDICTS.join(',')}`]) {
      await page.goto(url);
      await ready(page, testInfo);
      await expect(page.locator('[data-testid=audit-table]')).toBeVisible();
      const { scroll, client } = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
      }));
      expect(scroll, `${url}: no horizontal scroll at ${width} px`).toBeLessThanOrEqual(client);
      await readable(page);
    }
    await page.goto('/audit');
    await ready(page, testInfo);
    await expect(page.locator(`summary[title="${comment}"]`)).toHaveCount(1);
    await page.screenshot({ path: path.join(SCREENSHOTS, `audit-${width}-${testInfo.project.name}.png`), fullPage: true });
  }
});
