//! The docs name the test behind each claim; a name that no test carries is a claim without a
//! test. Every backticked test name in docs/*.md and README.md must be a `#[test]` or
//! `#[tokio::test]` function of this repository, in the file its module path names, and every
//! `*.spec.ts` named must exist in end2end/tests.
//!
//! A citation is recognised by its shape: a snake_case name of at least four words (the project
//! names tests as sentences) after a module path (`faults::a_full_...`), or alone right after
//! the word "test" (`unit test `budgets_survive_...``). Shorter backticked paths
//! (`store::fault`, `sessions::end_all`) are code references, and bare names elsewhere are reason
//! codes or settings (`retry_after_lost_answer`), not tests.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(file, test function name)` for every test function under server/ and app/.
fn tests() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for dir in ["server/src", "server/tests", "app/src", "api-types/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    let mut found = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let mut is_test = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with("#[test]") || line.starts_with("#[tokio::test") {
                is_test = true;
                continue;
            }
            if is_test && (line.starts_with("async fn ") || line.starts_with("fn ")) {
                let name = line
                    .trim_start_matches("async ")
                    .trim_start_matches("fn ")
                    .split(['(', '<'])
                    .next()
                    .unwrap()
                    .to_owned();
                found.push((file.clone(), name));
            }
            if !line.starts_with("#[") && !line.is_empty() && !line.starts_with("//") {
                is_test = false;
            }
        }
    }
    found
}

fn looks_like_a_test(name: &str) -> bool {
    name.split('_').count() >= 4
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Every backticked span of a markdown text, with the 40 bytes of text before it and the text
/// after it up to the next backtick.
fn code_spans(text: &str) -> Vec<(String, String, String)> {
    let parts: Vec<&str> = text.split('`').collect();
    (1..parts.len())
        .step_by(2)
        .map(|i| {
            let before = parts[i - 1];
            // The last 40 bytes, moved forward to a character boundary (a multi-byte character
            // may straddle the cut).
            let mut from = before.len().saturating_sub(40);
            while !before.is_char_boundary(from) {
                from += 1;
            }
            let tail = &before[from..];
            let after = parts.get(i + 1).copied().unwrap_or("");
            (
                parts[i].trim().to_owned(),
                tail.to_lowercase(),
                after.to_owned(),
            )
        })
        .collect()
}

/// Runs of whitespace as one space: the docs wrap their lines.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The title a doc quotes right after naming a spec (`x.spec.ts`, "title" or `x.spec.ts`:
/// "title"), without a closing ellipsis.
fn quoted_title(after: &str) -> Option<String> {
    let rest = after.trim_start().strip_prefix([',', ':'])?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let title = squash(&rest[..rest.find('"')?]);
    Some(title.trim_end_matches(['…', '.']).trim_end().to_owned())
}

/// Whether a Playwright spec file has a test whose title starts with `cited` (quotes unescaped,
/// whitespace squashed): the docs may shorten a long title.
fn spec_has_title(spec: &str, cited: &str) -> bool {
    let code = squash(&spec.replace("\\'", "'"));
    ["test('", "test(\"", "test(`"].iter().any(|open| {
        code.match_indices(open)
            .any(|(at, _)| code[at + open.len()..].starts_with(cited))
    })
}

#[test]
fn docs_and_readme_name_only_tests_that_exist() {
    let tests = tests();
    let mut docs: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.push(root().join("README.md"));
    let mut missing = BTreeSet::new();
    let mut named = 0;
    for doc in &docs {
        let text = fs::read_to_string(doc).unwrap();
        for (span, before, after) in code_spans(&text) {
            // A span may list several: `a::b`, `c::d` are separate backticks already; a span
            // with spaces is prose or a command.
            if span.contains(char::is_whitespace) {
                continue;
            }
            if let Some(spec) = span.strip_suffix(".spec.ts") {
                let file = Path::new(spec)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                named += 1;
                let path = root().join("end2end/tests").join(format!("{file}.spec.ts"));
                match fs::read_to_string(&path) {
                    Err(_) => {
                        missing.insert(format!("{}: {span}", doc.display()));
                    }
                    Ok(spec) => {
                        if let Some(title) = quoted_title(&after) {
                            if !spec_has_title(&spec, &title) {
                                missing.insert(format!("{}: {span} \"{title}\"", doc.display()));
                            }
                        }
                    }
                }
                continue;
            }
            let mut parts: Vec<&str> = span.split("::").collect();
            let name = parts.pop().unwrap();
            if !looks_like_a_test(name) || (parts.is_empty() && !before.contains("test")) {
                continue;
            }
            named += 1;
            // `pages::login::tests::name`: the inline test module of pages/login.rs.
            let module = parts.iter().rev().copied().find(|m| *m != "tests");
            let exists = tests.iter().any(|(file, test)| {
                test == name
                    && module.is_none_or(|m| {
                        file.file_stem().is_some_and(|s| s == m)
                            || (file.file_stem().is_some_and(|s| s == "mod")
                                && file
                                    .parent()
                                    .and_then(Path::file_name)
                                    .is_some_and(|d| d == m))
                            // `api_types::tests::name`: a crate root's (api-types/src/lib.rs).
                            || (file.file_stem().is_some_and(|s| s == "lib")
                                && file
                                    .parent()
                                    .and_then(Path::parent)
                                    .and_then(Path::file_name)
                                    .is_some_and(|d| d.to_string_lossy().replace('-', "_") == m))
                    })
            });
            if !exists {
                missing.insert(format!("{}: {span}", doc.display()));
            }
        }
    }
    assert!(named > 30, "the docs name their tests ({named} found)");
    assert!(
        missing.is_empty(),
        "the docs name tests that do not exist (or not in the module named):\n{}",
        missing.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_check_recognises_test_names_and_finds_tests() {
    assert!(looks_like_a_test("a_full_database_answers_507"));
    assert!(!looks_like_a_test("end_all"));
    assert!(!looks_like_a_test("Settings_from_env_now_ok"));
    let tests = tests();
    assert!(tests
        .iter()
        .any(|(_, t)| t == "the_check_recognises_test_names_and_finds_tests"));
    assert!(tests
        .iter()
        .any(|(f, t)| t == "every_bent_proof_is_refused" && f.ends_with("dpop.rs")));
    assert_eq!(
        quoted_title(", \"a long\n  title…\" proves it").as_deref(),
        Some("a long title")
    );
    assert_eq!(quoted_title(" runs all five"), None);
    // A multi-byte character where the 40-byte look-back cuts: no panic, the span is read.
    let text = format!("x{}`a::b_c_d_e`", "é".repeat(30));
    assert_eq!(code_spans(&text)[0].0, "a::b_c_d_e");
    let spec = "test('it\\'s a\n  long title', async () => {})";
    assert!(spec_has_title(spec, "it's a long"));
    assert!(!spec_has_title(spec, "it's a short"));
}
