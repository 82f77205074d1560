import { expect, type Locator, type Page, type TestInfo } from '@playwright/test';
import * as path from 'node:path';
import { apiHeaders, BRANCH, hasJs, listItems, ready, SCREENSHOTS, svgDataCharts, test } from './helpers';

// The chart page's compare views (design §11): side by side, stacked, overlay, swipe. The view is
// in the URL; without JavaScript the control's links load it from the server, with JavaScript
// they (and the `v` key) switch in place.

const VIEWS = ['side', 'stacked', 'overlay', 'swipe'] as const;
type View = (typeof VIEWS)[number];

const chartPath = (chartId: string, query = '') => `/branches/${BRANCH}/charts/${encodeURIComponent(chartId)}${query}`;

/** A data-modified SVG chart; js and no-js look at different ones. */
async function someChart(request: Parameters<typeof svgDataCharts>[0], testInfo: TestInfo): Promise<string> {
  const ids = await svgDataCharts(request);
  expect(ids.length, 'the demo has at least two data-modified charts drawn as SVG').toBeGreaterThanOrEqual(2);
  return hasJs(testInfo) ? ids[0] : ids[1];
}

/** Checks the page shows `view`: the URL, the control, and the charts laid out that way. */
async function expectView(page: Page, view: View) {
  await expect(page).toHaveURL(new RegExp(`[?&]layout=${view}(&|$)`));
  await expect(page.locator(`[data-testid=layout-${view}]`)).toHaveAttribute('aria-current', 'true');
  await expect(page.locator('[data-testid=layout-switch] [aria-current=true]')).toHaveCount(1);
  const charts = page.locator('[data-testid=charts]');
  await expect(charts).toHaveAttribute('data-layout', view);
  const frame = page.locator('[data-testid=compare-frame]');
  if (view === 'overlay' || view === 'swipe') {
    await expect(frame).toHaveAttribute('data-layout', view);
    await expectFramed(frame);
  } else {
    await expect(frame).toHaveCount(0);
    await expect(charts.locator('[data-testid=chart-svg]')).toHaveCount(2);
  }
}

/** Production beneath and staging over it, both drawn, in one frame. */
async function expectFramed(frame: Locator) {
  const figures = frame.locator('[data-testid=chart-svg]');
  await expect(figures).toHaveCount(2);
  expect(await figures.evaluateAll((els) => els.map((e) => e.getAttribute('data-side')))).toEqual(['Production', 'Staging']);
  for (const figure of await figures.all()) await expect(figure.locator('svg.chart-svg')).toBeVisible();
  // One box: both plots start at the same place.
  const a = await figures.nth(0).locator('svg.chart-svg').boundingBox();
  const b = await figures.nth(1).locator('svg.chart-svg').boundingBox();
  expect(a && b, 'both plots have a box').toBeTruthy();
  expect(Math.abs(a!.x - b!.x)).toBeLessThan(1);
  expect(Math.abs(a!.y - b!.y)).toBeLessThan(1);
  expect(Math.abs(a!.width - b!.width)).toBeLessThan(1);
}

/** The part of the swipe frame that shows staging, as a fraction of the frame's width. */
async function revealed(page: Page): Promise<number> {
  const frame = await page.locator('[data-testid=compare-frame] .compare-stack').boundingBox();
  const reveal = await page.locator('[data-testid=swipe-reveal]').boundingBox();
  return reveal!.width / frame!.width;
}

test('every compare view renders, and the control links to it', async ({ page, request }, testInfo) => {
  const chartId = await someChart(request, testInfo);
  await page.goto(chartPath(chartId));
  await ready(page, testInfo);
  await expect(page.locator('[data-testid=layout-side]')).toHaveAttribute('aria-current', 'true');
  await expect(page.locator('[data-testid=charts]')).toHaveAttribute('data-layout', 'side');
  // Without JavaScript each click loads the view from the server; with it, the page stays.
  if (hasJs(testInfo)) await page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));

  for (const view of ['stacked', 'overlay', 'swipe', 'side'] as const) {
    const link = page.locator(`[data-testid=layout-${view}]`);
    await expect(link).toHaveAttribute('href', new RegExp(`\\?layout=${view}$`));
    await link.click();
    await ready(page, testInfo);
    await expectView(page, view);
  }
  if (hasJs(testInfo)) {
    expect(await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed)).toBe(true);
  }

  // The control is reachable by keyboard: Tab lands on its links (in order) and Enter follows one.
  await page.locator('[data-testid=layout-stacked]').focus();
  await page.keyboard.press('Tab');
  await expect(page.locator('[data-testid=layout-overlay]')).toBeFocused();
  await page.keyboard.press('Enter');
  await ready(page, testInfo);
  await expectView(page, 'overlay');
  await expect(page.locator('[data-testid=compare-frame] .compare-key')).toContainText('Staging');
  await expect(page.locator('[data-testid=compare-frame] .compare-key')).toContainText('Production');
  await page.locator('[data-testid=compare-frame]').screenshot({ path: path.join(SCREENSHOTS, `compare-overlay${hasJs(testInfo) ? '' : '-no-js'}.png`) });

  // The view is kept when moving to the next chart.
  const next = page.locator('a[rel=next]');
  if ((await next.count()) > 0) await expect(next).toHaveAttribute('href', /\?layout=overlay$/);
});

