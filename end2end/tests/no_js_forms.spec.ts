import { expect, type APIRequestContext, type Page, type TestInfo } from '@playwright/test';
import { BRANCH, exclusive, hasJs, listItems, ready, test } from './helpers';

// Without JavaScript every control is a plain link or form.
test.beforeEach(async ({}, testInfo) => {
  test.skip(hasJs(testInfo), 'checks the no-JavaScript flow');
});

/**
 * Approves a pending item matching `pick` by clicking its row's Approve button on the list at
 * `listQuery` (a plain form POST), and checks the redirect back to that same list.
 */
async function approveOnList(page: Page, request: APIRequestContext, testInfo: TestInfo, pick: string, listQuery: string) {
  const [item] = await listItems(request, `${pick}&status=pending&conflict=false&per_page=1`);
  expect(item, `a pending item with ${pick} to approve`).toBeTruthy();
  const list = listQuery ? `/branches/${BRANCH}?${listQuery}` : `/branches/${BRANCH}`;

  await page.goto(list);
  await ready(page, testInfo);
  const row = page.locator(`[data-testid=diff-row][data-chart-id="${item.chart_id}"]`);
  await expect(row.locator('[data-testid=status-badge]')).toHaveText('pending');
  await expect(page.locator('[data-testid=flash]')).toHaveCount(0);

  await exclusive('approvals', async () => {
    const post = page.waitForRequest(
      (r) => r.method() === 'POST' && r.url().endsWith(`/branches/${BRANCH}/charts/${item.chart_id}/review`),
    );
    await row.locator('[data-testid=decide-approved]').click();
    expect((await post).postDataJSON()).toMatchObject({ status: 'approved' });
    // Back on the same list, filters included, with the notice the form endpoint adds.
    const sep = listQuery ? '&' : '?';
    const back = `${list}${sep}notice=approved`.replace(/[?]/g, '\\?');
    await expect(page).toHaveURL(new RegExp(`${back}$`));
  });
  await expect(page.locator('[data-testid=flash]')).toHaveText('Saved: approved.');
  await expect(row.locator('[data-testid=status-badge]')).toHaveText('approved');
  await expect(row.locator('[data-testid=decide-approved]')).toHaveClass(/\bcurrent\b/);
}

test('Approve on a list row is a form POST that lands back on the list', async ({ page, request }, testInfo) => {
  // A pending, metadata-only change: no other test decides those.
  await approveOnList(page, request, testInfo, 'kind=modified&part=metadata', '');
});

test('Approve on a filtered list lands back on the same filtered list', async ({ page, request }, testInfo) => {
  // A pending deletion: no other test decides those.
  await approveOnList(page, request, testInfo, 'kind=deleted', 'kind=deleted');
});

test('filter links work without JavaScript', async ({ page }, testInfo) => {
  await page.goto(`/branches/${BRANCH}`);
  await ready(page, testInfo);
  const deleted = page.locator('[data-testid=filter-kind-deleted]');
  const expected = Number((await deleted.locator('[data-testid=count]').innerText()).trim());
  expect(expected).toBeGreaterThan(0);

  await deleted.click();
  await expect(page).toHaveURL(new RegExp(`/branches/${BRANCH}\\?kind=deleted$`));
  await expect(page.locator('[data-testid=filter-kind-deleted]')).toHaveClass(/\bactive\b/);
  const badges = page.locator('[data-testid=diff-row] [data-testid=kind-badge]');
  await expect(badges).toHaveCount(expected);
  for (const text of await badges.allInnerTexts()) expect(text.trim()).toBe('DELETED');
});
