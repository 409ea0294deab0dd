//! Phone-number normalisation to E.164 (`+33612345678`) for the countries in
//! scope (FR, BE, CH, DE, ES, IT, GB, US/CA), plus the digits-only form Meta
//! expects.
//!
//! This is a deliberately small rule set rather than the `phonenumber`
//! crate (a libphonenumber port): that crate would add about ten crates
//! (nom, postcard, quick-xml, strum, regex-cache, …) and a metadata build
//! step to the project, for countries we can describe in a few lines. The
//! rules check the *shape* of a number (country code, trunk prefix, length,
//! leading digit), not whether the number range is allocated.

/// A country we know the national numbering plan of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Country {
    Fr,
    Be,
    Ch,
    De,
    Es,
    It,
    Gb,
    /// North American Numbering Plan (US, CA, …): one plan, one code.
    Nanp,
}

impl Country {
    fn from_iso(code: &str) -> Option<Self> {
        Some(match code.trim().to_ascii_uppercase().as_str() {
            "FR" => Country::Fr,
            "BE" => Country::Be,
            "CH" => Country::Ch,
            "DE" => Country::De,
            "ES" => Country::Es,
            "IT" => Country::It,
            // "UK" is not ISO 3166 but is what CRMs commonly store.
            "GB" | "UK" => Country::Gb,
            "US" | "CA" => Country::Nanp,
            _ => return None,
        })
    }

    fn calling_code(self) -> &'static str {
        match self {
            Country::Fr => "33",
            Country::Be => "32",
            Country::Ch => "41",
            Country::De => "49",
            Country::Es => "34",
            Country::It => "39",
            Country::Gb => "44",
            Country::Nanp => "1",
        }
    }

    fn from_calling_code(digits: &str) -> Option<(Self, &str)> {
        if let Some(rest) = digits.strip_prefix('1') {
            return Some((Country::Nanp, rest));
        }
        let (cc, rest) = (digits.get(..2)?, digits.get(2..)?);
        let country = match cc {
            "33" => Country::Fr,
            "32" => Country::Be,
            "41" => Country::Ch,
            "49" => Country::De,
            "34" => Country::Es,
            "39" => Country::It,
            "44" => Country::Gb,
            _ => return None,
        };
        Some((country, rest))
    }

    /// Whether `nsn` (national significant number: no country code, no
    /// trunk prefix) has a plausible shape for this country.
    fn valid_nsn(self, nsn: &str) -> bool {
        let b = nsn.as_bytes();
        let len = b.len();
        let Some(&first) = b.first() else {
            return false;
        };
        match self {
            Country::Fr | Country::Ch => len == 9 && first != b'0',
            // Landlines have 8 digits, mobiles (4xx) 9.
            Country::Be => (len == 8 && first != b'0') || (len == 9 && first == b'4'),
            // German numbers vary in length with the area code.
            Country::De => (6..=11).contains(&len) && first != b'0',
            Country::Es => len == 9 && matches!(first, b'6' | b'7' | b'8' | b'9'),
            // Italy keeps the leading 0 of landlines in international form;
            // mobiles start with 3.
            Country::It => match first {
                b'0' => (6..=11).contains(&len),
                b'3' => (9..=10).contains(&len),
                _ => false,
            },
            Country::Gb => (9..=10).contains(&len) && first != b'0',
            // NXX-NXX-XXXX: area code and exchange cannot start with 0 or 1.
            Country::Nanp => len == 10 && b[0] >= b'2' && b[3] >= b'2',
        }
    }

    /// Countries whose national format starts with a trunk `0` that is
    /// dropped in international format.
    fn has_trunk_zero(self) -> bool {
        matches!(
            self,
            Country::Fr | Country::Be | Country::Ch | Country::De | Country::Gb
        )
    }

    fn e164(self, nsn: &str) -> Option<String> {
        self.valid_nsn(nsn)
            .then(|| format!("+{}{}", self.calling_code(), nsn))
    }
}