test('the overlay fades staging with a slider once hydrated', async ({ page, request }, testInfo) => {
  const chartId = await someChart(request, testInfo);
  await page.goto(chartPath(chartId, '?layout=overlay'));
  await ready(page, testInfo);
  await expectView(page, 'overlay');
  const staging = page.locator('[data-testid=overlay-staging]');
  const opacity = () => staging.evaluate((el) => Number(getComputedStyle(el).opacity));
  expect(await opacity()).toBeCloseTo(1, 2);
  const slider = page.locator('[data-testid=overlay-opacity]');
  if (hasJs(testInfo)) {
    await expect(page.getByRole('slider', { name: 'Staging opacity' })).toBeVisible();
    await slider.fill('30');
    await expect.poll(opacity).toBeCloseTo(0.3, 2);
  } else {
    // Without JavaScript there is nothing to move it: the slider is hidden, staging stays opaque.
    await expect(slider).toBeHidden();
  }
});

test('a swipe link opens the swipe, and its divider moves', async ({ page, request }, testInfo) => {
  const chartId = await someChart(request, testInfo);
  await page.goto(chartPath(chartId, '?layout=swipe'));
  await ready(page, testInfo);
  await expectView(page, 'swipe');
  expect(await revealed(page)).toBeCloseTo(0.5, 1);
  const reveal = page.locator('[data-testid=swipe-reveal]');
  await expect(reveal).toHaveAttribute('aria-label', /swipe divider/);

  if (hasJs(testInfo)) {
    // Hydrated: a range input, named, moves the divider (by keyboard too).
    const divider = page.getByRole('slider', { name: 'Swipe divider' });
    await expect(divider).toBeVisible();
    await divider.fill('80');
    await expect.poll(() => revealed(page)).toBeGreaterThan(0.75);
    await page.locator('[data-testid=compare-frame]').screenshot({ path: path.join(SCREENSHOTS, 'compare-swipe.png') });
    await divider.focus();
    for (let i = 0; i < 10; i++) await page.keyboard.press('ArrowLeft');
    await expect(divider).toHaveValue('70');
    await expect.poll(() => revealed(page)).toBeLessThan(0.75);
  } else {
    // No JavaScript: the range input is hidden and the box's resize handle is the divider.
    await expect(page.locator('[data-testid=swipe-divider]')).toBeHidden();
    await expect(page.locator('.swipe-hint-no-js')).toBeVisible();
    expect(await reveal.evaluate((el) => getComputedStyle(el).resize)).toBe('horizontal');
    expect(await reveal.evaluate((el) => getComputedStyle(el).overflowX)).toBe('hidden');
    // Headless Chromium does not let a test drag the native handle (the mouse move after
    // grabbing it never returns), so widen the box as the handle does, by its inline width:
    // staging shows further, still drawn at the frame's full width.
    await reveal.evaluate((el) => el.style.setProperty('width', '80%'));
    await expect.poll(() => revealed(page)).toBeGreaterThan(0.75);
    const frame = (await page.locator('[data-testid=compare-frame] .compare-stack').boundingBox())!;
    const staging = (await reveal.locator('[data-testid=chart-svg]').boundingBox())!;
    expect(Math.abs(staging.width - frame.width)).toBeLessThan(4);
  }
});

test('v cycles the compare views in place', async ({ page, request }, testInfo) => {
  test.skip(!hasJs(testInfo), 'keyboard shortcuts need JavaScript');
  const chartId = await someChart(request, testInfo);
  await page.goto(chartPath(chartId));
  await ready(page, testInfo);
  // The listener is registered just after hydration: press until the first switch shows.
  await expect(async () => {
    await page.keyboard.press('v');
    await expect(page).toHaveURL(/layout=stacked/, { timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  await expectView(page, 'stacked');
  for (const view of ['overlay', 'swipe', 'side'] as const) {
    await page.keyboard.press('v');
    await expectView(page, view);
  }
  // The help lists it.
  await page.keyboard.press('?');
  await expect(page.locator('[data-testid=shortcut-help]')).toContainText('compare view');
});

test('a conflict overlays staging on production, its baseline under the frame', async ({ page, request }, testInfo) => {
  const conflicts: string[] = [];
  for (const item of await listItems(request, 'conflict=true&per_page=100')) {
    const r = await request.get(`/api/v1/branches/${BRANCH}/diffs/${encodeURIComponent(item.chart_id)}`, { headers: apiHeaders() });
    const detail = await r.json();
    const drawn = (side?: { config?: { type?: string } }) => !side || !['table', undefined].includes(side.config?.type);
    if (drawn(detail.production) && drawn(detail.staging)) conflicts.push(item.chart_id);
  }
  expect(conflicts.length, 'the demo has a conflict drawn as SVG').toBeGreaterThan(0);
  const chartId = hasJs(testInfo) ? conflicts[0] : conflicts[conflicts.length - 1];
  await page.goto(chartPath(chartId, '?layout=overlay'));
  await ready(page, testInfo);
  await expectView(page, 'overlay');
  const figures = page.locator('[data-testid=chart-svg]');
  expect(await figures.evaluateAll((els) => els.map((e) => e.getAttribute('data-side')))).toEqual(['Production', 'Staging', 'Baseline']);
});
