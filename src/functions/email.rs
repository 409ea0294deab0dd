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
/// 1. remove every whitespace character, surrounding or inside (`jean dupont @ orange.fr`:
///    a space is never part of an unquoted address, and the contract lists spaces among the
///    dirt typed into forms), and lowercase (Unicode-aware);
/// 2. reject (NULL) anything that is not `local@domain`: zero or several
///    `@`, control characters, an empty local part,
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
/// select normalize_email('jean dupont @orange.fr');             -- 'jeandupont@orange.fr'
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

/// The e-mail form Meta's Conversions API / Custom Audiences hash: whitespace
/// removed and lowercased, nothing else (Meta does not strip dots or `+tags`).
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

/// Mailbox providers most consumer addresses use: a domain one keystroke away from one of
/// them (and not one of them itself) is taken as a typo of it.
const MAILBOX_PROVIDERS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "hotmail.com",
    "hotmail.fr",
    "outlook.com",
    "outlook.fr",
    "live.com",
    "live.fr",
    "msn.com",
    "yahoo.com",
    "yahoo.fr",
    "icloud.com",
    "aol.com",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "sfr.fr",
    "neuf.fr",
    "laposte.net",
    "bbox.fr",
    "gmx.fr",
    "gmx.com",
    "protonmail.com",
];

/// The matching key of an address whose domain is a one-keystroke typo of a big mailbox
/// provider (`gmial.com`, `ornage.fr`, `hotmail.con`), with the domain corrected; `None` when
/// the address is invalid, its domain is not such a typo, or the typo is one keystroke from
/// two providers. One keystroke is one letter inserted, dropped, replaced, or two
/// neighbours swapped; a different country domain (`gmail.fr`) is three and is left alone,
/// as some of those are real mailboxes.
///
/// Identity resolution links a record through the corrected address with less confidence
/// than through an exact one: a typo is a guess.
///
/// ```sql
/// select correct_email_domain('Jean.Dupont@gmial.com');  -- 'jeandupont@gmail.com'
/// select correct_email_domain('jean@orange.fr');         -- NULL (nothing to correct)
/// select correct_email_domain('jean@example.org');       -- NULL (not near a provider)
/// ```
pub fn correct_email_domain(email: &str) -> Option<String> {
    let (local, domain) = split_valid(email)?;
    if MAILBOX_PROVIDERS.contains(&domain.as_str()) {
        return None;
    }
    let provider = nearest_provider(&domain, MAILBOX_PROVIDERS)?;
    normalize_email(&format!("{local}@{provider}"))
}

/// The one provider `domain` is a keystroke away from; none when it is near none or several.
fn nearest_provider<'a>(domain: &str, providers: &[&'a str]) -> Option<&'a str> {
    let mut near = providers.iter().filter(|p| one_keystroke_apart(domain, p));
    let provider = near.next()?;
    if near.next().is_some() {
        return None;
    }
    Some(provider)
}

/// Whether `a` and `b` differ by one insertion, deletion, substitution or swap of two
/// adjacent characters.
fn one_keystroke_apart(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a == b {
        return false;
    }
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    match ra.len() as isize - rb.len() as isize {
        0 => {
            ra[1..] == rb[1..]
                || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
        }
        1 => ra[1..] == *rb,
        -1 => *ra == rb[1..],
        _ => false,
    }
}

/// Drops whitespace, lowercases and validates; returns the lowercased local part and
/// domain.
fn split_valid(email: &str) -> Option<(String, String)> {
    let lowered: String = email
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
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

    #[test]
    fn mistyped_provider_domains_are_corrected() {
        let c = correct_email_domain;
        assert_eq!(
            c("Jean.Dupont@gmial.com"),
            Some("jeandupont@gmail.com".into())
        );
        assert_eq!(c("jean@gmail.con"), Some("jean@gmail.com".into()));
        assert_eq!(c("jean+promo@ornage.fr"), Some("jean@orange.fr".into()));
        assert_eq!(c("jean@iclound.com"), Some("jean@icloud.com".into()));
        assert_eq!(c("jean@wanado.fr"), Some("jean@wanadoo.fr".into()));
        assert_eq!(c("jean@srf.fr"), Some("jean@sfr.fr".into()));
        assert_eq!(c(" JEAN@HOTMIAL.COM "), Some("jean@hotmail.com".into()));
    }

    #[test]
    fn correct_or_distant_domains_are_left_alone() {
        let c = correct_email_domain;
        // already a provider, a real country variant, a company, an invalid address
        assert_eq!(c("jean@orange.fr"), None);
        assert_eq!(c("jean@hotmail.fr"), None);
        assert_eq!(c("jean@gmail.fr"), None);
        assert_eq!(c("jean@maison-parcours.fr"), None);
        assert_eq!(c("not an email"), None);
        // one keystroke from two providers: no guess
        assert_eq!(nearest_provider("ad.fr", &["ab.fr", "ac.fr"]), None);
        assert_eq!(
            nearest_provider("ad.fr", &["ab.fr", "xy.fr"]),
            Some("ab.fr")
        );
    }

    #[test]
    fn one_keystroke() {
        assert!(one_keystroke_apart("gmial.com", "gmail.com"));
        assert!(one_keystroke_apart("gmail.co", "gmail.com"));
        assert!(one_keystroke_apart("gmaill.com", "gmail.com"));
        assert!(one_keystroke_apart("gmeil.com", "gmail.com"));
        assert!(!one_keystroke_apart("gmail.com", "gmail.com"));
        assert!(!one_keystroke_apart("gmail.fr", "gmail.com"));
        assert!(!one_keystroke_apart("giaml.com", "gmail.com"));
    }

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
    fn inner_whitespace_is_dirt() {
        // spaces, tabs and no-break spaces typed inside an address are removed, as around it
        assert_eq!(
            n("jane doe@example.com"),
            Some("janedoe@example.com".into())
        );
        assert_eq!(n("jane@exa mple.com"), Some("jane@example.com".into()));
        assert_eq!(
            n(" Jean . Dupont @ Gmail.com "),
            Some("jeandupont@gmail.com".into())
        );
        assert_eq!(
            n("jean\u{a0}dupont@orange.fr"),
            Some("jeandupont@orange.fr".into())
        );
        assert_eq!(n("marie\t@free.fr"), Some("marie@free.fr".into()));
        assert_eq!(
            meta_email("Jane Doe+x @Gmail.com"),
            Some("janedoe+x@gmail.com".into())
        );
        assert_eq!(
            correct_email_domain("jean dupont@gmial.com"),
            Some("jeandupont@gmail.com".into())
        );
        // still not addresses once the spaces are gone
        assert_eq!(n("not an email"), None);
        assert_eq!(n("jane doe"), None);
        assert_eq!(n("jane\u{0}doe@example.com"), None);
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