/// Normalises a phone number to E.164 (`+` country code, national
/// significant number, no separators), or `None` when it cannot be a valid
/// number.
///
/// Rules:
/// - separators (spaces, `.`, `-`, `/`, parentheses) are ignored; a `+` is
///   only accepted as the first character; any other character (letters,
///   `ext`, `*`, `#`) makes the number invalid;
/// - international input: `+CC…`, `00CC…`, or `011CC…` when the default
///   country is US/CA. For the countries in scope the national part is
///   checked; a stray trunk `0` after the country code (`+33 (0)6…`) is
///   dropped, except for Italy where the `0` belongs to the number. Other
///   country codes are accepted as-is if they have 8 to 15 digits and do
///   not start with 0 (shape check only);
/// - national input uses `default_country` (ISO 3166 alpha-2,
///   case-insensitive; `UK` accepted for GB; empty/unknown means only
///   international input can be normalised): the trunk `0` (FR, BE, CH, DE,
///   GB) or trunk `1` (US/CA) is removed, a missing trunk zero is tolerated
///   (`612345678` with FR, as left by spreadsheets), and digits that already
///   start with the country's own code without `+` (`33612345678` with FR)
///   are accepted when the national reading is not valid;
/// - lengths: FR/CH 9 digits, BE 8 (9 for 4xx mobiles), DE 6–11, ES 9
///   starting 6–9, IT 6–11 starting 0 or 9–10 starting 3, GB 9–10, US/CA
///   10 digits `NXX NXX XXXX`.
///
/// ```sql
/// select normalize_phone('06 12 34 56 78', 'FR');    -- '+33612345678'
/// select normalize_phone('0033612345678', 'DE');     -- '+33612345678'
/// select normalize_phone('(612) 345-6789', 'US');    -- '+16123456789'
/// select normalize_phone('07700 900123', 'GB');      -- '+447700900123'
/// select normalize_phone('12 34', 'FR');             -- NULL
/// select normalize_phone(phone, country) from customers;
/// ```
pub fn normalize_phone(phone: &str, default_country: &str) -> Option<String> {
    let trimmed = phone.trim();
    let mut digits = String::with_capacity(trimmed.len());
    let mut plus = false;
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => plus = true,
            ' ' | '\t' | '\u{a0}' | '\u{202f}' | '.' | '-' | '/' | '(' | ')' => {}
            _ => return None,
        }
    }
    let default = Country::from_iso(default_country);

    if plus {
        return from_international(&digits);
    }
    if let Some(rest) = digits.strip_prefix("00") {
        return from_international(rest);
    }
    if default == Some(Country::Nanp)
        && let Some(rest) = digits.strip_prefix("011")
    {
        return from_international(rest);
    }

    let country = default?;
    let nsn = match country {
        Country::Nanp if digits.len() == 11 => digits.strip_prefix('1').unwrap_or(&digits),
        c if c.has_trunk_zero() => digits.strip_prefix('0').unwrap_or(&digits),
        _ => &digits,
    };
    if let Some(e164) = country.e164(nsn) {
        return Some(e164);
    }
    // Numbers stored with their country code but without `+` (Meta style).
    match Country::from_calling_code(&digits) {
        Some((c, _)) if c == country => from_international(&digits),
        _ => None,
    }
}

/// `digits` = country code followed by the national number.
fn from_international(digits: &str) -> Option<String> {
    match Country::from_calling_code(digits) {
        Some((country, rest)) => {
            let nsn = if country.has_trunk_zero() {
                rest.strip_prefix('0').unwrap_or(rest)
            } else {
                rest
            };
            country.e164(nsn)
        }
        None => {
            let ok = (8..=15).contains(&digits.len()) && !digits.starts_with('0');
            ok.then(|| format!("+{digits}"))
        }
    }
}

