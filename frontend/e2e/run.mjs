// End-to-end flows in Debian's Chromium against a running Naevus (Django + worker + model).
//   E2E_BASE_URL   where the portal serves the built SPA and /api/ (required)
//   E2E_FLOWS      comma-separated: session, firebase (default: session, plus firebase when its user is set)
// session flow:
//   E2E_USERNAME / E2E_PASSWORD   a clinician with a clinic (session sign-in)
//   E2E_IMAGE      a dermoscopic JPEG/PNG to upload;  E2E_ZIP  a small zip of images for bulk analysis
//   E2E_MAPPING    the zip's patient/lesion mapping CSV (the batch creates them);
//   E2E_BATCH_FILES  how many images E2E_ZIP holds;  E2E_DEMO_MODEL  1 when the active model is a demo, else 0
//   E2E_SECOND_USERNAME / E2E_SECOND_PASSWORD   another clinician of the same clinic, whose policy asks a second
//                  read of every first read (the second reader's step)
//   E2E_FOLLOW_UP_PATIENT   the name of a patient whose lesion's signed follow-up date has come
// trust flow (issue 15's three signals, on results the test stored with a model that has OOD statistics):
//   E2E_USERNAME / E2E_PASSWORD;  E2E_TRUST_SPOTS  a patient whose lesions include one labelled "Odd lesion",
//   the most dissimilar;  E2E_TRUST_PHOTOS  a patient with a "Not dermoscopy" lesion (a natural photo, flagged
//   out of distribution) and a "Blurred" one (retake advised)
// firebase flow: the portal must run with FIREBASE_PROJECT_ID, FIREBASE_WEB_API_KEY, FIREBASE_AUTH_EMULATOR_HOST
// and DJANGO_DEBUG=1, so that the configuration it injects into the page points the SPA at the emulator:
//   E2E_FIREBASE_EMAIL / E2E_FIREBASE_PASSWORD   an invited user in the Firebase Auth emulator
//   E2E_FIREBASE_PATIENT   optional: the name of a patient of that user's clinic, to find in the list
//   E2E_FIREBASE_UNINVITED_EMAIL / E2E_FIREBASE_UNINVITED_PASSWORD   optional: a valid emulator user no clinic invited
// oidc flow: the portal must run with OIDC_* pointing at a provider whose sign-in form has Username/Password
//   fields and whose consent page has an "Authorize" button (django-oidc-provider's, as tests/e2e starts it):
//   E2E_OIDC_PROVIDER (the name the sign-in button shows), E2E_OIDC_USERNAME / E2E_OIDC_PASSWORD (an identity
//   whose e-mail a clinic invited), E2E_OIDC_PATIENT (a patient of that clinic), E2E_OIDC_UNINVITED_USERNAME
//   (an identity with the same password that no clinic invited)
//   E2E_HEADED=1 to watch;  E2E_CHROMIUM to override /usr/bin/chromium
// Every screen a flow reaches is checked with axe-core (WCAG 2.0/2.1 A and AA rules) in that page; the last
// step fails on any serious or critical violation, and every violation found goes to test-results/axe.json.
// Screenshots go to frontend/test-results/. Prints "N passed, N failed" and exits non-zero on any failure.
/* global window, document -- used only inside page.evaluate(), which runs in the browser */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = resolve(here, '../test-results');
mkdirSync(resultsDir, { recursive: true });

const env = process.env;
const FLOW_ENV = {
  session: [
    'E2E_USERNAME', 'E2E_PASSWORD', 'E2E_IMAGE', 'E2E_ZIP', 'E2E_MAPPING', 'E2E_BATCH_FILES', 'E2E_DEMO_MODEL',
    'E2E_SECOND_USERNAME', 'E2E_SECOND_PASSWORD', 'E2E_FOLLOW_UP_PATIENT',
  ],
  trust: ['E2E_USERNAME', 'E2E_PASSWORD', 'E2E_TRUST_SPOTS', 'E2E_TRUST_PHOTOS'],
  firebase: ['E2E_FIREBASE_EMAIL', 'E2E_FIREBASE_PASSWORD'],
  oidc: ['E2E_OIDC_PROVIDER', 'E2E_OIDC_USERNAME', 'E2E_OIDC_PASSWORD', 'E2E_OIDC_PATIENT', 'E2E_OIDC_UNINVITED_USERNAME'],
};
const flows = env.E2E_FLOWS
  ? env.E2E_FLOWS.split(',').map((name) => name.trim())
  : ['session', ...(env.E2E_FIREBASE_EMAIL ? ['firebase'] : [])];

