import { expect, type APIRequestContext, type Browser, type BrowserContext, type Page, type TestInfo } from '@playwright/test';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BRANCH, hasJs, ready, test as base } from './helpers';

// Team review (design §14) in the browser: a policy of two approvals with an owner, every
// reviewer's verdict, a lead's dismissal, the conversation, review requests and `/me`.
//
// The shared e2e server has no `[review]` policy (the other specs rely on that), so every worker
// that runs this file starts its own server: a fresh temporary directory, `chartgate demo
// --charts 60`, the team's users (made before the server starts: it refuses owners who are not
// users), a configuration file with the policy, `chartgate serve` on a free port. The people:
// ana, ben and cy are reviewers, ana owns the demo's new charts (`energy-new-*`); lee is a lead.

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'target', process.env.E2E_RELEASE === '1' ? 'release' : 'debug', 'chartgate');

const PEOPLE = {
  ana: { email: 'ana@example.org', role: 'reviewer' },
  ben: { email: 'ben@example.org', role: 'reviewer' },
  cy: { email: 'cy@example.org', role: 'reviewer' },
  lee: { email: 'lee@example.org', role: 'lead' },
} as const;
type Who = keyof typeof PEOPLE;

const POLICY = `[review]
required_approvals = 2
rejection_blocks = true

[[review.owners]]
slugs = ["energy-new-*"]
reviewers = ["ana@example.org"]
`;

type StorageState = Awaited<ReturnType<BrowserContext['storageState']>>;

interface Item {
  chart_id: string;
  slug: string;
  kind: string;
  conflict: boolean;
  error?: string | null;
  staging_hash: string | null;
  production_hash: string | null;
}

interface TeamServer {
  base: string;
  dir: string;
  /** The server's log (stderr). */
  log: string;
  api: Record<Who, APIRequestContext>;
  states: Record<Who, StorageState>;
  /** Readable, non-conflicting items of the branch owned by ana (the demo's new charts). */
  owned: string[];
  /** Readable, non-conflicting, modified items nobody owns. */
  others: string[];
  items: Map<string, Item>;
  /** Set when a test failed: the directory is kept for a look at the databases. */
  failed: boolean;
}

/** The environment of the team's server: e2e.sh's CHARTGATE_* settings removed, this directory's stores. */
function serverEnv(dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CHARTGATE_')) env[k] = v;
  env.CHARTGATE_DATABASE_URL = `sqlite://${dir}/chartgate.db`;
  env.CHARTGATE_PRODUCTION_URL = `sqlite://${dir}/production.db`;
  env.CHARTGATE_STAGING_URL_TEMPLATE = `sqlite://${dir}/staging/{branch}.db`;
  return env;
}