/// The phone format Meta's Conversions API hashes: the E.164 digits without
/// the `+` (country code included, no leading zero). Input must be E.164 as
/// produced by [`normalize_phone`]; anything else gives `None`.
///
/// ```sql
/// select meta_phone(normalize_phone('+1 (616) 954-78 88', 'US'));  -- '16169547888'
/// select sha256_hex(meta_phone(normalize_phone(phone, country))) from customers;
/// ```
pub fn meta_phone(e164: &str) -> Option<String> {
    let digits = e164.trim().strip_prefix('+')?;
    let ok = (8..=15).contains(&digits.len())
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| digits.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, c: &str) -> Option<String> {
        normalize_phone(s, c)
    }

    #[test]
    fn issue_examples() {
        assert_eq!(p("06 12 34 56 78", "FR").as_deref(), Some("+33612345678"));
        assert_eq!(
            p("+33 6 12 34 56 78", "FR").as_deref(),
            Some("+33612345678")
        );
        assert_eq!(p("0033612345678", "FR").as_deref(), Some("+33612345678"));
        assert_eq!(p("(612) 345-6789", "US").as_deref(), Some("+16123456789"));
        assert_eq!(p("+1 612-345-6789", "FR").as_deref(), Some("+16123456789"));
        assert_eq!(p("07700 900123", "GB").as_deref(), Some("+447700900123"));
    }

    #[test]
    fn international_overrides_default_country() {
        assert_eq!(
            p("+33 6 12 34 56 78", "US").as_deref(),
            Some("+33612345678")
        );
        assert_eq!(p("0033 6 12 34 56 78", "").as_deref(), Some("+33612345678"));
        assert_eq!(
            p("+33 (0)6 12 34 56 78", "").as_deref(),
            Some("+33612345678")
        );
        assert_eq!(
            p("011 33 6 12 34 56 78", "us").as_deref(),
            Some("+33612345678")
        );
        // Out-of-scope country code: shape check only.
        assert_eq!(p("+81 3-1234-5678", "FR").as_deref(), Some("+81312345678"));
    }

    #[test]
    fn national_formats() {
        assert_eq!(p("06.12.34.56.78", "fr").as_deref(), Some("+33612345678"));
        assert_eq!(p("612345678", "FR").as_deref(), Some("+33612345678"));
        assert_eq!(p("33612345678", "FR").as_deref(), Some("+33612345678"));
        assert_eq!(p("0470 12 34 56", "BE").as_deref(), Some("+32470123456"));
        assert_eq!(p("02 123 45 67", "BE").as_deref(), Some("+3221234567"));
        assert_eq!(p("044 668 18 00", "CH").as_deref(), Some("+41446681800"));
        assert_eq!(p("030 12345678", "DE").as_deref(), Some("+493012345678"));
        assert_eq!(p("0151 12345678", "DE").as_deref(), Some("+4915112345678"));
        assert_eq!(p("612 34 56 78", "ES").as_deref(), Some("+34612345678"));
        assert_eq!(p("338 123 4567", "IT").as_deref(), Some("+393381234567"));
        assert_eq!(p("06 1234 5678", "IT").as_deref(), Some("+390612345678"));
        assert_eq!(p("+39 06 1234 5678", "").as_deref(), Some("+390612345678"));
        assert_eq!(p("020 7946 0018", "UK").as_deref(), Some("+442079460018"));
        assert_eq!(p("1 612 345 6789", "US").as_deref(), Some("+16123456789"));
        assert_eq!(p("613-555-0199", "CA").as_deref(), Some("+16135550199"));
    }

    #[test]
    fn invalid_numbers() {
        for (bad, c) in [
            ("", "FR"),
            ("abc", "FR"),
            ("12", "FR"),
            ("06 12 34 56", "FR"),
            ("06 12 34 56 78 90", "FR"),
            ("0612345678 ext 12", "FR"),
            ("06-12-34-56-78#", "FR"),
            ("++33612345678", "FR"),
            ("33+612345678", "FR"),
            ("+1 (012) 345-6789", "US"),
            ("(612) 145-6789", "US"),
            ("06 12 34 56 78", ""),
            ("06 12 34 56 78", "ZZ"),
            ("512 34 56 78", "ES"),
            ("+0 123 456 789", ""),
        ] {
            assert_eq!(p(bad, c), None, "{bad:?} / {c:?} should be invalid");
        }
    }

    #[test]
    fn meta_format() {
        // Meta: digits only, with country code, no `+`, no leading zero.
        let e164 = p("+1 (616) 954-78 88", "US");
        assert_eq!(e164.as_deref(), Some("+16169547888"));
        assert_eq!(meta_phone("+16169547888").as_deref(), Some("16169547888"));
        assert_eq!(
            p("06 12 34 56 78", "FR")
                .and_then(|e| meta_phone(&e))
                .as_deref(),
            Some("33612345678")
        );
        assert_eq!(meta_phone("0612345678"), None);
        assert_eq!(meta_phone("+33 6"), None);
    }
}