function refuse(message) {
  console.error(`e2e: ${message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const unknown = flows.filter((name) => !(name in FLOW_ENV));
if (unknown.length > 0) refuse(`unknown flow(s) in E2E_FLOWS: ${unknown.join(', ')}`);
const missing = ['E2E_BASE_URL', ...flows.flatMap((name) => FLOW_ENV[name])].filter((name) => !env[name]);
if (missing.length > 0) refuse(`missing environment: ${missing.join(', ')}`);
if (flows.includes('session')) {
  for (const file of [env.E2E_IMAGE, env.E2E_ZIP, env.E2E_MAPPING]) {
    if (!existsSync(file)) refuse(`no such file: ${file}`);
  }
  if (!['0', '1'].includes(env.E2E_DEMO_MODEL)) refuse('E2E_DEMO_MODEL must be 0 or 1');
  if (!(Number(env.E2E_BATCH_FILES) > 0)) refuse('E2E_BATCH_FILES must be the number of images in E2E_ZIP');
}
const base = env.E2E_BASE_URL.replace(/\/$/, '');
const PREDICTION_TIMEOUT = Number(env.E2E_PREDICTION_TIMEOUT_MS ?? 180_000);
const BATCH_TIMEOUT = Number(env.E2E_BATCH_TIMEOUT_MS ?? 300_000);

const results = { passed: 0, failed: 0, skipped: 0 };

/** Runs the steps of one flow in order; after a failure the rest of that flow cannot mean anything, so skip it. */
async function flow(name, steps) {
  console.log(`# ${name}`);
  let broken = false;
  for (const [title, fn] of steps) {
    if (broken) {
      results.skipped += 1;
      console.log(`﹣ ${title} # SKIP (an earlier step failed)`);
      continue;
    }
    const started = Date.now();
    try {
      await fn();
      results.passed += 1;
      console.log(`✔ ${title} (${Date.now() - started} ms)`);
    } catch (error) {
      results.failed += 1;
      broken = true;
      console.log(`✖ ${title} (${Date.now() - started} ms)\n  ${String(error?.stack ?? error).split('\n').join('\n  ')}`);
    }
  }
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: env.E2E_CHROMIUM ?? '/usr/bin/chromium',
  headless: env.E2E_HEADED !== '1',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ].filter((arg) => env.E2E_HEADED !== '1' || arg !== '--headless'),
});

const pageErrors = [];
// Responses refused by the server, to explain a failed check (some are expected, e.g. before sign-in).
const refusedResponses = [];
async function newPage(viewport = { width: 1366, height: 900 }) {
  const context = await browser.newContext({ viewport, colorScheme: 'light', baseURL: base });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('response', (response) => {
    if (response.status() >= 400) refusedResponses.push(`${response.status()} ${new URL(response.url()).pathname}`);
  });
  return page;
}

// ---- accessibility: axe-core inside the page ------------------------------------------------------------------
const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const BLOCKING = new Set(['serious', 'critical']);
const axeFindings = []; // { screen, id, impact, help, targets, count }
const auditedScreens = [];

/** Runs axe on what is on screen now and keeps what it finds; the "page health" flow judges them all at the end. */
async function audit(page, screen) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: axePath });
  const { violations } = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }),
    AXE_TAGS,
  );
  auditedScreens.push(screen);
  for (const v of violations) {
    axeFindings.push({
      screen,
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((node) => node.target.join(' ')).slice(0, 5),
      count: v.nodes.length,
    });
  }
}

/** Presses Tab until `target` has the focus, as a keyboard user would reach it; fails when it never does. */
async function tabTo(page, target, maxPresses = 80) {
  const handle = await target.elementHandle();
  for (let i = 0; i < maxPresses; i += 1) {
    await page.keyboard.press('Tab');
    if (await handle.evaluate((el) => el === document.activeElement || el.contains(document.activeElement))) return;
  }
  throw new Error(`${target} cannot be reached with the Tab key (${maxPresses} presses)`);
}

// Transitions are run to their end, so a screenshot shows the state a step waited for, not a fade on its way.
const shot = async (page, name) => {
  await page.screenshot({ path: resolve(resultsDir, `${name}.png`), fullPage: true, animations: 'disabled' });
  await audit(page, name);
};

/** The app renders after its script loads, so the tabs are looked for only once the page is on screen. */
async function openSignIn(page) {
  await page.goto('/sign-in');
  await page.getByRole('heading', { name: 'Naevus', level: 1 }).waitFor();
}

async function signInWithPassword(page, username = env.E2E_USERNAME, password = env.E2E_PASSWORD, screenshot = '01-sign-in') {
  await openSignIn(page);
  // A Firebase-enabled build shows tabs; a local account lives under the second one.
  const localTab = page.getByRole('tab', { name: 'Local account' });
  if (await localTab.isVisible().catch(() => false)) await localTab.click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').filter({ visible: true }).fill(password);
  if (screenshot) await shot(page, screenshot);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(/\/patients$/);
}

