import { expect } from '@playwright/test';
import { apiHeaders, BRANCH, exclusive, hasJs, listItems, ready, test } from './helpers';

// Review at scale (design §11): deciding a group of the same change, with and without
// JavaScript, and reading a stale item's diff since its last approval.
const FIX_BRANCH = 'fix-population-labels';

interface Group {
  id: string;
  summary: string;
  parts: string[];
  chart_ids: string[];
}

async function groups(request: import('@playwright/test').APIRequestContext, branch: string): Promise<Group[]> {
  const response = await request.get(`/api/v1/branches/${branch}/groups`, { headers: apiHeaders() });
  expect(response.status(), await response.text()).toBe(200);
  return (await response.json()) as Group[];
}

test('with JavaScript, a group of the same edit is read once and rejected at once', async ({ page, request }, testInfo) => {
  test.skip(!hasJs(testInfo), 'the no-JavaScript project decides another group by form');
  const all = await groups(request, BRANCH);
  const group = all.find((g) => g.summary.startsWith("subtitle → 'Revised with the 2025 energy review'"));
  expect(group, JSON.stringify(all.map((g) => g.summary))).toBeTruthy();
  expect(group!.chart_ids.length).toBeGreaterThan(1);

  await page.goto(`/branches/${BRANCH}`);
  await ready(page, testInfo);
  await page.locator('[data-testid=show-groups]').click();
  await expect(page).toHaveURL(new RegExp(`/branches/${BRANCH}/groups$`));
  const row = page.locator(`[data-testid=group-row][data-group-id="${group!.id}"]`);
  await expect(row.locator('[data-testid=group-size]')).toHaveText(String(group!.chart_ids.length));
  await row.locator('[data-testid=group-summary]').click();

  await expect(page).toHaveURL(new RegExp(`/groups/${group!.id}$`));
  await ready(page, testInfo);
  await expect(page.locator('[data-testid=group-title]')).toHaveText(group!.summary);
  // One chart in full (both sides drawn), the others as previews and by name.
  await expect(page.locator('[data-testid=representative] [data-testid=chart-svg]')).toHaveCount(2);
  await expect(page.locator('[data-testid=group-thumb]')).toHaveCount(Math.min(group!.chart_ids.length - 1, 12));
  await expect(page.locator('[data-testid=group-item]')).toHaveCount(group!.chart_ids.length);

  await exclusive('approvals', async () => {
    const call = page.waitForRequest((r) => r.method() === 'POST' && r.url().includes('/api/review_group'));
    await page.locator('[data-testid=group-decide-rejected]').click();
    await call;
    await expect(page.locator('[data-testid=flash]')).toHaveText(`Rejected ${group!.chart_ids.length} items.`);
  });
  // Reloaded: every item of the group is rejected, each bound to its own content.
  await expect(page.locator('[data-testid=group-facts]')).toContainText('0 pending');
  await expect(page.locator('[data-testid=group-item] [data-testid=status-badge]')).toHaveText(
    Array(group!.chart_ids.length).fill('rejected'),
  );
  for (const id of group!.chart_ids) {
    const [item] = (await listItems(request, `per_page=500`)).filter((i) => i.chart_id === id);
    expect(item.review.status, id).toBe('rejected');
  }
});

