//! Notes: list, create, edit, delete. Bodies are rendered as text, never as HTML.

use api_types::{Note, NoteInput, NOTE_BODY_MAX_BYTES, NOTE_TITLE_MAX_CHARS};
use leptos::prelude::*;

use crate::{
    api::{self, Method},
    auth::use_auth,
    components::fetch::{Fetch, FetchStatus},
};

/// Open editors' text (title, body), by note id; a few entries at most, so a Vec. The list
/// re-renders every row whenever it changes: a plain list, not a keyed `<For>`, whose keyed
/// diffing costs more of the size budget than the list is worth (`make size`). Keeping drafts
/// here, outside the rows, is what makes that lossless: a note added, saved or deleted
/// elsewhere on the page rebuilds an open editor with what was typed in it.
type Drafts = StoredValue<Vec<(String, (String, String))>>;

/// Drops a note's draft: its editor closed, or the note was saved or deleted.
fn forget_draft(drafts: Drafts, id: &str) {
    drafts.update_value(|d| d.retain(|(k, _)| k != id));
}

fn when(rfc3339: &str) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(rfc3339));
    if d.get_time().is_nan() {
        return rfc3339.to_owned();
    }
    d.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED)
        .into()
}

#[component]
pub fn NotesPage() -> impl IntoView {
    let auth = use_auth();
    let notes = RwSignal::new(Vec::<Note>::new());
    let fetch = Fetch::default();
    let error = RwSignal::new(None::<String>);
    let title = RwSignal::new(String::new());
    let body = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let drafts: Drafts = StoredValue::new(Vec::new());

    fetch.load(auth, "/api/notes", notes);

    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = NoteInput {
            title: title.get_untracked(),
            body: body.get_untracked(),
        };
        if input.title.trim().is_empty() {
            error.set(Some("Give the note a title.".into()));
            return;
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::call::<Note>(&auth, Method::Post, "/api/notes", Some(&input)).await {
                Ok(n) => {
                    notes.update(|v| v.insert(0, n));
                    // Cleared only on success: a failed save keeps what was typed.
                    title.set(String::new());
                    body.set(String::new());
                    error.set(None);
                }
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };

    view! {
        <section class="card">
            <h1>"Your notes"</h1>
            <form class="note-form" on:submit=create aria-label="New note">
                <label for="note-title">"Title"</label>
                <input id="note-title" maxlength=NOTE_TITLE_MAX_CHARS.to_string() bind:value=title/>
                <label for="note-body">"Text"</label>
                <textarea id="note-body" rows="4" bind:value=body></textarea>
                <p class="hint">{format!("Plain text, up to {} KiB.", NOTE_BODY_MAX_BYTES / 1024)}</p>
                <button type="submit" disabled=move || busy.get()>"Add note"</button>
            </form>
            <div class="error" role="alert" aria-live="assertive" data-testid="notes-error">{move || error.get()}</div>
        </section>
        <section aria-label="Notes list" aria-busy=move || fetch.pending().to_string()>
            <FetchStatus fetch=fetch/>
            <Show when=move || fetch.ok() && notes.with(Vec::is_empty)>
                <p class="empty" data-testid="notes-empty">"No notes yet. Whatever you write stays yours: other users can't even tell it exists."</p>
            </Show>
            <ul class="notes" data-testid="notes-list">
                {move || notes.get().into_iter().map(|note| view! { <NoteItem note=note notes=notes drafts=drafts/> }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn NoteItem(note: Note, notes: RwSignal<Vec<Note>>, drafts: Drafts) -> impl IntoView {
    let auth = use_auth();
    let id = note.id.clone();
    let draft = drafts.with_value(|d| d.iter().find(|(k, _)| *k == id).map(|(_, v)| v.clone()));
    let editing = RwSignal::new(draft.is_some());
    let (t, b) = draft.unwrap_or_else(|| (note.title.clone(), note.body.clone()));
    let title = RwSignal::new(t);
    let body = RwSignal::new(b);
    let error = RwSignal::new(None::<String>);
    // Mirror the open editor into the page's drafts; closing it (cancel, save) forgets it.
    let draft_id = id.clone();
    Effect::new(move || {
        let id = draft_id.clone();
        if editing.get() {
            let text = (title.get(), body.get());
            drafts.update_value(|d| match d.iter_mut().find(|(k, _)| *k == id) {
                Some((_, v)) => *v = text,
                None => d.push((id, text)),
            });
        } else {
            forget_draft(drafts, &id);
        }
    });
    let id_save = id.clone();
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = NoteInput {
            title: title.get_untracked(),
            body: body.get_untracked(),
        };
        let id = id_save.clone();
        leptos::task::spawn_local(async move {
            match api::call::<Note>(
                &auth,
                Method::Put,
                &format!("/api/notes/{id}"),
                Some(&input),
            )
            .await
            {
                Ok(n) => {
                    forget_draft(drafts, &n.id);
                    notes.update(|v| {
                        v.retain(|x| x.id != n.id);
                        v.insert(0, n);
                    });
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let remove = move |_| {
        let id = id.clone();
        let ok = window()
            .confirm_with_message("Delete this note?")
            .unwrap_or(false);
        if !ok {
            return;
        }
        leptos::task::spawn_local(async move {
            match api::send(&auth, Method::Delete, &format!("/api/notes/{id}"), &[]).await {
                Ok(()) => {
                    forget_draft(drafts, &id);
                    notes.update(|v| v.retain(|x| x.id != id));
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let Note {
        title: shown_title,
        body: shown_body,
        updated_at,
        ..
    } = note;
    let saved = StoredValue::new((shown_title.clone(), shown_body.clone()));
    view! {
        <li class="note" data-testid="note">
            <Show
                when=move || editing.get()
                fallback={
                    let (t, b, u) = (shown_title.clone(), shown_body.clone(), when(&updated_at));
                    move || view! {
                        <h2 class="note-title">{t.clone()}</h2>
                        <p class="note-body" data-testid="note-body">{b.clone()}</p>
                        <p class="meta">"Updated " {u.clone()}</p>
                        <div class="actions">
                            <button class="ghost" on:click=move |_| editing.set(true)>"Edit"</button>
                        </div>
                    }
                }
            >
                <form on:submit=save.clone() aria-label="Edit note">
                    <label>"Title" <input bind:value=title/></label>
                    <label>"Text" <textarea rows="4" bind:value=body></textarea></label>
                    <div class="actions">
                        <button type="submit">"Save"</button>
                        <button type="button" class="ghost" on:click=move |_| {
                            // Cancel means the saved text again, not the abandoned draft.
                            saved.with_value(|(t, b)| {
                                title.set(t.clone());
                                body.set(b.clone());
                            });
                            error.set(None);
                            editing.set(false);
                        }>"Cancel"</button>
                    </div>
                </form>
            </Show>
            <div class="actions">
                <button class="danger ghost" on:click=remove.clone()>"Delete"</button>
            </div>
            <div class="error" role="alert">{move || error.get()}</div>
        </li>
    }
}