/** The image types the server stores, as its OpenAPI schema states them (UploadImageTypeEnum). */
async function serverImageTypes(page) {
  const response = await page.request.get('/api/v1/schema/?format=json');
  check(response.ok(), `the OpenAPI schema answered ${response.status()}`);
  const types = (await response.json()).components?.schemas?.UploadImageTypeEnum?.enum;
  check(Array.isArray(types) && types.length > 0, 'the OpenAPI schema has no UploadImageTypeEnum');
  return types;
}

const sameSet = (accept, types) => {
  const offered = (accept ?? '').split(',').map((t) => t.trim()).filter(Boolean).sort();
  return JSON.stringify(offered) === JSON.stringify([...types].sort());
};

// ---- session flow ---------------------------------------------------------------------------------------------
if (flows.includes('session')) {
  const page = await newPage();
  const stamp = Date.now().toString(36).toUpperCase();
  const patientName = `E2E Patient ${stamp}`;
  let patientUrl = '';
  // The test that starts the backend knows whether its model is a demo; the label is then required on
  // every result screen, not looked for only when the page happens to say so.
  const demoModel = env.E2E_DEMO_MODEL === '1';
  const batchFiles = Number(env.E2E_BATCH_FILES);

  await flow('clinician flow (session sign-in)', [
    [
      'signs in with username and password',
      async () => {
        await signInWithPassword(page);
        await page.getByRole('heading', { name: 'Patients' }).waitFor();
        const health = await page.request.get('/api/v1/health/');
        const reported = Boolean((await health.json().catch(() => ({})))?.model?.is_demo);
        check(reported === demoModel, `the health check says is_demo=${reported}, the backend was started with ${demoModel}`);
        await page.getByText('Loading patients…').waitFor({ state: 'detached' });
        await page.getByRole('banner').getByText(/^Model .+ v.+/).waitFor();
        await shot(page, '02-patients');
      },
    ],
    [
      'creates a patient',
      async () => {
        // By keyboard: Tab to the button, Enter opens the dialog.
        await tabTo(page, page.getByRole('button', { name: 'New patient' }));
        await page.keyboard.press('Enter');
        const dialog = page.getByRole('dialog', { name: 'New patient' });
        await dialog.getByLabel('MRN').fill(`E2E-${stamp}`);
        await dialog.getByLabel('Name').fill(patientName);
        await dialog.getByLabel('Birth year').fill('1970');
        await shot(page, '03-new-patient');
        await dialog.getByRole('button', { name: 'Create patient' }).click();
        await page.getByRole('heading', { name: patientName }).waitFor();
        patientUrl = new URL(page.url()).pathname;
        check(/^\/patients\/\d+$/.test(patientUrl), `unexpected case history URL ${patientUrl}`);
      },
    ],
    [
      'adds a lesion, uploads an image and sees its status go to a result',
      async () => {
        await page.getByRole('link', { name: 'Upload images' }).click();
        await page.getByLabel('Lesion label').fill('Left shoulder');
        await page.getByRole('textbox', { name: /Anatomic site/ }).click();
        await page.getByRole('option', { name: 'torso' }).click();
        const picker = page.locator('input[type="file"]');
        check(
          sameSet(await picker.getAttribute('accept'), await serverImageTypes(page)),
          `the upload picker offers ${await picker.getAttribute('accept')}, not what the server accepts`,
        );
        await picker.setInputFiles(env.E2E_IMAGE);
        const row = page.getByRole('list', { name: 'Uploads' }).getByRole('listitem').first();
        await row.waitFor();
        await row.getByText(/Melanoma probability \d/).waitFor({ timeout: PREDICTION_TIMEOUT });
        await page.getByRole('note', { name: 'Intended use' }).waitFor();
        if (demoModel) await row.getByText('demo — not for clinical use').waitFor();
        await shot(page, '04-upload');
      },
    ],
    [
      'shows the prediction and heatmap in the case history',
      async () => {
        await page.getByRole('link', { name: 'Open case history' }).click();
        const image = page.getByRole('article').first();
        await image.getByText(/Melanoma probability \d/).waitFor();
        await image.getByText(/^(Refer|Routine)$/).waitFor();
        await page.getByRole('note', { name: 'Intended use' }).waitFor();
        if (demoModel) await image.getByText('demo — not for clinical use').waitFor();
        // By keyboard: the heatmap switch is reached with Tab and turned on with Space.
        const heatmapSwitch = image.getByRole('switch', { name: 'Show heatmap' });
        await tabTo(page, heatmapSwitch);
        await page.keyboard.press('Space');
        check(await heatmapSwitch.isChecked(), 'Space on the focused heatmap switch did not turn it on');
        const overlay = image.getByTestId('heatmap-overlay').locator('img');
        await overlay.waitFor();
        await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await overlay.elementHandle());
        await shot(page, '05-case-history');
        await page.setViewportSize({ width: 820, height: 1180 });
        if (demoModel) {
          const label = page.getByRole('banner').getByText('demo — not for clinical use');
          const clipped = await label.evaluate((el) => el.scrollWidth > el.clientWidth);
          check(!clipped, 'the demo warning in the header is cut off at tablet width');
        }
        await shot(page, '05b-case-history-tablet');
        await page.setViewportSize({ width: 1366, height: 900 });
      },
    ],
    [
      'runs a small batch to completion',
      async () => {
        await page.goto('/batches');
        await page.getByRole('textbox', { name: 'Name' }).fill(`E2E batch ${stamp}`);
        const imagesPicker = page.locator('input[type="file"][name="files"]');
        check(
          sameSet(await imagesPicker.getAttribute('accept'), await serverImageTypes(page)),
          `the batch image picker offers ${await imagesPicker.getAttribute('accept')}, not what the server accepts`,
        );
        await page.locator('input[type="file"][name="archive"]').setInputFiles(env.E2E_ZIP);
        // The mapping files the images under new patients and lesions, so they reach the worklist too.
        await page.locator('input[type="file"][name="mapping"]').setInputFiles(env.E2E_MAPPING);
        await page.getByLabel(/Create patients and lesions/).check();
        await page.getByText('Loading batches…').waitFor({ state: 'detached' });
        await shot(page, '06-batch-new');
        await page.getByRole('button', { name: 'Start analysis' }).click();
        await page.waitForURL(/\/batches\/\d+$/);
        await page.getByRole('progressbar', { name: 'Analysed' }).waitFor();
        await page.getByText('done', { exact: true }).waitFor({ timeout: BATCH_TIMEOUT });
        const table = page.getByRole('table', { name: 'Batch results' });
        const rows = table.getByRole('row');
        await rows.nth(1).waitFor();
        // Every row must reach its result once the batch is done, not stay as it was when first listed.
        await table.getByText(/^(Queued|Analysing…)$/).first().waitFor({ state: 'detached', timeout: 10_000 });
        // A header row and one row per uploaded image: none missing, none listed twice.
        check((await rows.count()) === batchFiles + 1, `${(await rows.count()) - 1} result rows for ${batchFiles} images`);
        await page.getByRole('note', { name: 'Intended use' }).waitFor();
        // Every thumbnail must have loaded: a broken or refused image leaves an empty cell, not an error.
        const thumbnails = table.getByRole('img', { name: /^Thumbnail of / });
        const expected = (await rows.count()) - 1;
        await page.waitForFunction(
          (n) => {
            const imgs = [...globalThis.document.querySelectorAll('table[aria-label="Batch results"] img')];
            return imgs.length === n && imgs.every((img) => img.complete);
          },
          expected,
          { timeout: 15_000 },
        );
        const widths = await thumbnails.evaluateAll((imgs) => imgs.map((img) => [img.alt, img.naturalWidth]));
        const blank = widths.filter(([, width]) => width === 0).map(([alt]) => alt);
        check(widths.length === expected, `${widths.length} thumbnails for ${expected} results`);
        check(blank.length === 0, `${blank.length} of ${widths.length} thumbnails did not load: ${blank.join(', ')}; refused: ${refusedResponses.join(', ')}`);
        await shot(page, '07-batch-done');
      },
    ],
    [
      'works through the worklist, riskiest first, with next',
      async () => {
        await page.goto('/worklist');
        const nav = page.getByRole('navigation', { name: 'Main navigation' });
        const count = Number((await nav.getByLabel(/^\d+ unreviewed$/).textContent()) ?? '0');
        const table = page.getByRole('table', { name: 'Worklist: Unreviewed' });
        await table.waitFor();
        const rows = table.getByRole('row');
        // The e2e patient's lesion and the batch's three mapped lesions are analysed and nobody has reviewed them.
        check(count === 4, `the navigation counts ${count} unreviewed lesions, expected the upload's one and the batch's three`);
        check((await rows.count()) - 1 === count, `${(await rows.count()) - 1} worklist rows for a count of ${count}`);
        await table.getByText(patientName).first().waitFor();
        // Riskiest first: every Refer row comes before every Routine row.
        const risks = await table.getByText(/^(Refer|Routine) · /).allTextContents();
        const firstRoutine = risks.findIndex((text) => text.startsWith('Routine'));
        check(firstRoutine === -1 || risks.slice(firstRoutine).every((text) => text.startsWith('Routine')), `worklist order: ${risks.join(' | ')}`);
        const thumbnails = table.getByRole('img', { name: /^Latest image of / });
        await page.waitForFunction(
          (n) => [...globalThis.document.querySelectorAll('table[aria-label^="Worklist"] img')].filter((img) => img.complete && img.naturalWidth > 0).length === n,
          (await rows.count()) - 1,
          { timeout: 15_000 },
        );
        check((await thumbnails.count()) === (await rows.count()) - 1, 'a worklist row without its thumbnail');
        await shot(page, '07b-worklist');
        const first = await rows.nth(1).getByRole('link').textContent();
        await rows.nth(1).getByRole('link').click();
        await page.getByRole('heading', { name: first ?? '', level: 1 }).waitFor();
        await page.getByRole('article').first().getByText(/Melanoma probability \d/).waitFor();
        await shot(page, '07c-worklist-lesion');
        // Sign a first read (benign, discharge): the lesion leaves the unreviewed queue and its count drops by one.
        const review = page.getByRole('region', { name: 'Review' });
        await review.getByText('Not reviewed yet').waitFor();
        await review.getByRole('button', { name: 'Sign review' }).click();
        await review.getByText(/^(Review complete|Awaiting a second read)$/).waitFor();
        await review.getByRole('article', { name: /^First read by / }).waitFor();
        check((await review.getByRole('button', { name: 'Sign review' }).count()) === 0, 'the review form is still open after signing');
        await nav.getByLabel(`${count - 1} unreviewed`).waitFor();
        await shot(page, '07d-worklist-signed');
        // Four lesions wait (checked above), so the first one has a next one in the queue.
        const before = page.url();
        await page.getByRole('link', { name: 'Next lesion' }).click();
        await page.waitForURL((url) => url.toString() !== before);
        await page.getByRole('article').first().getByText(/Melanoma probability \d/).waitFor();
      },
    ],
    [
      'compares two visits of a lesion side by side',
      async () => {
        // A second visit of the e2e patient's lesion (after the worklist step, whose counts it would change).
        await page.goto(patientUrl);
        await page.getByRole('heading', { name: patientName }).waitFor();
        await page.getByRole('link', { name: 'Add images' }).first().click();
        await page.locator('input[type="file"]').setInputFiles(env.E2E_IMAGE);
        const row = page.getByRole('list', { name: 'Uploads' }).getByRole('listitem').first();
        await row.getByText(/Melanoma probability \d/).waitFor({ timeout: PREDICTION_TIMEOUT });
        await page.getByRole('link', { name: 'Open case history' }).click();
        await page.getByRole('link', { name: 'Compare latest visits' }).click();
        await page.getByRole('heading', { name: /^Follow-up comparison: / }).waitFor();
        await page.getByRole('region', { name: 'Earlier visit' }).getByText(/^Melanoma probability \d/).waitFor();
        await page.getByRole('region', { name: 'Later visit' }).getByText(/^Melanoma probability \d/).waitFor();
        await page.getByRole('group', { name: 'Change between the visits' }).getByText(/^Interval:/).waitFor();
        // Both images loaded, each in a box of the same rendered size.
        const boxes = page.getByTestId('comparison-image-box');
        check((await boxes.count()) === 2, `${await boxes.count()} image boxes in the comparison`);
        await page.waitForFunction(
          () => [...globalThis.document.querySelectorAll('[data-testid="comparison-image-box"] img')].filter((img) => img.complete && img.naturalWidth > 0).length === 2,
          undefined,
          { timeout: 15_000 },
        );
        const sizes = await boxes.evaluateAll((els) => els.map((el) => `${el.clientWidth}x${el.clientHeight}`));
        check(sizes[0] === sizes[1], `the comparison's image boxes differ in size: ${sizes.join(' vs ')}`);
        await shot(page, '07e-comparison');
      },
    ],
    [
      'downloads a visit report (PDF) and its FHIR export',
      async () => {
        await page.goto(patientUrl);
        await page.getByRole('heading', { name: patientName }).waitFor();
        const group = page.getByRole('group', { name: 'Visit downloads' }).first();
        const [pdf] = await Promise.all([
          page.waitForEvent('download'),
          group.getByRole('button', { name: 'Visit report (PDF)' }).click(),
        ]);
        const pdfPath = resolve(resultsDir, 'visit-report.pdf');
        await pdf.saveAs(pdfPath);
        const head = readFileSync(pdfPath).subarray(0, 5).toString('latin1');
        check(head === '%PDF-', `the visit report is not a PDF (it starts ${JSON.stringify(head)})`);
        const [fhir] = await Promise.all([
          page.waitForEvent('download'),
          group.getByRole('button', { name: 'FHIR export (JSON)' }).click(),
        ]);
        const fhirPath = resolve(resultsDir, 'visit-fhir.json');
        await fhir.saveAs(fhirPath);
        const bundle = JSON.parse(readFileSync(fhirPath, 'utf8'));
        const types = (bundle.entry ?? []).map((entry) => entry.resource?.resourceType);
        check(
          bundle.resourceType === 'Bundle' && types.includes('DiagnosticReport') && types.includes('Observation'),
          `the FHIR export is a ${bundle.resourceType} of ${types.join(', ')}`,
        );
        await shot(page, '07f-downloads');
      },
    ],
    [
      'shows a follow-up that has come as due in the worklist',
      async () => {
        await page.goto('/worklist?filter=follow_up_due');
        const table = page.getByRole('table', { name: 'Worklist: Follow-up due' });
        await table.getByText(env.E2E_FOLLOW_UP_PATIENT).first().waitFor();
        // The queue's count in its tab and every row's thumbnail, before the screenshot (it once showed neither).
        // The six queues' badges, in the tabs' order: unreviewed, refer, second read, disagreement, follow-up, biopsy.
        const due = Number(((await page.getByLabel(/^\d+ waiting$/).nth(4).getAttribute('aria-label')) ?? '').split(' ')[0]);
        const listed = (await table.getByRole('row').count()) - 1;
        check(due === listed, `the follow-up tab counts ${due}, the table lists ${listed}`);
        await page.waitForFunction(
          (n) => [...globalThis.document.querySelectorAll('table[aria-label^="Worklist"] img')].filter((img) => img.complete && img.naturalWidth > 0).length === n,
          listed,
          { timeout: 15_000 },
        );
        await shot(page, '07g-follow-up-due');
      },
    ],
    [
      'a second clinician reads the signed first read blind, and the disagreement surfaces',
      async () => {
        const second = await newPage();
        try {
          await signInWithPassword(second, env.E2E_SECOND_USERNAME, env.E2E_SECOND_PASSWORD, '');
          await second.goto('/worklist?filter=awaiting_second_read');
          const table = second.getByRole('table', { name: 'Worklist: Second read' });
          await table.waitFor();
          const rows = table.getByRole('row');
          // The clinic's policy asks a second read of every first read: the one signed in the worklist step.
          check((await rows.count()) - 1 === 1, `${(await rows.count()) - 1} lesions await a second read, expected 1`);
          await rows.nth(1).getByRole('link').click();
          const review = second.getByRole('region', { name: 'Review' });
          await review.getByText(/hidden until you sign your independent second read/).waitFor();
          check(
            (await review.getByRole('article', { name: /^First read by / }).count()) === 0,
            'the second reader sees the first read before signing',
          );
          await shot(second, '07h-second-read-blind');
          // The first read said benign, discharge; this one malignant, excise.
          await review.getByLabel('Your assessment').click();
          await second.getByRole('option', { name: 'Malignant' }).click();
          await review.getByLabel('Management').click();
          await second.getByRole('option', { name: 'Excise / biopsy' }).click();
          await review.getByRole('button', { name: 'Sign review' }).click();
          await review.getByRole('article', { name: /^First read by / }).waitFor();
          await review.getByRole('article', { name: /^Second read by / }).waitFor();
          await second.goto('/worklist?filter=disagreement');
          const disagreement = second.getByRole('table', { name: 'Worklist: Disagreement' });
          await disagreement.getByRole('row').nth(1).waitFor();
          check((await disagreement.getByRole('row').count()) - 1 === 1, 'the disagreement is not in its queue');
          await shot(second, '07i-disagreement');
        } finally {
          await second.context().close();
        }
      },
    ],
    [
      'shows the models page, with the active model in the header',
      async () => {
        await page.goto('/models');
        await page.getByRole('heading', { name: 'Models', exact: true }).waitFor();
        await page.getByText('active', { exact: true }).first().waitFor();
        const header = page.getByRole('banner');
        await header.getByText(/^Model .+ v.+/).waitFor();
        if (demoModel) await header.getByText('demo — not for clinical use').waitFor();
        await shot(page, '08-models');
      },
    ],
    [
      'switches to the dark theme',
      async () => {
        await page.goto(patientUrl);
        await page.getByRole('heading', { name: patientName }).waitFor();
        await page.getByRole('button', { name: 'Switch to dark theme' }).click();
        await page.getByRole('button', { name: 'Switch to light theme' }).waitFor();
        await shot(page, '09-case-history-dark');
        await page.getByRole('button', { name: 'Switch to light theme' }).click();
      },
    ],
    [
      'signs out, and the session is gone',
      async () => {
        await page.getByRole('button', { name: 'Account menu' }).click();
        await page.getByRole('menuitem', { name: 'Sign out' }).click();
        await page.getByText('You have signed out.').waitFor();
        await page.goto(patientUrl);
        await page.waitForURL(/\/sign-in\?/);
        await shot(page, '10-signed-out');
      },
    ],
  ]);
}

