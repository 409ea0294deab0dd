//! Person-name normalisation: the canonical spelling used for blocking,
//! fuzzy comparison ([`crate::functions::jaro_winkler`]) and phonetic keys.
//!
//! Accent folding uses a hand-written table for the Latin letters found in
//! European names instead of Unicode decomposition (which would need an
//! extra crate): it also covers letters that do not decompose (`ß`, `ø`,
//! `æ`, `œ`, `ł`, `đ`, `þ`), and decomposed input is handled by dropping
//! combining marks.

/// Normalises a person or company name, or `None` if nothing is left.
///
/// Rules: lowercase (Unicode); fold accents and ligatures to ASCII
/// (`é→e`, `ç→c`, `ß→ss`, `ø→o`, `æ→ae`, `œ→oe`, `ł→l`, `þ→th`, …);
/// drop combining marks (U+0300–U+036F); every character that is not a
/// letter or digit (punctuation, apostrophes, hyphens, symbols) becomes a
/// space; whitespace runs collapse to one space; trim. Letters of other
/// scripts (Greek, Cyrillic, CJK, …) are kept, lowercased.
///
/// ```sql
/// select normalize_name('  Jean-François  O''Brien ');  -- 'jean francois o brien'
/// select normalize_name('Straße');                      -- 'strasse'
/// select normalize_name(' -- ');                        -- NULL
/// ```
pub fn normalize_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    // Start as if a space was just written so that leading separators vanish.
    let mut pending_space = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if is_combining_mark(c) {
            continue;
        }
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            match fold(c) {
                Some(s) => out.push_str(s),
                None => out.push(c),
            }
        } else {
            pending_space = true;
        }
    }
    (!out.is_empty()).then_some(out)
}

fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036f}')
}

/// ASCII spelling of a lowercase accented Latin letter, `None` if the
/// character needs no folding.
pub(crate) fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' | 'ǎ' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' | 'ǐ' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' | 'ǒ' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' | 'ǔ' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Option<String> {
        normalize_name(s)
    }

    #[test]
    fn accents_and_ligatures() {
        assert_eq!(n("Élodie").as_deref(), Some("elodie"));
        assert_eq!(n("François").as_deref(), Some("francois"));
        assert_eq!(n("Straße").as_deref(), Some("strasse"));
        assert_eq!(n("STRASSE").as_deref(), Some("strasse"));
        assert_eq!(n("Søren Kierkegård").as_deref(), Some("soren kierkegard"));
        assert_eq!(n("Lætitia Cœur").as_deref(), Some("laetitia coeur"));
        assert_eq!(n("Łukasz Żółć").as_deref(), Some("lukasz zolc"));
        assert_eq!(n("Müller").as_deref(), Some("muller"));
        assert_eq!(n("Núñez").as_deref(), Some("nunez"));
        assert_eq!(n("Ștefan Țiriac").as_deref(), Some("stefan tiriac"));
        // Decomposed form (e + U+0301) folds like the precomposed one.
        assert_eq!(n("E\u{301}lodie").as_deref(), Some("elodie"));
    }

    #[test]
    fn punctuation_and_whitespace() {
        assert_eq!(
            n("  Jean-François   O'Brien ").as_deref(),
            Some("jean francois o brien")
        );
        assert_eq!(n("d’Artagnan").as_deref(), Some("d artagnan"));
        assert_eq!(n("Smith, John (Jr.)").as_deref(), Some("smith john jr"));
        assert_eq!(n("Louis\tXIV\n").as_deref(), Some("louis xiv"));
        assert_eq!(n("Agent 007").as_deref(), Some("agent 007"));
        assert_eq!(n("Владимир").as_deref(), Some("владимир"));
    }

    #[test]
    fn empty_is_null() {
        assert_eq!(n(""), None);
        assert_eq!(n("   "), None);
        assert_eq!(n(" -- ,. "), None);
    }
}