function cli(dir: string, args: string[], input?: string): string {
  try {
    return execFileSync(BIN, args, { cwd: dir, env: serverEnv(dir), input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string };
    throw new Error(`chartgate ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

/** Starts `chartgate serve` on a free port; resolves with its address once it says it listens. */
function serve(dir: string, log: string): { child: ChildProcess; address: Promise<string> } {
  const errFd = fs.openSync(log, 'a');
  const child = spawn(BIN, ['serve'], {
    cwd: dir,
    env: {
      ...serverEnv(dir),
      CHARTGATE_CONFIG: path.join(dir, 'team.toml'),
      CHARTGATE_LISTEN: '127.0.0.1:0',
      CHARTGATE_SITE_ROOT: path.join(ROOT, 'target', 'site'),
    },
    stdio: ['ignore', 'pipe', errFd],
  });
  fs.closeSync(errFd);
  const address = new Promise<string>((resolve, reject) => {
    let out = '';
    const deadline = setTimeout(() => reject(new Error(`the team's server did not report its address in 60 s:\n${out}${tail(log)}`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const found = /chartgate listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (found) {
        clearTimeout(deadline);
        resolve(found[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(deadline);
      reject(new Error(`the team's server exited (${code}) before listening:\n${out}${tail(log)}`));
    });
  });
  return { child, address };
}

function tail(file: string, lines = 40): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function signIn(browser: Browser, base: string, email: string, password: string): Promise<StorageState> {
  // The login form is a plain form: no need to wait for the app to hydrate.
  const context = await browser.newContext({ baseURL: base, javaScriptEnabled: false });
  try {
    const page = await context.newPage();
    await page.goto('/login');
    await page.locator('input[name=email]').fill(email);
    await page.locator('input[name=password]').fill(password);
    await page.locator('form[action="/auth/login"] button[type=submit]').click();
    await expect(page).not.toHaveURL(/\/login/);
    await expect(page.locator('[data-testid=current-user]')).toContainText(email);
    return await context.storageState();
  } finally {
    await context.close();
  }
}

const test = base.extend<{ as: (who: Who) => Promise<Page> }, { team: TeamServer }>({
  team: [
    async ({ browser, playwright }, use) => {
      expect(fs.existsSync(BIN), `${BIN} must exist (scripts/build.sh)`).toBe(true);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chartgate-team-e2e.'));
      fs.mkdirSync(path.join(dir, 'staging'));
      const log = path.join(dir, 'serve.err');
      cli(dir, ['demo', '--charts', '60']);
      const tokens = {} as Record<Who, string>;
      const passwords = {} as Record<Who, string>;
      for (const [who, p] of Object.entries(PEOPLE) as [Who, (typeof PEOPLE)[Who]][]) {
        passwords[who] = `pw-${who}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
        cli(dir, ['users', 'add', p.email, '--role', p.role, '--password-stdin'], `${passwords[who]}\n`);
        tokens[who] = cli(dir, ['tokens', 'create', p.email]).trim().split('\n').pop()!.trim();
        expect(tokens[who], `a token for ${p.email}`).toMatch(/^cgt_/);
      }
      // The policy only now: its owner must be a user when the server starts.
      fs.writeFileSync(path.join(dir, 'team.toml'), POLICY);
      const { child, address } = serve(dir, log);
      // Should the worker die without its teardown, the server goes with it.
      const killOnExit = () => child.kill('SIGTERM');
      process.on('exit', killOnExit);
      const server: Partial<TeamServer> = { dir, log, failed: false };
      try {
        const baseURL = await address;
        server.base = baseURL;
        const api = {} as Record<Who, APIRequestContext>;
        for (const who of Object.keys(PEOPLE) as Who[]) {
          api[who] = await playwright.request.newContext({
            baseURL,
            extraHTTPHeaders: { Authorization: `Bearer ${tokens[who]}` },
          });
        }
        server.api = api;
        const states = {} as Record<Who, StorageState>;
        for (const who of Object.keys(PEOPLE) as Who[]) {
          states[who] = await signIn(browser, baseURL, PEOPLE[who].email, passwords[who]);
        }
        server.states = states;

        const listed = await api.lee.get(`/api/v1/branches/${BRANCH}/diffs?per_page=100`);
        expect(listed.status(), await listed.text()).toBe(200);
        const items = ((await listed.json()).items as Item[]).filter((i) => !i.conflict && !i.error);
        items.sort((a, b) => a.chart_id.localeCompare(b.chart_id));
        server.items = new Map(items.map((i) => [i.chart_id, i]));
        server.owned = items.filter((i) => i.slug.startsWith('energy-new-')).map((i) => i.chart_id);
        server.others = items.filter((i) => !i.slug.startsWith('energy-new-') && i.kind === 'modified').map((i) => i.chart_id);
        expect(server.owned.length, 'the demo has new charts for ana to own').toBeGreaterThanOrEqual(2);
        expect(server.others.length, 'the demo has modified charts').toBeGreaterThanOrEqual(4);

        await use(server as TeamServer);
      } finally {
        // The server first: nothing below may leave it running.
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGTERM');
          await exited;
        }
        process.off('exit', killOnExit);
        for (const r of Object.values(server.api ?? {})) await r.dispose().catch(() => undefined);
        if (server.failed || process.env.E2E_KEEP) {
          console.log(`team.spec: the team's server log and databases are kept in ${dir}`);
        } else {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
    },
    { scope: 'worker', timeout: 180_000 },
  ],

  // `as('ben')`: a new page signed in as ben on the team's server, with or without JavaScript
  // as the project says. Crashes in the browser fail the test, as helpers.ts's `test` does.
  as: async ({ browser, team }, use, testInfo) => {
    const contexts: BrowserContext[] = [];
    const said: string[] = [];
    await use(async (who: Who) => {
      const context = await browser.newContext({
        baseURL: team.base,
        javaScriptEnabled: hasJs(testInfo),
        storageState: team.states[who],
      });
      context.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') said.push(`${who} console.${m.type()} ${m.page()?.url() ?? ''}: ${m.text()}`);
      });
      context.on('weberror', (e) => said.push(`${who} uncaught ${e.page()?.url() ?? ''}: ${e.error().message}`));
      contexts.push(context);
      return context.newPage();
    });
    const failed = testInfo.status !== testInfo.expectedStatus;
    if (failed) {
      team.failed = true;
      for (const [i, context] of contexts.entries()) {
        for (const page of context.pages()) {
          const shot = await page.screenshot({ fullPage: true }).catch(() => null);
          if (shot) await testInfo.attach(`page-${i}`, { body: shot, contentType: 'image/png' });
        }
      }
      await testInfo.attach('team-server-log', { body: tail(team.log, 60), contentType: 'text/plain' });
    }
    for (const context of contexts) await context.close();
    if (said.length > 0) await testInfo.attach('team-browser-log', { body: said.join('\n'), contentType: 'text/plain' });
    const crashes = said.filter((l) => l.includes(' uncaught ') || l.includes('panicked at'));
    expect(crashes, 'the app must not panic or throw in the browser').toEqual([]);
  },
});

