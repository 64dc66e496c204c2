//! A person-readable name for a session's device, from its `User-Agent`: "Chrome 156 on
//! Linux", "Safari 18 on iOS", "curl 8.5". Only the browser family, its major version and the
//! operating system: enough to recognise one's own devices on the sessions page, never a
//! fingerprint. The full string stays available beside it.

/// "Unknown device" for a missing or empty header.
pub fn describe(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.map(str::trim).filter(|s| !s.is_empty()) else {
        return "Unknown device".to_owned();
    };
    let browser = browser(ua);
    let os = os(ua);
    match (browser, os) {
        (Some(b), Some(os)) => format!("{b} on {os}"),
        (Some(b), None) => b,
        (None, Some(os)) => format!("A browser on {os}"),
        (None, None) => program(ua).unwrap_or_else(|| "Unknown device".to_owned()),
    }
}

/// The major version after `token/` (`Chrome/156.0.1.2` → `156`).
fn major(ua: &str, token: &str) -> Option<String> {
    let rest = &ua[ua.find(token)? + token.len()..];
    // Five digits at most: a crafted header must not make the name long.
    let v: String = rest
        .chars()
        .take_while(char::is_ascii_digit)
        .take(5)
        .collect();
    (!v.is_empty()).then_some(v)
}

fn browser(ua: &str) -> Option<String> {
    // Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari", headless says both.
    let named = |name: &str, token: &str| major(ua, token).map(|v| format!("{name} {v}"));
    named("Edge", "Edg/")
        .or_else(|| named("Opera", "OPR/"))
        .or_else(|| named("Firefox", "Firefox/"))
        .or_else(|| named("Chrome (headless)", "HeadlessChrome/"))
        .or_else(|| named("Chrome", "CriOS/"))
        .or_else(|| named("Chrome", "Chrome/"))
        .or_else(|| named("Chromium", "Chromium/"))
        .or_else(|| {
            ua.contains("Safari/")
                .then(|| named("Safari", "Version/"))
                .flatten()
        })
}

fn os(ua: &str) -> Option<&'static str> {
    let has = |s: &str| ua.contains(s);
    Some(if has("iPhone") || has("iPod") {
        "iOS"
    } else if has("iPad") {
        "iPadOS"
    } else if has("Android") {
        "Android"
    } else if has("CrOS") {
        "ChromeOS"
    } else if has("Windows") {
        "Windows"
    } else if has("Mac OS X") || has("Macintosh") {
        "macOS"
    } else if has("Linux") || has("X11") {
        "Linux"
    } else {
        return None;
    })
}

/// A non-browser client: its first product token, with the major.minor version
/// (`curl/8.5.0` → `curl 8.5`).
fn program(ua: &str) -> Option<String> {
    let first = ua.split_whitespace().next()?;
    let (name, version) = first.split_once('/').unwrap_or((first, ""));
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .take(32)
        .collect();
    if name.is_empty() {
        return None;
    }
    let version: String = version
        .split('.')
        .take(2)
        .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(".");
    Some(if version.is_empty() {
        name
    } else {
        format!("{name} {version}")
    })
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn names_the_common_browsers() {
        for (ua, want) in [
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36", "Chrome 156 on Linux"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86", "Edge 131 on Windows"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox 133 on macOS"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari 18 on iOS"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36", "Chrome 131 on Android"),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36", "Chrome (headless) 156 on Linux"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0", "Opera 115 on Windows"),
        ] {
            assert_eq!(describe(Some(ua)), want, "{ua}");
        }
    }

    #[test]
    fn programs_and_junk_stay_short_and_plain() {
        assert_eq!(describe(Some("curl/8.5.0")), "curl 8.5");
        assert_eq!(
            describe(Some("python-requests/2.32.3")),
            "python-requests 2.32"
        );
        assert_eq!(describe(None), "Unknown device");
        assert_eq!(describe(Some("   ")), "Unknown device");
        assert_eq!(describe(Some("<script>/1")), "script 1");
        let long = "x".repeat(5000);
        assert!(describe(Some(&long)).len() <= 32);
        let crafted = format!("Mozilla/5.0 (X11; Linux) Chrome/{}", "9".repeat(240));
        assert_eq!(describe(Some(&crafted)), "Chrome 99999 on Linux");
    }
}