// ---- trust flow: when not to trust a score -----------------------------------------------------------------
if (flows.includes('trust')) {
  const page = await newPage();
  const openPatient = async (name) => {
    await page.goto('/patients');
    await page.getByRole('link', { name }).click();
    await page.getByRole('heading', { name, level: 1 }).waitFor();
  };
  await flow('trust signals (quality, out of distribution, odd one out)', [
    [
      'highlights the odd one out among a patient\'s lesions, and only it',
      async () => {
        await signInWithPassword(page, env.E2E_USERNAME, env.E2E_PASSWORD, null);
        await openPatient(env.E2E_TRUST_SPOTS);
        const odd = page.getByRole('region', { name: 'Odd lesion' });
        await odd.getByTestId('outlier-highlight').waitFor();
        check((await page.getByTestId('outlier-highlight').count()) === 1, 'more than one lesion highlighted as the odd one out');
        check((await page.getByTestId('outlier-score').count()) === 4, 'the four other lesions should show their score quietly');
        await odd.getByText(/not a diagnosis/i).first().waitFor();
        await shot(page, '17-odd-one-out');
      },
    ],
    [
      'warns on a natural photo and advises a retake of a blurred image',
      async () => {
        await openPatient(env.E2E_TRUST_PHOTOS);
        const photo = page.getByRole('region', { name: 'Not dermoscopy' });
        await photo.getByTestId('ood-warning').waitFor();
        await photo.getByText('Outside what this model was trained on').first().waitFor();
        const blurred = page.getByRole('region', { name: 'Blurred' });
        await blurred.getByText('quality: retake advised (blurred)').first().waitFor();
        check((await photo.getByText(/retake advised \(blurred\)/).count()) === 0, 'the sharp photo was called blurred');
        await shot(page, '18-ood-and-quality');
      },
    ],
    [
      'sorts the worklist by the odd one out and walks that order with next',
      async () => {
        await page.goto('/worklist');
        const table = page.getByRole('table', { name: 'Worklist: Unreviewed' });
        await table.waitFor();
        await page.getByRole('radiogroup', { name: 'Order' }).getByText('Odd one out', { exact: true }).click();
        await page.waitForURL(/sort=outlier/);
        const firstLink = table.getByRole('row').nth(1).getByRole('link');
        await page.waitForFunction(
          () => globalThis.document.querySelector('table[aria-label^="Worklist"] tbody tr a')?.textContent === 'Odd lesion',
          null,
          { timeout: 15_000 },
        );
        check((await table.getByLabel('Not compared').count()) === 2, 'the two-lesion patient\'s lesions should be "not compared"');
        await shot(page, '19-worklist-odd-one-out');
        await firstLink.click();
        await page.getByRole('heading', { name: 'Odd lesion', level: 1 }).waitFor();
        await page.getByRole('link', { name: 'Next lesion' }).click();
        await page.waitForURL(/sort=outlier/);
        await page.getByRole('heading', { name: /^Naevus \d$/, level: 1 }).waitFor();
      },
    ],
  ]);
}