const chartUrl = (id: string) => `/branches/${BRANCH}/charts/${id}`;

async function open(page: Page, url: string, testInfo: TestInfo) {
  await page.goto(url);
  await ready(page, testInfo);
}

const verdictOf = (page: Page, email: string) =>
  page.locator(`[data-testid=verdicts] [data-testid=verdict-list] [data-testid=verdict][data-reviewer="${email}"]`);

const VERB = { approved: 'Approved', rejected: 'Rejected', pending: 'Reset to pending' } as const;

/**
 * Clicks Approve / Reject / Reset on the chart page and waits for the answer: with JavaScript the
 * server function's flash ("Approved: <title>"), without it the form's redirect back with its notice.
 */
async function decide(page: Page, testInfo: TestInfo, status: keyof typeof VERB) {
  await page.locator(`[data-testid=decide-${status}]`).click();
  if (hasJs(testInfo)) {
    await expect(page.locator('[data-testid=flash]')).toContainText(`${VERB[status]}: `);
  } else {
    await expect(page).toHaveURL(new RegExp(`[?&]notice=${status}$`));
    await expect(page.locator('[data-testid=flash]')).toHaveText(`Saved: ${status}.`);
  }
}

/** A verdict through the API, for setting a scene. */
async function decideByApi(team: TeamServer, who: Who, id: string, status: string) {
  const item = team.items.get(id)!;
  const r = await team.api[who].post(`/api/v1/branches/${BRANCH}/diffs/${encodeURIComponent(id)}/review`, {
    data: { status, staging_hash: item.staging_hash, production_hash: item.production_hash },
  });
  expect(r.status(), await r.text()).toBe(200);
}

/** The header's "My reviews" count (0 when the badge is absent). */
async function myCount(page: Page): Promise<number> {
  await expect(page.locator('[data-testid=my-reviews-link]')).toBeVisible();
  const count = page.locator('[data-testid=my-reviews-link] [data-testid=my-reviews-count]');
  if ((await count.count()) === 0) return 0;
  const text = (await count.innerText()).trim();
  expect(text).toMatch(/^\d+$/);
  return Number(text);
}

async function expectMyCount(page: Page, n: number) {
  const count = page.locator('[data-testid=my-reviews-link] [data-testid=my-reviews-count]');
  if (n === 0) await expect(count).toHaveCount(0);
  else await expect(count).toHaveText(String(n));
}

