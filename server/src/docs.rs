//! The threat model and the API reference as pages of the site: docs/security.md and docs/api.md,
//! rendered by pulldown-cmark once at start-up and served at `/docs/security` and `/docs/api`
//! (`/security.md`, the address the attack lab used to link, redirects). The markdown files are
//! the only source: they are compiled into the binary, so a page cannot drift from its file.
//!
//! The pages are plain HTML in the app's stylesheet, with no script, under the same CSP as every
//! other answer. So the renderer emits nothing that CSP would refuse or that could run: raw
//! HTML in the markdown is shown as text, and table alignment (which pulldown-cmark writes as a
//! `style` attribute) is dropped. Headings get GitHub's anchors (`### Lab step 3` is
//! `#lab-step-3`), so the links that work on GitHub work here, and the lab links to them.

use std::{collections::HashMap, path::Path, sync::Arc};

use axum::{
    body::Bytes,
    extract::Path as UrlPath,
    http::{header, HeaderValue},
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Extension, Router,
};
use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

use crate::{error::ApiError, state::AppState};

/// A page made from a markdown file.
pub struct Doc {
    /// The page's address under `/docs/`, and the file's name under docs/ without `.md`.
    pub slug: &'static str,
    /// The page's title (the tab's name; the page's own heading comes from the file).
    pub title: &'static str,
    pub markdown: &'static str,
}

/// Every docs page.
pub const DOCS: &[Doc] = &[
    Doc {
        slug: "security",
        title: "Security model",
        markdown: include_str!("../../docs/security.md"),
    },
    Doc {
        slug: "api",
        title: "HTTP API",
        markdown: include_str!("../../docs/api.md"),
    },
];

