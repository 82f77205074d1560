import { expect, type APIRequestContext } from '@playwright/test';
import { apiHeaders, BRANCH, hasJs, listItems, ready, test } from './helpers';

// Three-way merge of a conflict (design §11) from the detail page: a plain form, so the same
// steps work with and without JavaScript. The demo retitles every other conflict on both sides:
// `/config/title` is for the reviewer to choose, production's subtitle comes in by itself.

interface MergeEntry {
  path: string;
}

/**
 * The demo's conflicts that production retitled too (its title ends "(production)"), by id: a
 * stable set, whatever the other project's merge did meanwhile.
 */
async function choosableConflicts(request: APIRequestContext): Promise<string[]> {
  const ids: string[] = [];
  for (const item of await listItems(request, 'conflict=true&per_page=100')) {
    const r = await request.get(`/api/v1/branches/${BRANCH}/diffs/${encodeURIComponent(item.chart_id)}`, {
      headers: apiHeaders(),
    });
    expect(r.status()).toBe(200);
    const title: string = (await r.json()).production?.config?.title ?? '';
    if (title.endsWith('(production)')) ids.push(item.chart_id);
  }
  return ids.sort();
}

test('a conflict is merged path by path into staging, then shows the merge for review', async ({ page, request }, testInfo) => {
  const ids = await choosableConflicts(request);
  expect(ids.length, 'the demo has a conflict for each project').toBeGreaterThanOrEqual(2);
  // js and no-js merge different charts.
  const chartId = hasJs(testInfo) ? ids[0] : ids[1];
  await page.goto(`/branches/${BRANCH}/charts/${chartId}`);
  await ready(page, testInfo);

  const merge = page.locator('[data-testid=merge]');
  await expect(merge).toBeVisible();
  const title = merge.locator('[data-testid=merge-row][data-path="/config/title"]');
  await expect(title).toHaveClass(/conflicting/);
  const subtitle = merge.locator('[data-testid=merge-row][data-path="/config/subtitle"]');
  await expect(subtitle.locator('[data-testid=merge-takes]')).toHaveText('production');

  // Keep staging's title; production's subtitle comes in.
  await title.getByLabel('staging').check();
  await merge.locator('[data-testid=merge-submit]').click();
  await expect(page).toHaveURL(new RegExp(`/charts/${chartId}\\?notice=merged$`));
  await ready(page, testInfo);
  await expect(page.locator('[data-testid=flash]')).toContainText('Merged into staging');

  // The merged staging differs from production only by its own title now.
  const rows = page.locator('[data-testid=merge] [data-testid=merge-row]');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute('data-path', '/config/title');
  await expect(rows.first().locator('[data-testid=merge-takes]')).toHaveText('staging');
  const plan = await request.get(`/api/v1/branches/${BRANCH}/diffs/${chartId}/merge`, { headers: apiHeaders() });
  expect(((await plan.json()).entries as MergeEntry[]).map((e) => e.path)).toEqual(['/config/title']);

  // The audit trail names who merged.
  const history = page.locator('[data-testid=history]');
  await expect(history.locator('tbody tr').first()).toContainText('merged');
});