// ---- Firebase flow --------------------------------------------------------------------------------------------
if (flows.includes('firebase')) {
  const fbPage = await newPage();
  const bearerSeen = [];
  fbPage.on('request', (request) => {
    if (request.url().includes('/api/v1/patients/')) bearerSeen.push(request.headers().authorization ?? '');
  });
  const firebaseSignIn = async (email, password) => {
    await openSignIn(fbPage);
    const tab = fbPage.getByRole('tab', { name: 'Clinic account' });
    check(
      await tab.isVisible().catch(() => false),
      'no "Clinic account" sign-in: run the portal with FIREBASE_PROJECT_ID and FIREBASE_WEB_API_KEY',
    );
    await tab.click();
    // Both tabs' forms stay mounted, so each has a "Password" field: fill the one on screen.
    await fbPage.getByLabel('Email').fill(email);
    await fbPage.getByLabel('Password').filter({ visible: true }).fill(password);
    await fbPage.getByRole('button', { name: 'Sign in with clinic account' }).click();
  };
  const steps = [
    [
      'signs in through the Firebase Auth emulator and calls the API with a bearer token',
      async () => {
        await firebaseSignIn(env.E2E_FIREBASE_EMAIL, env.E2E_FIREBASE_PASSWORD);
        await fbPage.waitForURL(/\/patients$/);
        await fbPage.getByRole('heading', { name: 'Patients' }).waitFor();
        await fbPage.getByText('Loading patients…').waitFor({ state: 'detached' });
        if (env.E2E_FIREBASE_PATIENT) await fbPage.getByRole('link', { name: env.E2E_FIREBASE_PATIENT }).waitFor();
        await fbPage.getByRole('banner').getByText('Checking the active model…').waitFor({ state: 'detached' });
        // Shown by e-mail: the generated fb-<uid> username means nothing to the clinician.
        await fbPage.getByRole('button', { name: 'Account menu' }).getByText(env.E2E_FIREBASE_EMAIL).waitFor();
        check(bearerSeen.some((h) => h.startsWith('Bearer ')), 'the patients request carried no bearer token');
        await shot(fbPage, '11-firebase-patients');
      },
    ],
    [
      'signs out of Firebase',
      async () => {
        await fbPage.getByRole('button', { name: 'Account menu' }).click();
        await fbPage.getByRole('menuitem', { name: 'Sign out' }).click();
        await fbPage.getByText('You have signed out.').waitFor();
        await fbPage.goto('/patients');
        await fbPage.waitForURL(/\/sign-in\?/);
      },
    ],
  ];
  if (env.E2E_FIREBASE_UNINVITED_EMAIL && env.E2E_FIREBASE_UNINVITED_PASSWORD) {
    steps.push([
      'tells a valid but uninvited Firebase user that no clinic has invited them',
      async () => {
        await firebaseSignIn(env.E2E_FIREBASE_UNINVITED_EMAIL, env.E2E_FIREBASE_UNINVITED_PASSWORD);
        await fbPage.getByText(/no clinic has invited it to Naevus yet/).waitFor();
        await shot(fbPage, '12-firebase-not-invited');
      },
    ]);
  }
  await flow('clinician flow (Firebase sign-in)', steps);
}

