// Notes: edit, cancel, delete, and an open editor that survives the rest of the list changing
// (the list re-renders its rows on every change; the drafts live outside them).
import { expect, test, type Page } from '@playwright/test';
import { createUser, loginUI } from './helpers';

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
