import { expect } from '@playwright/test';
import { apiHeaders, exclusive, listItems, ready, test } from './helpers';

// The dataset upgrader (design §9) on the demo's `data/wdi-2026-update` branch, in the browser:
// the suggested datasets are preselected, one match is changed to "leave alone", the upgrade is
// applied, its items are found in the list filtered by the upgrade and approved as a group, then
// the upgrade is undone so the other project (with / without JavaScript) starts from the same
// data. Every control is a plain form, so the same steps run in both projects.
const BRANCH = 'data-wdi-2026-update';
const OLD = 'wdi/2025-01-01';
const NEW = 'wdi/2026-05-01';

test('upgrade the demo dataset, review its charts as a group, undo it', async ({ page, request }, testInfo) => {
  test.setTimeout(150_000);
  await exclusive(
    'wdi-upgrade',
    async () => {
      await page.goto(`/branches/${BRANCH}/upgrade`);
      await ready(page, testInfo);
      // The suggestion is preselected and its mapping shown.
      await expect(page.locator('[data-testid=from]')).toHaveValue(OLD);
      await expect(page.locator('[data-testid=to]')).toHaveValue(NEW);
      const row = (short: string) => page.locator(`[data-testid=mapping-row][data-old="${OLD}/${short}"]`);
      await expect(page.locator('[data-testid=mapping-row]')).toHaveCount(5);
      await expect(row('gdp_per_capita').locator('select')).toHaveValue(`${NEW}/gdp_per_capita_ppp`);
      await expect(row('population').locator('[data-testid=score]')).toHaveText('1.00');
      await expect(row('forest_area').locator('select')).toHaveValue('');
      await expect(page.locator('[data-testid=unmatched-new]')).toContainText(`${NEW}/renewables_share`);
      await expect(page.locator('[data-testid=upgrade-charts] li')).toHaveCount(8);

      // Skip one match: CO2 stays on the old version.
      await row('co2_per_capita').locator('select').selectOption('');
      await page.locator('[data-testid=apply-upgrade]').click();
      await expect(page).toHaveURL(new RegExp(`/branches/${BRANCH}/upgrades/\\d+\\?done=applied$`));
      await ready(page, testInfo);
      await expect(page.locator('[data-testid=upgrade-notice]')).toBeVisible();
      const id = Number(page.url().match(/upgrades\/(\d+)/)![1]);

      const answer = await request.get(`/api/v1/branches/${BRANCH}/upgrades/${id}`, { headers: apiHeaders() });
      expect(answer.status()).toBe(200);
      const upgrade = await answer.json();
      expect(upgrade.mapping[`${OLD}/co2_per_capita`]).toBeNull();
      expect(upgrade.mapping[`${OLD}/gdp_per_capita`]).toBe(`${NEW}/gdp_per_capita_ppp`);
      // Charts drawing only CO2 or forest area are not changed: 6 of the 8.
      expect(upgrade.updated).toBe(6);

      // The list filtered by the upgrade holds exactly its charts.
      await page.locator('[data-testid=upgrade-items-link]').click();
      await expect(page).toHaveURL(new RegExp(`/branches/${BRANCH}\\?upgrade=${id}$`));
      await ready(page, testInfo);
      await expect(page.locator('[data-testid=upgrade-filter]')).toBeVisible();
      const items = await listItems(request, `upgrade=${id}&per_page=500`, BRANCH);
      expect(items.map((i) => i.chart_id).sort()).toEqual(
        upgrade.charts.filter((c: { outcome: string }) => c.outcome === 'updated').map((c: { chart_id: string }) => c.chart_id).sort(),
      );
      await expect(page.locator('[data-testid=diff-row]')).toHaveCount(6);

      // Approve them as a group.
      await page.locator('[data-testid=upgrade-filter] ~ form [data-testid=approve-upgrade]').click();
      await expect(page).toHaveURL(new RegExp(`/branches/${BRANCH}\\?upgrade=${id}&notice=approved$`));
      await ready(page, testInfo);
      const badges = page.locator('[data-testid=diff-row] [data-testid=status-badge]');
      await expect(badges).toHaveCount(6);
      for (const text of await badges.allInnerTexts()) expect(text.trim()).toBe('approved');
      const approved = await listItems(request, `upgrade=${id}&status=approved&per_page=500`, BRANCH);
      expect(approved).toHaveLength(6);

      // Undo from the upgrade's page: the charts are back on the old version.
      await page.goto(`/branches/${BRANCH}/upgrades/${id}`);
      await ready(page, testInfo);
      await page.locator('[data-testid=undo-upgrade]').click();
      await expect(page).toHaveURL(new RegExp(`/branches/${BRANCH}/upgrades/${id}\\?done=undone$`));
      await expect(page.locator('[data-testid=upgrade-notice]')).toHaveText('The upgrade was undone.');
      await expect(page.locator('[data-testid=undo-upgrade]')).toHaveCount(0);
      expect(await listItems(request, `upgrade=${id}`, BRANCH)).toHaveLength(0);
      const datasets = await (await request.get(`/api/v1/branches/${BRANCH}/datasets`, { headers: apiHeaders() })).json();
      expect(datasets.suggested).toEqual([{ from: OLD, to: NEW }]);
    },
    140_000,
  );
});
