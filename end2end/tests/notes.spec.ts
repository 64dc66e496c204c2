// Notes: edit, cancel, delete, and an open editor that survives the rest of the list changing
// (the list re-renders its rows on every change; the drafts live outside them).
import { expect, test, type Page } from '@playwright/test';
import { createUser, loginUI, PASSWORD } from './helpers';

async function addNote(page: Page, title: string, body: string) {
  const form = page.getByRole('form', { name: 'New note' });
  await form.getByLabel('Title').fill(title);
  await form.getByLabel('Text').fill(body);
  await form.getByRole('button', { name: 'Add note' }).click();
  await expect(page.locator('.note-title', { hasText: title })).toBeVisible();
}

function noteTitled(page: Page, title: string) {
  return page.getByTestId('note').filter({ has: page.locator('.note-title', { hasText: title }) });
}

test('edit, cancel and delete notes; an open editor keeps its text while the list changes', async ({ page, request }) => {
  const username = await createUser(request, 'notes');
  await loginUI(page, username);
  await addNote(page, 'first', 'one');
  await addNote(page, 'second', 'two');

  // Open an editor and type, then change the list around it without saving.
  await noteTitled(page, 'first').getByRole('button', { name: 'Edit' }).click();
  const editor = page.getByRole('form', { name: 'Edit note' });
  await editor.getByLabel('Title').fill('first, edited');
  await editor.getByLabel('Text').fill('draft text');
  await addNote(page, 'third', 'three');
  await expect(editor.getByLabel('Title')).toHaveValue('first, edited');
  await expect(editor.getByLabel('Text')).toHaveValue('draft text');

  await editor.getByRole('button', { name: 'Save' }).click();
  await expect(editor).toHaveCount(0);
  await expect(noteTitled(page, 'first, edited').getByTestId('note-body')).toHaveText('draft text');

  // Cancel throws the draft away: reopening shows the saved text.
  await noteTitled(page, 'second').getByRole('button', { name: 'Edit' }).click();
  await editor.getByLabel('Title').fill('abandoned');
  await editor.getByRole('button', { name: 'Cancel' }).click();
  await expect(noteTitled(page, 'second')).toBeVisible();
  await noteTitled(page, 'second').getByRole('button', { name: 'Edit' }).click();
  await expect(editor.getByLabel('Title')).toHaveValue('second');
  await editor.getByRole('button', { name: 'Cancel' }).click();

  // Delete asks first; declining keeps the note, accepting removes it.
  page.once('dialog', (d) => d.dismiss());
  await noteTitled(page, 'third').getByRole('button', { name: 'Delete' }).click();
  await expect(noteTitled(page, 'third')).toBeVisible();
  page.once('dialog', (d) => d.accept());
  await noteTitled(page, 'third').getByRole('button', { name: 'Delete' }).click();
  await expect(noteTitled(page, 'third')).toHaveCount(0);
  await expect(page.getByTestId('notes-error')).toBeEmpty();

  // What the server kept, after a reload.
  await page.reload();
  await expect(page.getByTestId('note')).toHaveCount(2);
  await expect(page.locator('.note-title')).toHaveText(['first, edited', 'second']);
});

test('two tabs edit one note: the later save is refused and shown as a conflict, nothing typed is lost', async ({ browser, request }) => {
  const username = await createUser(request, 'conflict');
  const context = await browser.newContext();
  const a = await context.newPage();
  await loginUI(a, username);
  await addNote(a, 'Shared title', 'first text');
  const b = await context.newPage();
  await b.goto('/notes');
  await expect(noteTitled(b, 'Shared title')).toBeVisible();

  // Both tabs open the editor on the same version; A saves first.
  await noteTitled(a, 'Shared title').getByRole('button', { name: 'Edit' }).click();
  await noteTitled(b, 'Shared title').getByRole('button', { name: 'Edit' }).click();
  const editorA = a.getByRole('form', { name: 'Edit note' });
  const editorB = b.getByRole('form', { name: 'Edit note' });
  await editorA.getByLabel('Title').fill('Shared title from A');
  await editorA.getByRole('button', { name: 'Save' }).click();
  await expect(noteTitled(a, 'Shared title from A')).toBeVisible();

  // B's save would overwrite A's: refused, B's text stays, A's version is shown beside it.
  await editorB.getByLabel('Title').fill('Shared title from B');
  await editorB.getByLabel('Text').fill('text from B');
  await editorB.getByRole('button', { name: 'Save' }).click();
  const conflict = b.getByTestId('conflict');
  await expect(conflict).toContainText('Shared title from A');
  await expect(b.getByTestId('note').getByRole('alert')).toContainText('changed in another tab');
  await expect(editorB.getByLabel('Title')).toHaveValue('Shared title from B');
  await expect(editorB.getByLabel('Text')).toHaveValue('text from B');
  let onServer = await (await request.post('/api/auth/login', { data: { username, password: PASSWORD } })).json();
  let notes = await (await request.get('/api/notes', { headers: { authorization: `Bearer ${onServer.access_token}` } })).json();
  expect(notes.map((n: { title: string }) => n.title)).toEqual(['Shared title from A']);

  // Keeping mine, having seen theirs: the save now replaces the version B was shown.
  await editorB.getByRole('button', { name: 'Save' }).click();
  await expect(noteTitled(b, 'Shared title from B')).toBeVisible();
  await expect(conflict).toHaveCount(0);
  notes = await (await request.get('/api/notes', { headers: { authorization: `Bearer ${onServer.access_token}` } })).json();
  expect(notes.map((n: { title: string }) => n.title)).toEqual(['Shared title from B']);

  // A, still showing its own save, edits again: conflict; taking theirs shows B's version.
  await noteTitled(a, 'Shared title from A').getByRole('button', { name: 'Edit' }).click();
  await editorA.getByLabel('Text').fill('A again');
  await editorA.getByRole('button', { name: 'Save' }).click();
  await a.getByTestId('conflict').getByRole('button', { name: 'Take theirs' }).click();
  await expect(noteTitled(a, 'Shared title from B').getByTestId('note-body')).toHaveText('text from B');
  await expect(editorA).toHaveCount(0);

  // A note deleted in one tab, then deleted in the other: it simply leaves the list.
  b.once('dialog', (d) => d.accept());
  await noteTitled(b, 'Shared title from B').getByRole('button', { name: 'Delete' }).click();
  await expect(b.getByTestId('note')).toHaveCount(0);
  a.once('dialog', (d) => d.accept());
  await noteTitled(a, 'Shared title from B').getByRole('button', { name: 'Delete' }).click();
  await expect(a.getByTestId('note')).toHaveCount(0);
  await expect(a.getByRole('alert').filter({ hasText: /\S/ })).toHaveCount(0);
  await context.close();
});

