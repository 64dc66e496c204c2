//! Notes: list, create, edit, delete. Bodies are rendered as text, never as HTML.

use api_types::{Note, NoteInput, NOTE_BODY_MAX_BYTES, NOTE_TITLE_MAX_CHARS};
use leptos::prelude::*;

use crate::{
    api::{self, Method},
    auth::use_auth,
    components::{
        fetch::{Fetch, FetchStatus},
        time::Time,
    },
};

/// Open editors' text (title, body), by note id; a few entries at most, so a Vec. The list
/// re-renders every row whenever it changes: a plain list, not a keyed `<For>`, whose keyed
/// diffing costs more of the size budget than the list is worth (`make size`). Keeping drafts
/// here, outside the rows, is what makes that lossless: a note added, saved or deleted
/// elsewhere on the page rebuilds an open editor with what was typed in it.
type Drafts = StoredValue<Vec<(String, (String, String))>>;
type FocusAfterSave = StoredValue<Option<String>>;

/// Drops a note's draft: its editor closed, or the note was saved or deleted.
fn forget_draft(drafts: Drafts, id: &str) {
    drafts.update_value(|d| d.retain(|(k, _)| k != id));
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
    // The note whose row takes the focus when it is next built (after its save rebuilt the list).
    let focus: FocusAfterSave = StoredValue::new(None);

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
            {move || (fetch.ok() && notes.with(Vec::is_empty)).then(|| view! {
                <p class="empty" data-testid="notes-empty">"No notes yet. Whatever you write stays yours: other users can't even tell it exists."</p>
            })}
            <ul class="notes" data-testid="notes-list">
                {move || notes.get().into_iter().map(|note| view! { <NoteItem note=note notes=notes drafts=drafts focus=focus/> }).collect_view()}
            </ul>
        </section>
    }
}

/// Moves keyboard focus to the element `id` once it is on the page (the next frame: the view
/// that makes it is built after the current event). Where a keyboard user's work moves, the
/// focus follows: into the form on Edit, back to the note's Edit button after Save or Cancel.
fn focus_soon(id: String) {
    request_animation_frame(move || {
        use wasm_bindgen::JsCast;
        if let Some(el) = document()
            .get_element_by_id(&id)
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    });
}