if (flows.includes('oidc')) {
  /** Through the provider's own pages: its sign-in form, then its consent page. */
  const viaProvider = async (page, username) => {
    await openSignIn(page);
    await page.getByRole('link', { name: `Sign in with ${env.E2E_OIDC_PROVIDER}` }).click();
    await page.waitForURL((url) => !url.toString().startsWith(base));
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(env.E2E_OIDC_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Authorize' }).click();
  };
  const oidcPage = await newPage();
  await flow('clinician flow (OpenID Connect sign-in)', [
    [
      'signs in through the provider and reads their clinic\'s patients',
      async () => {
        await openSignIn(oidcPage);
        await shot(oidcPage, '13-oidc-sign-in');
        await viaProvider(oidcPage, env.E2E_OIDC_USERNAME);
        await oidcPage.waitForURL(/\/patients$/);
        await oidcPage.getByText(env.E2E_OIDC_PATIENT).first().waitFor();
        await shot(oidcPage, '14-oidc-patients');
      },
    ],
    [
      'signs out of the portal and of the provider',
      async () => {
        await oidcPage.getByRole('button', { name: /^Account menu/ }).click();
        await oidcPage.getByRole('menuitem', { name: 'Sign out' }).click();
        await oidcPage.waitForURL(/\/sign-in\?reason=signed_out/);
        // The provider's session ended too: signing in again asks for the password.
        await oidcPage.getByRole('link', { name: `Sign in with ${env.E2E_OIDC_PROVIDER}` }).click();
        await oidcPage.waitForURL((url) => !url.toString().startsWith(base));
        await oidcPage.getByLabel('Password').waitFor();
        // The provider's page, not one of ours: a screenshot, no accessibility audit.
        await oidcPage.screenshot({ path: resolve(resultsDir, '15-oidc-provider-sign-in-again.png'), fullPage: true });
      },
    ],
    [
      'an identity no clinic invited is refused and told why',
      async () => {
        const stranger = await newPage();
        try {
          await viaProvider(stranger, env.E2E_OIDC_UNINVITED_USERNAME);
          await stranger.waitForURL(/\/sign-in\?reason=not_invited/);
          await stranger.getByRole('status').getByText(/invit/i).waitFor();
          check(!(await stranger.getByRole('button', { name: /^Account menu/ }).isVisible()), 'an uninvited identity got a session');
          await shot(stranger, '16-oidc-not-invited');
        } finally {
          await stranger.context().close();
        }
      },
    ],
  ]);
}

await flow('page health', [
  [
    'raises no uncaught errors in the page',
    async () => check(pageErrors.length === 0, `uncaught page errors:\n${pageErrors.join('\n')}`),
  ],
  [
    'has no serious or critical accessibility violations (axe-core, WCAG 2.1 A/AA) on any screen',
    async () => {
      writeFileSync(resolve(resultsDir, 'axe.json'), JSON.stringify(axeFindings, null, 2));
      check(auditedScreens.length > 0, 'no screen was checked with axe');
      console.log(`  axe: ${auditedScreens.length} screen(s) checked: ${auditedScreens.join(', ')}`);
      for (const f of axeFindings) console.log(`  axe: ${f.screen}: ${f.id} (${f.impact}, ${f.count}×)`);
      const blocking = axeFindings.filter((f) => BLOCKING.has(f.impact));
      check(
        blocking.length === 0,
        `axe found ${blocking.length} serious/critical violation(s):\n` +
          blocking.map((f) => `${f.screen}: ${f.id} (${f.impact}, ${f.count}×) ${f.help} — ${f.targets.join(', ')}`).join('\n'),
      );
    },
  ],
]);

await browser.close();
const skipped = results.skipped ? `, ${results.skipped} skipped` : '';
console.log(`${results.passed} passed, ${results.failed} failed${skipped}`);
process.exit(results.failed > 0 ? 1 : 0);