test('keyboard focus follows the work: into the form on Edit, back to Edit after Save and Cancel', async ({ page, request }) => {
  const username = await createUser(request, 'focus');
  await loginUI(page, username);
  await addNote(page, 'focus me', 'body');
  const edit = noteTitled(page, 'focus me').getByRole('button', { name: 'Edit' });
  await edit.focus();
  await page.keyboard.press('Enter');
  const editor = page.getByRole('form', { name: 'Edit note' });
  await expect(editor.getByLabel('Title')).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(editor.getByLabel('Text')).toBeFocused();
  await editor.getByRole('button', { name: 'Cancel' }).focus();
  await page.keyboard.press('Enter');
  await expect(noteTitled(page, 'focus me').getByRole('button', { name: 'Edit' })).toBeFocused();
  await page.keyboard.press('Enter');
  await editor.getByLabel('Title').fill('focus me, saved');
  await page.keyboard.press('Enter');
  await expect(noteTitled(page, 'focus me, saved').getByRole('button', { name: 'Edit' })).toBeFocused();
  await expect(page).toHaveTitle('Your notes · Cloakroom');
});

test('the theme survives logging out, and follows the system when none was chosen', async ({ browser, request }) => {
  const username = await createUser(request, 'theme');
  const dark = await browser.newContext({ colorScheme: 'dark' });
  const page = await dark.newPage();
  await page.goto('/login');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  await dark.close();

  const light = await browser.newContext({ colorScheme: 'light' });
  const p = await light.newPage();
  await loginUI(p, username);
  await expect(p.locator('html')).toHaveAttribute('data-theme', 'light');
  await p.getByRole('button', { name: 'Dark theme' }).click();
  await expect(p.locator('html')).toHaveAttribute('data-theme', 'dark');
  await p.getByTestId('logout').click();
  await expect(p).toHaveURL(/\/login/);
  // Clear-Site-Data emptied storage (nothing of the session survives); the choice was put back.
  await p.reload();
  await expect(p.locator('html')).toHaveAttribute('data-theme', 'dark');
  expect(Object.keys(await p.evaluate(() => ({ ...localStorage })))).toContain('cloakroom.theme');
  await light.close();
});

test('one long word in a title wraps instead of widening the page; the editor looks like the create form; Cancel clears the error', async ({ page, request }) => {
  const username = await createUser(request, 'layout');
  await loginUI(page, username);
  const long = 'x'.repeat(200);
  await addNote(page, long, 'body');
  await addNote(page, 'short', 'other');
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth), `at ${width} px`).toBeLessThanOrEqual(width);
    await expect(noteTitled(page, 'short')).toBeInViewport();
  }
  // The editor's fields are not bold (the labels are), like the create form's.
  await noteTitled(page, 'short').getByRole('button', { name: 'Edit' }).click();
  const editor = page.getByRole('form', { name: 'Edit note' });
  expect(await editor.getByLabel('Title').evaluate((el) => getComputedStyle(el).fontWeight)).toBe('400');
  // A failed save's message goes with Cancel.
  await editor.getByLabel('Title').fill('   ');
  await editor.getByRole('button', { name: 'Save' }).click();
  const error = page.getByTestId('note').first().getByRole('alert');
  await expect(error).toContainText('Title must not be empty.');
  await editor.getByRole('button', { name: 'Cancel' }).click();
  await expect(error).toBeEmpty();
});
