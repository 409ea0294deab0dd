//! E-mail normalisation for identity resolution and audience exports.
//!
//! [`normalize_email`] produces the *matching key* used to join customer
//! records (aggressive: `+tag` and Gmail dots removed), while [`meta_email`]
//! produces the form Meta's Conversions API expects before hashing (trim and
//! lowercase only). Both reject strings that cannot be a deliverable address,
//! so that junk never becomes a join key.

/// Normalises an e-mail address into a matching key, or `None` if invalid.
///
/// Rules, in order:
/// 1. trim surrounding whitespace and lowercase (Unicode-aware);
/// 2. reject (NULL) anything that is not `local@domain`: zero or several
///    `@`, whitespace or control characters inside, an empty local part,
///    characters that are never valid unquoted (`, ; < > ( ) [ ] \ "`), a local
///    part starting/ending with `.` or containing `..`, a domain without a
///    dot, with an empty label (`a..b`, leading/trailing `.`), or with
///    characters other than letters, digits, `-` and `.`;
/// 3. drop the sub-address: everything from the first `+` in the local part
///    (`jane+news@x.com` → `jane@x.com`); an empty remainder is invalid;
/// 4. for `gmail.com` and `googlemail.com`: remove every `.` of the local
///    part and rewrite the domain to `gmail.com` (Google ignores dots and
///    treats both domains as one mailbox).
///
/// Google Customer Match asks for steps 1 and 4 (and accepts the result
/// hashed); the `+tag` removal is ours, for matching. For Meta use
/// [`meta_email`].
///
/// ```sql
/// select normalize_email('  Jane.Doe+News@GoogleMail.com ');  -- 'janedoe@gmail.com'
/// select normalize_email('John.Smith@Example.co.uk');          -- 'john.smith@example.co.uk'
/// select normalize_email('not an email');                      -- NULL
/// select normalize_email('a@b@c.com');                         -- NULL
/// ```
pub fn normalize_email(email: &str) -> Option<String> {
    let (local, domain) = split_valid(email)?;
    let local = match local.find('+') {
        Some(pos) => &local[..pos],
        None => local.as_str(),
    };
    if local.is_empty() {
        return None;
    }
    if domain == "gmail.com" || domain == "googlemail.com" {
        let local: String = local.chars().filter(|&c| c != '.').collect();
        if local.is_empty() {
            return None;
        }
        return Some(format!("{local}@gmail.com"));
    }
    Some(format!("{local}@{domain}"))
}

/// The e-mail form Meta's Conversions API / Custom Audiences hash: trimmed
/// and lowercased, nothing else (Meta does not strip dots or `+tags`).
/// Invalid addresses (same validity rules as [`normalize_email`]) give
/// `None`.
///
/// ```sql
/// select sha256_hex(meta_email(' John.Smith+x@Gmail.com'));
/// -- hash of 'john.smith+x@gmail.com'
/// ```
pub fn meta_email(email: &str) -> Option<String> {
    let (local, domain) = split_valid(email)?;
    Some(format!("{local}@{domain}"))
}

/// Trims, lowercases and validates; returns the lowercased local part and
/// domain.
fn split_valid(email: &str) -> Option<(String, String)> {
    let lowered = email.trim().to_lowercase();
    let mut parts = lowered.split('@');
    let local = parts.next()?;
    let domain = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    if !valid_local(local) || !valid_domain(domain) {
        return None;
    }
    Some((local.to_string(), domain.to_string()))
}

fn valid_local(local: &str) -> bool {
    !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| {
            !c.is_whitespace()
                && !c.is_control()
                && !matches!(
                    c,
                    ',' | ';' | '<' | '>' | '(' | ')' | '[' | ']' | '\\' | '"' | ':'
                )
        })
}

fn valid_domain(domain: &str) -> bool {
    if !domain.contains('.') {
        return false;
    }
    domain.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Option<String> {
        normalize_email(s)
    }

    #[test]
    fn basic_normalisation() {
        assert_eq!(
            n("  John.Smith@Example.COM "),
            Some("john.smith@example.com".into())
        );
        assert_eq!(
            n("jane+newsletter@example.fr"),
            Some("jane@example.fr".into())
        );
        assert_eq!(n("jane+a+b@example.fr"), Some("jane@example.fr".into()));
        assert_eq!(n("\tÉlodie@Exemple.fr\n"), Some("élodie@exemple.fr".into()));
        assert_eq!(n("o'brien@example.ie"), Some("o'brien@example.ie".into()));
    }

    #[test]
    fn gmail_rules() {
        // Google Customer Match: dots before the domain are removed for
        // gmail.com and googlemail.com.
        assert_eq!(n("Jane.Doe@gmail.com"), Some("janedoe@gmail.com".into()));
        assert_eq!(
            n("j.a.n.e.doe@googlemail.com"),
            Some("janedoe@gmail.com".into())
        );
        assert_eq!(
            n("Jane.Doe+promo@GMAIL.COM"),
            Some("janedoe@gmail.com".into())
        );
        // Dots are kept for other providers.
        assert_eq!(
            n("jane.doe@hotmail.com"),
            Some("jane.doe@hotmail.com".into())
        );
        // Subdomains of gmail.com are not gmail.
        assert_eq!(
            n("jane.doe@mail.gmail.com"),
            Some("jane.doe@mail.gmail.com".into())
        );
    }

    #[test]
    fn invalid_addresses() {
        for bad in [
            "",
            "   ",
            "plainaddress",
            "@example.com",
            "jane@",
            "jane@localhost",
            "jane@@example.com",
            "a@b@example.com",
            "jane doe@example.com",
            "jane@exa mple.com",
            "+tag@example.com",
            ".jane@example.com",
            "jane.@example.com",
            "ja..ne@example.com",
            "jane@example..com",
            "jane@.example.com",
            "jane@example.com.",
            "jane@-example.com",
            "jane@exam_ple.com",
            "<jane@example.com>",
            "jane,doe@example.com",
            "jane@example.com;bob@example.com",
        ] {
            assert_eq!(n(bad), None, "{bad:?} should be invalid");
        }
    }

    #[test]
    fn meta_keeps_dots_and_tags() {
        assert_eq!(
            meta_email(" John.Smith+x@Gmail.com "),
            Some("john.smith+x@gmail.com".into())
        );
        assert_eq!(meta_email("no-at-sign"), None);
    }
}