/// GitHub's anchor for a heading's text: lowercase, letters, digits, `-` and `_` kept, spaces
/// made `-`, everything else dropped (`Lab step 3` -> `lab-step-3`).
pub fn anchor(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// A link between the docs as the files write it (`api.md`, `docs/security.md#logs`) made a
/// link between the pages (`/docs/api`, `/docs/security#logs`); any other link as it is.
fn page_link(url: &str) -> Option<String> {
    let (path, fragment) = url.split_once('#').unwrap_or((url, ""));
    let name = path
        .strip_prefix("docs/")
        .unwrap_or(path)
        .strip_suffix(".md")?;
    DOCS.iter().find(|d| d.slug == name)?;
    Some(match fragment {
        "" => format!("/docs/{name}"),
        f => format!("/docs/{name}#{f}"),
    })
}

/// The body of a page: the markdown as HTML, with an `id` on every heading (numbered `-1`,
/// `-2` when a text repeats, as GitHub does).
pub fn render(markdown: &str) -> String {
    let events: Vec<Event> = Parser::new_ext(markdown, Options::ENABLE_TABLES).collect();
    let mut out = Vec::with_capacity(events.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut i = 0;
    while i < events.len() {
        match &events[i] {
            Event::Start(Tag::Heading { level, .. }) => {
                let level = *level;
                let end = events[i..]
                    .iter()
                    .position(|e| matches!(e, Event::End(TagEnd::Heading(_))))
                    .map_or(events.len(), |p| i + p);
                let text: String = events[i + 1..end]
                    .iter()
                    .filter_map(|e| match e {
                        Event::Text(t) | Event::Code(t) => Some(t.as_ref()),
                        _ => None,
                    })
                    .collect();
                let base = anchor(&text);
                let n = seen.entry(base.clone()).or_default();
                let id = if *n == 0 { base } else { format!("{base}-{n}") };
                *n += 1;
                out.push(Event::Start(Tag::Heading {
                    level,
                    id: Some(CowStr::from(id)),
                    classes: Vec::new(),
                    attrs: Vec::new(),
                }));
            }
            // `style="text-align: …"` would be refused by the CSP (and reported).
            Event::Start(Tag::Table(columns)) => out.push(Event::Start(Tag::Table(
                vec![pulldown_cmark::Alignment::None; columns.len()],
            ))),
            // The files are ours, but the pages run no markup from them: shown as written.
            Event::Html(h) | Event::InlineHtml(h) => out.push(Event::Text(h.clone())),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => out.push(Event::Start(Tag::Link {
                link_type: *link_type,
                dest_url: page_link(dest_url).map_or_else(|| dest_url.clone(), CowStr::from),
                title: title.clone(),
                id: id.clone(),
            })),
            e => out.push(e.clone()),
        }
        i += 1;
    }
    let mut body = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut body, out.into_iter());
    body
}

/// The stylesheet Trunk linked into dist/index.html (its name carries a content hash), so the
/// pages look like the app; none if the client is not built.
pub fn stylesheet(dist: &Path) -> Option<String> {
    let html = std::fs::read_to_string(dist.join("index.html")).ok()?;
    html.split("<link").find_map(|tag| {
        let tag = &tag[..tag.find('>')?];
        if !tag.contains("rel=\"stylesheet\"") {
            return None;
        }
        let href = tag.split("href=\"").nth(1)?;
        let href = &href[..href.find('"')?];
        // A path as Trunk writes it, or nothing: it goes into the page's markup as it is.
        href.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
            .then(|| href.to_owned())
    })
}

/// A whole page: the top bar of the app (plain links: there is no script here), the rendered
/// file, and nothing else.
pub fn page(doc: &Doc, stylesheet: Option<&str>) -> String {
    let css = stylesheet
        .map(|href| format!(r#"<link rel="stylesheet" href="{href}">"#))
        .unwrap_or_default();
    let nav: String = DOCS
        .iter()
        .map(|d| {
            let current = if d.slug == doc.slug {
                r#" aria-current="page""#
            } else {
                ""
            };
            format!(r#"<a href="/docs/{}"{current}>{}</a>"#, d.slug, d.title)
        })
        .collect();
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Cloakroom</title>
{css}
<link rel="icon" href="/public/favicon.svg" type="image/svg+xml">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="topbar"><nav aria-label="Main"><a class="brand" href="/notes">Cloakroom</a><a href="/inspector">Token inspector</a>{nav}</nav></header>
<main id="main" class="doc card">
{body}</main>
</body>
</html>
"##,
        title = doc.title,
        body = render(doc.markdown),
    )
}

/// The rendered pages, made once.
#[derive(Clone)]
pub struct Pages(Arc<HashMap<&'static str, Bytes>>);

impl Pages {
    pub fn new(dist: &Path) -> Self {
        let css = stylesheet(dist);
        Self(Arc::new(
            DOCS.iter()
                .map(|d| (d.slug, Bytes::from(page(d, css.as_deref()))))
                .collect(),
        ))
    }
}

async fn docs_page(UrlPath(name): UrlPath<String>, Extension(pages): Extension<Pages>) -> Response {
    match pages.0.get(name.as_str()) {
        Some(html) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            html.clone(),
        )
            .into_response(),
        None => ApiError::NotFound("no such page".into()).into_response(),
    }
}

/// The pages, the diagram they show, and the old address of the threat model.
pub fn router(dist: &Path) -> Router<AppState> {
    Router::new()
        .route("/docs/{name}", get(docs_page))
        .route(
            "/docs/credentials.svg",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "image/svg+xml")],
                    include_str!("../../docs/credentials.svg"),
                )
            }),
        )
        // The address the attack lab linked before the pages existed.
        .route(
            "/security.md",
            get(|| async { Redirect::permanent("/docs/security") }),
        )
        .layer(Extension(Pages::new(dist)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_githubs() {
        assert_eq!(anchor("Lab step 3"), "lab-step-3");
        assert_eq!(
            anchor("A crafted link (open redirect through ?next=)"),
            "a-crafted-link-open-redirect-through-next"
        );
        assert_eq!(anchor("DPoP (RFC 9449)"), "dpop-rfc-9449");
        assert_eq!(
            anchor("Out of scope / known limits"),
            "out-of-scope--known-limits"
        );
    }

    #[test]
    fn headings_tables_code_and_links_render_and_nothing_runs() {
        let html = render(
            "# Title\n\n## Logs\n\n## Logs\n\n### `code` here\n\n| a | b |\n|:--|--:|\n| `x::y` | 2 |\n\n\
             <script>alert(1)</script>\n\nA <b style=\"color:red\">tag</b>, [api](api.md#problem-types), \
             [deploy](deploy.md), [out](https://example.org/).\n",
        );
        assert!(html.contains(r#"<h1 id="title">Title</h1>"#), "{html}");
        assert!(html.contains(r#"<h2 id="logs">Logs</h2>"#), "{html}");
        assert!(html.contains(r#"<h2 id="logs-1">Logs</h2>"#), "{html}");
        assert!(
            html.contains(r#"<h3 id="code-here"><code>code</code> here</h3>"#),
            "{html}"
        );
        assert!(
            html.contains("<table>") && html.contains("<td><code>x::y</code></td>"),
            "{html}"
        );
        assert!(
            !html.contains("text-align"),
            "no inline style survives: {html}"
        );
        assert!(
            !html.contains("<script") && html.contains("&lt;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<b "), "{html}");
        assert!(html.contains(r#"href="/docs/api#problem-types""#), "{html}");
        assert!(html.contains(r#"href="deploy.md""#), "{html}");
        assert!(html.contains(r#"href="https://example.org/""#), "{html}");
    }

    /// Every `/docs/…#anchor` the client links to (the attack lab's "why?" links) is a heading
    /// of the page it names: renaming a heading in the markdown fails here, not in a reader's
    /// browser.
    #[test]
    fn every_anchor_the_app_links_to_is_a_heading_of_its_page() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../app/src");
        let mut files = vec![root];
        let mut links = Vec::new();
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (at, _) in text.match_indices("/docs/") {
                    let rest = &text[at + "/docs/".len()..];
                    let end = rest
                        .find(|c: char| !(c.is_alphanumeric() || "-_#.".contains(c)))
                        .unwrap_or(rest.len());
                    links.push(rest[..end].to_owned());
                }
                // The lab's anchors, kept in a table apart from the link they go into.
                for (at, _) in text.match_indices("\"lab-step-") {
                    let rest = &text[at + 1..];
                    links.push(format!("security#{}", &rest[..rest.find('"').unwrap()]));
                }
            }
        }
        let lab = links.iter().filter(|l| l.contains("#lab-step-")).count();
        assert_eq!(
            lab, 5,
            "the lab's five steps each link their section: {links:?}"
        );
        for link in &links {
            if link == "credentials.svg" {
                continue; // the diagram: served from docs/ by `router`, compiled in
            }
            let (page, fragment) = link.split_once('#').unwrap_or((link, ""));
            let doc = DOCS
                .iter()
                .find(|d| d.slug == page)
                .unwrap_or_else(|| panic!("the app links /docs/{page}, which is no page"));
            if !fragment.is_empty() {
                let html = render(doc.markdown);
                assert!(
                    html.contains(&format!(r#" id="{fragment}">"#)),
                    "/docs/{link}: no heading has that anchor in docs/{page}.md"
                );
            }
        }
    }
}
