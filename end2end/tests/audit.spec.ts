import { expect, type APIRequestContext, type Page } from '@playwright/test';
import * as path from 'node:path';
import { apiHeaders, BRANCH, exclusive, hasJs, listItems, ready, SCREENSHOTS, test, type DiffItem } from './helpers';

/** Approves the first pending, non-conflicting item matching `filter` through the JSON API. */
async function approveThroughApi(request: APIRequestContext, filter: string): Promise<DiffItem> {
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
          comment: 'approved by the e2e audit test',
        },
      },
    );
    expect(response.status(), await response.text()).toBe(200);
    const decided = await response.json();
    expect(decided.review.status).toBe('approved');
    return item;
  });
}

/** Filters the audit trail through its GET form: action `review` and the chart id. */
async function filterByChart(page: Page, chartId: string, testInfo: Parameters<typeof ready>[1]) {
  await page.goto('/audit');
  await ready(page, testInfo);
  await expect(page.locator('[data-testid=audit-table]')).toBeVisible();
  await page.locator('[data-testid=filter-action]').fill('review');
  await page.locator('[data-testid=filter-chart_id]').fill(chartId);
  await page.locator('[data-testid=audit-filters] button[type=submit]').click();
  await expect(page).toHaveURL(new RegExp(`[?&]chart_id=${chartId}(&|$)`));
  await expect(page).toHaveURL(/[?&]action=review(&|$)/);
  await ready(page, testInfo);

  const rows = page.locator('[data-testid=audit-row]');
  await expect(rows.first()).toBeVisible();
  for (const row of await rows.all()) {
    await expect(row).toContainText(chartId);
    await expect(row).toContainText('review.');
  }
  await expect(rows.filter({ hasText: 'approved by the e2e audit test' })).toHaveCount(1);
  // The form keeps what was asked.
  await expect(page.locator('[data-testid=filter-chart_id]')).toHaveValue(chartId);
}

test('a decision made through the API is in the audit trail, its CSV and its version', async ({
  page,
  request,
}, testInfo) => {
  test.skip(!hasJs(testInfo), 'the no-JavaScript variant is below');
  const item = await approveThroughApi(request, 'kind=new');
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
  expect(href).toContain('format=csv');
  expect(href).toContain(`chart_id=${chartId}`);
  expect(href).toContain('action=review');

  // The session cookie authenticates the download.
  const response = await page.request.get(href!);
  expect(response.status()).toBe(200);
  expect(response.headers()['content-type']).toMatch(/^text\/csv/);
  const lines = (await response.text()).split(/\r?\n/).filter((l) => l.length > 0);
  expect(lines[0]).toMatch(/^id,at,actor,action/);
  expect(lines.length).toBeGreaterThanOrEqual(2);
  for (const line of lines.slice(1)) expect(line).toContain(chartId);
  expect(lines.some((l) => l.includes('review.approve'))).toBe(true);

  // The exact content approved, by hash.
  const row = page.locator('[data-testid=audit-row]').filter({ hasText: 'approved by the e2e audit test' });
  const version = row.locator('[data-testid=version-link]');
  await expect(version).toHaveCount(1);
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
  const item = await approveThroughApi(request, 'kind=modified&part=config');
  await filterByChart(page, item.chart_id, testInfo);
  await expect(page.locator('[data-testid=csv-link]')).toHaveAttribute(
    'href',
    new RegExp(`format=csv.*chart_id=${item.chart_id}`),
  );
});
