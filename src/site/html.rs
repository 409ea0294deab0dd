//! The site's single page: the data as JSON in a `<script type="application/json">` block, and
//! the hand-written script and style that draw it (`assets/`), all inline so the file opens
//! from disk with no request. Pages are hash routes (`#/model/NAME`, `#/run`, `#/charts`), so
//! links work from `file://` too.

use super::data::Site;

const CSS: &str = include_str!("assets/site.css");
const JS: &str = include_str!("assets/site.js");

/// JSON that is safe inside a `<script>` element: `<`, `>` and `&` only ever occur inside JSON
/// strings, where their `\u` escapes mean the same, so no `</script>` or `<!--` can appear.
pub fn script_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .expect("site data serializes")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn render(site: &Site) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title} · parcours</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<header id=\"top\"></header>\n<main id=\"app\"><noscript>This site draws its pages with JavaScript; enable it to browse the project.</noscript></main>\n<script type=\"application/json\" id=\"site-data\">{data}</script>\n<script>\n{JS}</script>\n</body>\n</html>\n",
        title = escape(&site.project),
        data = script_json(site),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_its_script() {
        let v = serde_json::json!({"sql": "select '</script><!--' & 1"});
        let s = script_json(&v);
        assert!(!s.contains("</") && !s.contains("<!--"), "{s}");
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }
}