test('two reviewers and the owner approve: the policy counts every verdict', async ({ as, team }, testInfo) => {
  test.setTimeout(120_000);
  const id = team.owned[0];
  const owner = 'needs 1 more approval, from an owner: ana@example.org';

  // Ben: one approval of two, the owner still missing.
  const ben = await as('ben');
  await open(ben, chartUrl(id), testInfo);
  const panel = ben.locator('[data-testid=verdicts]');
  await expect(panel.locator('[data-testid=progress]')).toHaveText('0 of 2 approvals');
  await expect(panel.locator('[data-testid=owners]')).toContainText('ana@example.org');
  await expect(panel.locator('[data-testid=missing]')).toHaveText('needs 2 approvals, one from an owner: ana@example.org');
  await decide(ben, testInfo, 'approved');
  await expect(panel.locator('[data-testid=progress]')).toHaveText('1 of 2 approvals');
  await expect(panel.locator('[data-testid=missing]')).toHaveText(owner);
  await expect(verdictOf(ben, 'ben@example.org')).toContainText('approved');
  await expect(ben.locator('[data-testid=review-status]')).toHaveText('pending');

  // Cy: two approvals, still no owner among them.
  const cy = await as('cy');
  await open(cy, chartUrl(id), testInfo);
  await expect(verdictOf(cy, 'ben@example.org')).toContainText('approved');
  await decide(cy, testInfo, 'approved');
  const cyPanel = cy.locator('[data-testid=verdicts]');
  await expect(cyPanel.locator('[data-testid=progress]')).toHaveText('2 of 2 approvals');
  await expect(cyPanel.locator('[data-testid=missing]')).toHaveText(owner);
  await expect(cyPanel.locator('[data-testid=verdict-list] [data-testid=verdict]')).toHaveCount(2);
  await expect(cy.locator('[data-testid=review-status]')).toHaveText('pending');
  // The list shows the progress on the pending item.
  await open(cy, `/branches/${BRANCH}`, testInfo);
  const row = cy.locator(`[data-testid=diff-row][data-chart-id="${id}"]`);
  await expect(row.locator('[data-testid=status-badge]')).toHaveText('pending');
  await expect(row.locator('[data-testid=progress-badge]')).toHaveText('2 of 2 + owner');
  await expect(row.locator('[data-testid=progress-badge]')).toHaveAttribute('title', owner);

  // Ana, the owner, settles it.
  const ana = await as('ana');
  await open(ana, chartUrl(id), testInfo);
  await decide(ana, testInfo, 'approved');
  await expect(ana.locator('[data-testid=review-status]')).toHaveText('approved');
  await expect(ana.locator('[data-testid=verdicts] [data-testid=missing]')).toHaveCount(0);
  await expect(ana.locator('[data-testid=verdicts] [data-testid=verdict-list] [data-testid=verdict]')).toHaveCount(3);
  await expect(verdictOf(ana, 'ana@example.org')).toContainText('approved');

  // On the list: approved, and no progress badge any more.
  await open(ana, `/branches/${BRANCH}`, testInfo);
  const done = ana.locator(`[data-testid=diff-row][data-chart-id="${id}"]`);
  await expect(done.locator('[data-testid=status-badge]')).toHaveText('approved');
  await expect(done.locator('[data-testid=progress-badge]')).toHaveCount(0);
});

