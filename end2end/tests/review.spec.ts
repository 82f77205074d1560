import { expect, type Locator, type Page, type TestInfo } from '@playwright/test';
import { BRANCH, exclusive, hasJs, ready, test } from './helpers';

// Keyboard review on the diff list: needs the hydrated app.
test.beforeEach(async ({}, testInfo) => {
  test.skip(!hasJs(testInfo), 'keyboard shortcuts need JavaScript');
});

async function count(page: Page, status: string): Promise<number> {
  const text = await page.locator(`[data-testid=filter-status-${status}] [data-testid=count]`).innerText();
  expect(text.trim()).toMatch(/^\d+$/);
  return Number(text.trim());
}

/** Moves the selection down with `j` and checks it lands on row `index`. */
async function selectWithJ(page: Page, rows: Locator, index: number) {
  // The shortcut listener is registered by an effect right after hydration; `k` at the top is a
  // no-op, so retrying `k`…`j` is safe if the first key press came before the listener.
  await expect(async () => {
    await page.keyboard.press('k');
    for (let i = 0; i < index; i++) await page.keyboard.press('j');
    await expect(rows.nth(index)).toHaveAttribute('aria-selected', 'true', { timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  await expect(rows.nth(0)).toHaveAttribute('aria-selected', 'false');
}

test('j moves the selection and a approves the selected item', async ({ page }, testInfo) => {
  // The whole test holds the approvals lock: the counts it reads from the page must not move
  // between the page load and the decision (other tests approve on the same branch).
  test.setTimeout(90_000);
  await exclusive('approvals', () => approveWithKeys(page, testInfo), 60_000);
});

async function approveWithKeys(page: Page, testInfo: TestInfo) {
  await page.goto(`/branches/${BRANCH}?status=pending`);
  await ready(page, testInfo);
  const rows = page.locator('[data-testid=diff-row]');
  await expect(rows.nth(2)).toBeVisible();
  await expect(rows.nth(0)).toHaveAttribute('aria-selected', 'true');

  // The second row, or the next one down that can be decided at all (unreadable rows cannot).
  let index = 1;
  while (await rows.nth(index).locator('[data-testid=error-badge]').count()) index++;
  await selectWithJ(page, rows, index);

  const selected = page.locator('[data-testid=diff-row][aria-selected=true]');
  const chartId = await selected.getAttribute('data-chart-id');
  expect(chartId).toBeTruthy();
  const row = page.locator(`[data-testid=diff-row][data-chart-id="${chartId}"]`);
  await expect(row.locator('[data-testid=status-badge]')).toHaveText('pending');

  const pendingBefore = await count(page, 'pending');
  const approvedBefore = await count(page, 'approved');

  // The row shows `approved` at once (optimistic), then the list reloads without it, since
  // it is no longer pending. Record every text the row's badge takes to see the first state.
  await page.evaluate((id) => {
    const w = window as unknown as { __badges: string[] };
    w.__badges = [];
    const look = () => {
      const badge = document.querySelector(`[data-testid=diff-row][data-chart-id="${id}"] [data-testid=status-badge]`);
      if (badge) w.__badges.push((badge.textContent ?? '').trim());
    };
    new MutationObserver(look).observe(document.body, { subtree: true, childList: true, characterData: true });
  }, chartId);
  await page.keyboard.press('a');

  await expect
    .poll(() => page.evaluate(() => (window as unknown as { __badges: string[] }).__badges))
    .toContain('approved');
  await expect(page.locator('[data-testid=flash]')).toContainText('Approved');
  await expect(page.locator('[data-testid=filter-status-approved] [data-testid=count]')).toHaveText(
    String(approvedBefore + 1),
  );
  await expect(page.locator('[data-testid=filter-status-pending] [data-testid=count]')).toHaveText(
    String(pendingBefore - 1),
  );
  // The pending list no longer holds the approved chart.
  await expect(row).toHaveCount(0);

  // The decision is stored: a fresh load of the unfiltered list shows it.
  await page.goto(`/branches/${BRANCH}`);
  await ready(page, testInfo);
  await expect(row.locator('[data-testid=status-badge]')).toHaveText('approved');
}

test('? opens the shortcut help, Escape closes it, / focuses the search', async ({ page }, testInfo) => {
  await page.goto(`/branches/${BRANCH}`);
  await ready(page, testInfo);
  await expect(page.locator('[data-testid=diff-row]').first()).toBeVisible();
  const help = page.locator('[data-testid=shortcut-help]');
  await expect(help).toHaveCount(0);

  // `?` toggles, so retry only while the help is still closed (listener not yet registered).
  await expect(async () => {
    if ((await help.count()) === 0) await page.keyboard.press('?');
    await expect(help).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  await expect(help).toContainText('Keyboard shortcuts');

  await page.keyboard.press('Escape');
  await expect(help).toHaveCount(0);

  const search = page.locator('#search');
  await expect(search).not.toBeFocused();
  await page.keyboard.press('/');
  await expect(search).toBeFocused();
  // The key focused the box rather than typing into it.
  await expect(search).toHaveValue('');
});
