import { expect } from '@playwright/test';
import * as path from 'node:path';
import { BRANCH, exclusive, hasJs, openFromList, ready, SCREENSHOTS, svgDataCharts, test } from './helpers';

test('a data change shows both sides drawn, the data diff and the config', async ({ page, request }, testInfo) => {
  const ids = await svgDataCharts(request);
  expect(ids.length, 'the demo has at least two data-modified charts drawn as SVG').toBeGreaterThanOrEqual(2);
  // js and no-js look at different charts; only the js one is decided below.
  const chartId = hasJs(testInfo) ? ids[0] : ids[1];
  await openFromList(page, 'kind=modified&part=data', chartId, testInfo);

  const figures = page.locator('[data-testid=chart-svg]');
  await expect(figures).toHaveCount(2);
  await expect(figures.nth(0)).toHaveAttribute('data-side', 'Production');
  await expect(figures.nth(1)).toHaveAttribute('data-side', 'Staging');
  for (const figure of await figures.all()) {
    await expect(figure.locator('svg')).toHaveCount(1);
    await expect(figure.locator('svg')).toBeVisible();
  }
  const summaries = page.locator('[data-testid=chart-change-summary]');
  await expect(summaries).toHaveCount(2);
  await expect(summaries.nth(1)).toContainText(/\d+ points? changed/);
  expect(Number(await summaries.nth(1).getAttribute('data-changed'))).toBeGreaterThan(0);

  const dataDiff = page.locator('[data-testid=data-diff]');
  await expect(dataDiff).toBeVisible();
  await expect(dataDiff.locator('tbody tr').first()).toBeVisible();
  expect(await dataDiff.locator('tbody tr.row-changed').count()).toBeGreaterThan(0);
  await expect(page.locator('[data-testid=data-summary]')).toContainText(/[1-9]\d* changed/);

  // Only the data changed: the config section says so (or shows a side-by-side diff if it did).
  const config = page.locator('section').filter({ has: page.locator('h2', { hasText: /^Config$/ }) });
  await expect(config.locator('[data-testid=side-by-side]').or(config.getByText('No change.'))).toBeVisible();

  // The layout control (compare.spec.ts tries every view): a link to ?layout=stacked without JS,
  // an in-place switch with it.
  const charts = page.locator('[data-testid=charts]');
  await expect(charts).not.toHaveClass(/\bstacked\b/);
  await page.locator('[data-testid=layout-stacked]').click();
  await ready(page, testInfo);
  await expect(charts).toHaveClass(/\bstacked\b/);
  await expect(page.locator('[data-testid=chart-svg]')).toHaveCount(2);

  if (hasJs(testInfo)) {
    await page.screenshot({ path: path.join(SCREENSHOTS, 'detail.png'), fullPage: true });
  } else {
    await page.screenshot({ path: path.join(SCREENSHOTS, 'detail-no-js.png'), fullPage: true });
  }
});

test('a on the detail page approves, and the history names the reviewer', async ({ page, request }, testInfo) => {
  test.skip(!hasJs(testInfo), 'keyboard shortcuts need JavaScript');
  const [chartId] = await svgDataCharts(request, '&status=pending');
  await openFromList(page, 'kind=modified&part=data', chartId, testInfo);
  const status = page.locator('[data-testid=review-status]');
  await expect(status).toHaveText('pending');

  await exclusive('approvals', async () => {
    // The listener is registered just after hydration; `a` twice is still one approval.
    await expect(async () => {
      await page.keyboard.press('a');
      await expect(status).toHaveText('approved', { timeout: 1_000 });
    }).toPass({ timeout: 10_000 });
    await expect(page.locator('[data-testid=flash]')).toContainText('Approved');
  });

  await page.reload();
  await ready(page, testInfo);
  await expect(status).toHaveText('approved');
  const email = process.env.CHARTGATE_E2E_EMAIL ?? 'e2e@example.com';
  const history = page.locator('[data-testid=history]');
  await expect(history).toBeVisible();
  await expect(history.locator('tbody tr').filter({ hasText: email }).filter({ hasText: BRANCH }).first()).toBeVisible();
});

test('a conflict is drawn three ways: baseline, production, staging', async ({ page }, testInfo) => {
  await page.goto(`/branches/${BRANCH}?conflict=true`);
  await ready(page, testInfo);
  const rows = page.locator('[data-testid=diff-row]');
  await expect(rows.first()).toBeVisible();
  await expect(rows.first().locator('[data-testid=conflict-badge]')).toBeVisible();
  // js and no-js open different conflicts.
  const row = hasJs(testInfo) ? rows.first() : rows.last();
  const chartId = await row.getAttribute('data-chart-id');
  await row.locator('a.title').click();
  await expect(page).toHaveURL(new RegExp(`/charts/${chartId}(\\?.*)?$`));
  await ready(page, testInfo);

  const figures = page.locator('[data-testid=chart-svg]');
  await expect(figures).toHaveCount(3);
  const sides = await figures.evaluateAll((els) => els.map((e) => e.getAttribute('data-side')));
  expect(sides).toEqual(['Baseline', 'Production', 'Staging']);
  await expect(page.locator('.conflict-note')).toContainText('Conflict');
});

test('a chart that is not one of the branch\'s changes says so and leads back to the branch', async ({ page }, testInfo) => {
  await page.goto(`/branches/${BRANCH}/charts/no-such-chart`);
  await ready(page, testInfo);
  const error = page.getByRole('alert');
  await expect(error).toContainText('Could not load this page.');
  await expect(error).toContainText('no-such-chart');
  await error.getByTestId('error-back').click();
  await expect(page).toHaveURL(new RegExp(`/branches/${BRANCH}$`));
  await expect(page.locator('h1')).toBeVisible();
});