test('a standing rejection is dismissed by a lead, with a reason', async ({ as, team }, testInfo) => {
  test.setTimeout(120_000);
  const id = team.others[0];
  await decideByApi(team, 'ben', id, 'rejected');

  // A reviewer sees the rejection and what it needs, but no dismiss form.
  const cy = await as('cy');
  await open(cy, chartUrl(id), testInfo);
  await expect(cy.locator('[data-testid=review-status]')).toHaveText('rejected');
  await expect(verdictOf(cy, 'ben@example.org')).toContainText('rejected');
  await expect(cy.locator('[data-testid=verdicts] [data-testid=missing]')).toHaveText(
    "rejected by ben@example.org: needs their change of mind or a lead's dismissal; needs 2 approvals",
  );
  await expect(cy.locator('[data-testid=dismiss-form]')).toHaveCount(0);

  // The lead gets the form on ben's verdict.
  const lee = await as('lee');
  await open(lee, chartUrl(id), testInfo);
  const form = verdictOf(lee, 'ben@example.org').locator('form[data-testid=dismiss-form]');
  await expect(form).toBeVisible();
  const reason = form.locator('input[name=reason]');
  const dismiss = form.getByRole('button', { name: 'Dismiss' });
  // No reason: the browser refuses to send the form.
  await dismiss.click();
  expect(await reason.evaluate((el) => (el as HTMLInputElement).validity.valueMissing)).toBe(true);
  // A blank reason passes the browser; the server refuses it and says why.
  await reason.fill('   ');
  await dismiss.click();
  await expect(lee).toHaveURL(/[?&]notice=invalid&why=/);
  await ready(lee, testInfo);
  await expect(lee.locator('[data-testid=flash]')).toContainText('Not saved: ');
  await expect(lee.locator('[data-testid=review-status]')).toHaveText('rejected');

  // A reason: dismissed, the reason shown as text.
  const why = 'answered in the thread <b>yes</b>';
  await verdictOf(lee, 'ben@example.org').locator('form[data-testid=dismiss-form] input[name=reason]').fill(why);
  await verdictOf(lee, 'ben@example.org').locator('form[data-testid=dismiss-form]').getByRole('button', { name: 'Dismiss' }).click();
  await expect(lee).toHaveURL(/[?&]notice=dismissed$/);
  await ready(lee, testInfo);
  await expect(lee.locator('[data-testid=flash]')).toHaveText('Rejection dismissed; the reason is in the audit trail.');
  const dismissed = verdictOf(lee, 'ben@example.org').locator('[data-testid=dismissed]');
  await expect(dismissed).toContainText('Dismissed by lee@example.org');
  await expect(dismissed).toContainText(why);
  await expect(dismissed.locator('b')).toHaveCount(0);
  await expect(lee.locator('[data-testid=dismiss-form]')).toHaveCount(0);
  // No approval yet: pending, no longer rejected.
  await expect(lee.locator('[data-testid=review-status]')).toHaveText('pending');
  await expect(lee.locator('[data-testid=verdicts] [data-testid=missing]')).toHaveText('needs 2 approvals');

  // The reviewer sees the dismissal too.
  await open(cy, chartUrl(id), testInfo);
  await expect(verdictOf(cy, 'ben@example.org').locator('[data-testid=dismissed]')).toContainText(why);
});