test('without JavaScript, the group form approves every item and says so', async ({ page, request }, testInfo) => {
  test.skip(hasJs(testInfo), 'checks the no-JavaScript flow');
  const all = await groups(request, FIX_BRANCH);
  const group = all.find((g) => g.summary === "metadata unit → 'persons'");
  expect(group, JSON.stringify(all.map((g) => g.summary))).toBeTruthy();
  const n = group!.chart_ids.length;
  expect(n).toBeGreaterThan(1);

  await page.goto(`/branches/${FIX_BRANCH}/groups/${group!.id}`);
  await ready(page, testInfo);
  await expect(page.locator('[data-testid=group-title]')).toHaveText(group!.summary);
  await page.locator('[data-testid=group-form] textarea[name=comment]').fill('units checked once for all');
  await exclusive('approvals', async () => {
    const post = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith(`/groups/${group!.id}/review`));
    await page.locator('[data-testid=group-decide-approved]').click();
    const sent = (await post).postData() ?? '';
    expect(sent).toContain('status=approved');
    expect(decodeURIComponent(sent.replace(/\+/g, ' '))).toContain(`"chart_id":"${group!.chart_ids[0]}"`);
    await expect(page).toHaveURL(new RegExp(`notice=group-approved&decided=${n}&refused=0$`));
  });
  await expect(page.locator('[data-testid=flash]')).toHaveText(`Approved ${n} items.`);
  await expect(page.locator('[data-testid=group-item] [data-testid=status-badge]')).toHaveText(Array(n).fill('approved'));
  const items = await listItems(request, 'per_page=500', FIX_BRANCH);
  for (const id of group!.chart_ids) {
    const item = items.find((i) => i.chart_id === id)!;
    expect(item.review.status, id).toBe('approved');
    expect(item.review.reviewer).toBe(process.env.CHARTGATE_E2E_EMAIL ?? 'e2e@example.com');
  }
});

test("a stale item's page shows what changed since its approval", async ({ page, request }, testInfo) => {
  const items = await listItems(request, 'status=stale&per_page=10', FIX_BRANCH);
  const stale = items.find((i) => i.review.stale);
  expect(stale, 'the demo leaves one approval stale').toBeTruthy();
  const url = `/branches/${FIX_BRANCH}/charts/${encodeURIComponent(stale!.chart_id)}`;

  await page.goto(`/branches/${FIX_BRANCH}?status=stale`);
  await ready(page, testInfo);
  await page.locator(`[data-testid=diff-row][data-chart-id="${stale!.chart_id}"] a.title`).click();
  await expect(page).toHaveURL(new RegExp(`${url}$`));
  await ready(page, testInfo);
  await expect(page.locator('[data-testid=stale-badge]')).toBeVisible();
  const since = page.locator('[data-testid=since-approval]');
  await expect(since).toContainText('Approved by demo');
  await expect(since).toContainText('Staging has changed since.');
  // Only the edit made after the approval: the label, from the approved text to the new one.
  const change = since.locator('[data-testid=json-changes] tbody tr');
  await expect(change).toHaveCount(1);
  await expect(change.locator('td').nth(0)).toHaveText('/yAxis/label');
  await expect(change.locator('td').nth(1)).toHaveText('"years of life"');
  await expect(change.locator('td').nth(2)).toHaveText('"years of life expectancy"');

  // The same diff from the API.
  const api = await request.get(`/api/v1/branches/${FIX_BRANCH}/diffs/${stale!.chart_id}?against=approved`, {
    headers: apiHeaders(),
  });
  expect(api.status()).toBe(200);
  const body = await api.json();
  expect(body.against).toBe('approved');
  expect(body.config_diff.changes).toEqual([
    { path: '/yAxis/label', op: 'changed', old: 'years of life', new: 'years of life expectancy' },
  ]);
});

test("an unreadable item's page names the error and offers no decision", async ({ page, request }, testInfo) => {
  const items = await listItems(request, 'per_page=500', FIX_BRANCH);
  const broken = items.find((i) => i.error);
  expect(broken, 'the demo has one unreadable row').toBeTruthy();
  await page.goto(`/branches/${FIX_BRANCH}/charts/${encodeURIComponent(broken!.chart_id)}`);
  await ready(page, testInfo);
  await expect(page.locator('[data-testid=unreadable]')).toContainText("This chart's row is unreadable.");
  await expect(page.locator('[data-testid=unreadable-error]')).toHaveText(broken!.error!);
  await expect(page.locator('[data-testid=no-decision]')).toBeVisible();
  await expect(page.locator('[data-testid^=decide-]')).toHaveCount(0);
  await expect(page.locator('[data-testid=data-diff]')).toHaveCount(0);
  await expect(page.locator('.hashes')).toContainText('unreadable');
});