/// The `If-Match` value naming `version` (the note's ETag).
fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// One note, and its editor. Every write names the version it replaces (`If-Match`): when
/// another tab or device wrote the note since, the server refuses (412) and the editor shows
/// that other version beside the text typed here, which stays until the user chooses: save it
/// over the other version, copy it, or take the other version instead.
#[component]
fn NoteItem(
    note: Note,
    notes: RwSignal<Vec<Note>>,
    drafts: Drafts,
    focus: FocusAfterSave,
) -> impl IntoView {
    let auth = use_auth();
    let id = note.id.clone();
    let draft = drafts.with_value(|d| d.iter().find(|(k, _)| *k == id).map(|(_, v)| v.clone()));
    let editing = RwSignal::new(draft.is_some());
    let (t, b) = draft.unwrap_or_else(|| (note.title.clone(), note.body.clone()));
    let title = RwSignal::new(t);
    let body = RwSignal::new(b);
    let error = RwSignal::new(None::<String>);
    // After a 412, the other version: shown beside the typed text, and what the next write
    // replaces (until then, the version shown).
    let theirs = RwSignal::new(None::<Note>);
    let shown_version = note.version;
    let base =
        move || etag(theirs.with_untracked(|n| n.as_ref().map_or(shown_version, |n| n.version)));
    let (title_id, edit_id) = (format!("t{id}"), format!("e{id}"));
    if focus.with_value(|f| f.as_deref() == Some(id.as_str())) {
        focus.set_value(None);
        focus_soon(edit_id.clone());
    }
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
    let path = format!("/api/notes/{id}");
    // The other version, after a 412: shown beside the typed text, and the base of the next save.
    let path_theirs = path.clone();
    let load_theirs = move || {
        let path = path_theirs.clone();
        leptos::task::spawn_local(async move {
            if let Ok(n) = api::get_text(&auth, &path)
                .await
                .and_then(|t| api::parse::<Note>(&t))
            {
                theirs.set(Some(n));
            }
        });
    };
    let path_save = path.clone();
    let load = load_theirs.clone();
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = NoteInput {
            title: title.get_untracked(),
            body: body.get_untracked(),
        };
        let (path, load) = (path_save.clone(), load.clone());
        leptos::task::spawn_local(async move {
            let m = base();
            match api::call_with::<Note>(&auth, Method::Put, &path, &input, &[("If-Match", &m)]).await {
                Ok(n) => {
                    forget_draft(drafts, &n.id);
                    focus.set_value(Some(n.id.clone()));
                    notes.update(|v| {
                        v.retain(|x| x.id != n.id);
                        v.insert(0, n);
                    });
                }
                Err(e) if e.status == 412 => {
                    error.set(Some("This note was changed in another tab or on another device. Your text is still here, not saved: compare it with the other version below, then save yours over it, copy it, or take theirs.".into()));
                    load();
                }
                Err(e) if e.status == 404 => error.set(Some("This note was deleted in another tab or on another device. Your text is still here: copy it, or add it as a new note.".into())),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let path_remove = path;
    let remove = move |_| {
        let (id, path, load) = (id.clone(), path_remove.clone(), load_theirs.clone());
        let ok = window()
            .confirm_with_message("Delete this note?")
            .unwrap_or(false);
        if !ok {
            return;
        }
        leptos::task::spawn_local(async move {
            let m = base();
            match api::send(&auth, Method::Delete, &path, &[("If-Match", &m)]).await {
                Err(e) if e.status == 412 => {
                    error.set(Some("Not deleted: this note was changed in another tab or on another device. The other version is below; delete again if you still want it gone.".into()));
                    load();
                }
                // A 404 is gone already (another tab deleted it): what the user asked for is done.
                Err(e) if e.status != 404 => error.set(Some(e.message)),
                _ => {
                    forget_draft(drafts, &id);
                    notes.update(|v| v.retain(|x| x.id != id));
                }
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
                    let (t, b, u) = (shown_title.clone(), shown_body.clone(), updated_at.clone());
                    let (edit_id, title_id) = (edit_id.clone(), title_id.clone());
                    move || view! {
                        <h2 class="note-title">{t.clone()}</h2>
                        <p class="note-body" data-testid="note-body">{b.clone()}</p>
                        <p class="meta">"Updated " <Time at=u.clone()/></p>
                        <div class="actions">
                            <button class="ghost" id=edit_id.clone() on:click={
                                let title_id = title_id.clone();
                                move |_| {
                                    editing.set(true);
                                    focus_soon(title_id.clone());
                                }
                            }>"Edit"</button>
                        </div>
                    }
                }
            >
                <form on:submit=save.clone() aria-label="Edit note">
                    <label>"Title" <input id=title_id.clone() bind:value=title/></label>
                    <label>"Text" <textarea rows="4" bind:value=body></textarea></label>
                    <div class="actions">
                        <button type="submit">"Save"</button>
                        <button type="button" class="ghost" on:click={
                            let edit_id = edit_id.clone();
                            move |_| {
                            // Cancel means the saved text again, not the abandoned draft.
                            saved.with_value(|(t, b)| {
                                title.set(t.clone());
                                body.set(b.clone());
                            });
                            error.set(None);
                            theirs.set(None);
                            editing.set(false);
                            focus_soon(edit_id.clone());
                        }}>"Cancel"</button>
                    </div>
                </form>
            </Show>
            <div class="actions">
                <button class="danger ghost" on:click=remove.clone()>"Delete"</button>
            </div>
            <div class="error" role="alert">{move || error.get()}</div>
            {move || theirs.get().map(|n| view! {
                <div class="conflict" role="group" aria-label="The other version" data-testid="conflict">
                    <h3>"The other version"</h3>
                    <p class="note-title">{n.title.clone()}</p>
                    <p class="note-body">{n.body.clone()}</p>
                    <div class="actions">
                        <button type="button" class="ghost" on:click=move |_| {
                            let mine = format!("{}\n\n{}", title.get_untracked(), body.get_untracked());
                            let _ = window().navigator().clipboard().write_text(&mine);
                        }>"Copy my text"</button>
                        <button type="button" class="ghost" on:click={
                            let n = n.clone();
                            // The user's choice to drop their text: the row is built again
                            // from the other version, editor closed.
                            move |_| {
                                forget_draft(drafts, &n.id);
                                notes.update(|v| {
                                    if let Some(x) = v.iter_mut().find(|x| x.id == n.id) {
                                        *x = n.clone();
                                    }
                                });
                            }
                        }>"Take theirs"</button>
                    </div>
                </div>
            })}
        </li>
    }
}