test('the conversation: comments are text, blank ones are refused, verdict comments join it', async ({ as, team }, testInfo) => {
  test.setTimeout(120_000);
  const id = team.others[1];
  const ben = await as('ben');
  await open(ben, chartUrl(id), testInfo);
  const thread = ben.locator('section[data-testid=thread]');
  await expect(thread.locator('[data-testid=thread-empty]')).toBeVisible();
  const box = ben.locator('form[data-testid=comment-form] #comment-body');
  const submit = ben.locator('form[data-testid=comment-form] [data-testid=comment-submit]');

  // Empty: the browser's `required` keeps the form from being sent.
  await submit.click();
  expect(await box.evaluate((el) => (el as HTMLTextAreaElement).validity.valueMissing)).toBe(true);
  // Blank passes the browser; the server refuses it with a message.
  await box.fill('  \n ');
  await submit.click();
  await expect(ben).toHaveURL(/[?&]notice=invalid&why=/);
  await ready(ben, testInfo);
  await expect(ben.locator('[data-testid=flash]')).toContainText('Not saved: ');
  await expect(thread.locator('[data-testid=thread-empty]')).toBeVisible();
  // And the API says 400 to an empty body.
  const empty = await team.api.ben.post(`/api/v1/branches/${BRANCH}/diffs/${encodeURIComponent(id)}/comments`, {
    data: { body: '' },
  });
  expect(empty.status(), await empty.text()).toBe(400);

  // Markdown and HTML are shown as typed.
  const text = '**bold** <b>x</b>';
  await box.fill(text);
  await submit.click();
  await expect(ben).toHaveURL(/[?&]notice=commented#comment-\d+$/);
  await ready(ben, testInfo);
  await expect(ben.locator('[data-testid=flash]')).toHaveText('Comment added.');
  const comments = thread.locator('[data-testid=comment]');
  await expect(comments).toHaveCount(1);
  await expect(comments.first()).toContainText('ben@example.org');
  await expect(comments.first().locator('[data-testid=comment-body]')).toHaveText(text);
  await expect(comments.first().locator('[data-testid=comment-body] *')).toHaveCount(0);
  await expect(comments.first().locator('[data-testid=older-content]')).toHaveCount(0);
  await expect(thread.locator('[data-testid=thread-empty]')).toHaveCount(0);

  // A verdict with a comment appears in the thread, marked with the verdict.
  const note = 'Rejected: the <i>axis</i> label is wrong';
  await ben.locator('form.review-controls textarea[name=comment]').fill(note);
  await decide(ben, testInfo, 'rejected');
  if (!hasJs(testInfo)) await ready(ben, testInfo);
  await expect(comments).toHaveCount(2);
  const withVerdict = comments.filter({ has: ben.locator('[data-testid=comment-body]', { hasText: note }) });
  await expect(withVerdict).toHaveCount(1);
  await expect(withVerdict.locator('[data-testid=comment-body]')).toHaveText(note);
  await expect(withVerdict.locator('[data-testid=comment-body] *')).toHaveCount(0);
  await expect(withVerdict).toContainText('rejected');
  await expect(verdictOf(ben, 'ben@example.org')).toContainText('rejected');
});

test('/me: a request shows in the inbox and the header, and leaves once answered', async ({ as, team }, testInfo) => {
  test.setTimeout(120_000);
  const id = team.others[2];

  // What waits on ana before (the charts she owns, at least).
  const ana = await as('ana');
  await open(ana, '/me', testInfo);
  const before = await myCount(ana);
  await expect(ana.locator(`[data-testid=me-row][data-chart-id="${id}"]`)).toHaveCount(0);

  // Ben asks her through the chart's ask form.
  const ben = await as('ben');
  await open(ben, chartUrl(id), testInfo);
  const ask = ben.locator('form[data-testid=ask-form]');
  await ask.locator('[data-testid=ask-reviewers]').fill('ana@example.org');
  await ask.getByRole('button', { name: 'Ask' }).click();
  await expect(ben).toHaveURL(/[?&]notice=requested$/);
  await ready(ben, testInfo);
  await expect(ben.locator('[data-testid=flash]')).toHaveText('Review requested: they will see it under My reviews.');
  await expect(ben.locator('[data-testid=verdicts] [data-testid=requested]')).toContainText('ana@example.org');

  // Ana's list: the "waiting on me" chip holds it.
  await open(ana, `/branches/${BRANCH}`, testInfo);
  await ana.locator('[data-testid=filter-waiting_on-me]').click();
  await expect(ana).toHaveURL(/[?&]waiting_on=me/);
  await ready(ana, testInfo);
  await expect(ana.locator(`[data-testid=diff-row][data-chart-id="${id}"]`)).toHaveCount(1);

  // Her inbox and her header.
  await open(ana, '/me', testInfo);
  await expectMyCount(ana, before + 1);
  const row = ana.locator(`[data-testid=me-items] [data-testid=me-row][data-chart-id="${id}"]`);
  await expect(row).toHaveAttribute('data-branch', BRANCH);
  await expect(row.locator('[data-testid=me-reasons]')).toContainText('requested by ben@example.org');

  // She approves it from there: it leaves her inbox and the count drops.
  await row.locator('a.title').click();
  await expect(ana).toHaveURL(new RegExp(`${chartUrl(id)}$`));
  await ready(ana, testInfo);
  await decide(ana, testInfo, 'approved');
  await expect(verdictOf(ana, 'ana@example.org')).toContainText('approved');
  await open(ana, '/me', testInfo);
  await expect(ana.locator(`[data-testid=me-row][data-chart-id="${id}"]`)).toHaveCount(0);
  await expectMyCount(ana, before);
  if (before === 0) await expect(ana.locator('[data-testid=me-empty]')).toBeVisible();
});

test('keyboard shortcuts decide on a chart page under the policy', async ({ as, team }, testInfo) => {
  test.skip(!hasJs(testInfo), 'keyboard shortcuts need JavaScript');
  test.setTimeout(90_000);
  const id = team.owned[1];
  const ana = await as('ana');
  await open(ana, chartUrl(id), testInfo);
  const mine = verdictOf(ana, 'ana@example.org');
  await expect(mine).toHaveCount(0);
  await expect(ana.locator('[data-testid=verdicts] [data-testid=progress]')).toHaveText('0 of 2 approvals');

  // The listener is registered by an effect right after hydration: press again only while
  // nothing happened (approving twice would be the same verdict anyway).
  const flash = ana.locator('[data-testid=flash]');
  await expect(async () => {
    if ((await flash.count()) === 0) await ana.keyboard.press('a');
    await expect(flash).toContainText('Approved: ', { timeout: 2_000 });
  }).toPass({ timeout: 15_000 });
  await expect(mine).toContainText('approved');
  await expect(ana.locator('[data-testid=verdicts] [data-testid=progress]')).toHaveText('1 of 2 approvals');
  // The owner approved: only one more approval, from anyone.
  await expect(ana.locator('[data-testid=verdicts] [data-testid=missing]')).toHaveText('needs 1 more approval');

  // `r` rejects, `u` takes her verdict back.
  await ana.keyboard.press('r');
  await expect(flash).toContainText('Rejected: ');
  await expect(mine).toContainText('rejected');
  await expect(ana.locator('[data-testid=review-status]')).toHaveText('rejected');
  await ana.keyboard.press('u');
  await expect(flash).toContainText('Reset to pending: ');
  await expect(mine).toHaveCount(0);
  await expect(ana.locator('[data-testid=review-status]')).toHaveText('pending');
});

test('asking for a whole branch from the list; an unknown person is refused', async ({ as, team }, testInfo) => {
  test.setTimeout(90_000);
  const id = team.others[3];
  const ben = await as('ben');
  await open(ben, `/branches/${BRANCH}`, testInfo);
  const ask = ben.locator('form[data-testid=ask-form]');
  await expect(ask).toHaveCount(1);
  await expect(ask.locator('input[name=chart_id]')).toHaveCount(0);

  // Someone who is not a user: nothing is recorded, the page says why.
  await ask.locator('[data-testid=ask-reviewers]').fill('nobody@example.org');
  await ask.getByRole('button', { name: 'Ask' }).click();
  await expect(ben).toHaveURL(/[?&]notice=invalid&why=/);
  await ready(ben, testInfo);
  await expect(ben.locator('[data-testid=flash]')).toContainText('Not saved: ');
  await expect(ben.locator('[data-testid=flash]')).toContainText('nobody@example.org');

  // Cy, for the whole branch.
  await ben.locator('form[data-testid=ask-form] [data-testid=ask-reviewers]').fill('cy@example.org');
  await ben.locator('form[data-testid=ask-form]').getByRole('button', { name: 'Ask' }).click();
  await expect(ben).toHaveURL(/[?&]notice=requested$/);
  await ready(ben, testInfo);
  await expect(ben.locator('[data-testid=flash]')).toHaveText('Review requested: they will see it under My reviews.');

  // Cy's inbox holds the branch's charts, asked by ben; the header counts what the API counts.
  const mine = await team.api.cy.get('/api/v1/me/reviews');
  expect(mine.status(), await mine.text()).toBe(200);
  const total = (await mine.json()).total as number;
  expect(total).toBeGreaterThan(0);
  const cy = await as('cy');
  await open(cy, '/me', testInfo);
  await expectMyCount(cy, total);
  const row = cy.locator(`[data-testid=me-items] [data-testid=me-row][data-chart-id="${id}"]`);
  await expect(row.locator('[data-testid=me-reasons]')).toContainText('requested by ben@example.org');
  // The chart page names who was asked.
  await row.locator('a.title').click();
  await expect(cy).toHaveURL(new RegExp(`${chartUrl(id)}$`));
  await ready(cy, testInfo);
  await expect(cy.locator('[data-testid=verdicts] [data-testid=requested]')).toContainText('cy@example.org');
});
