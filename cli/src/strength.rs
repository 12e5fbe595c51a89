//! Password strength and generated passphrases, by the same rules as the web page's
//! `web/js/strength.js`, on the same vendored lists (`web/vendor/`): the common passwords
//! of zxcvbn-ts and the EFF large word list.
//!
//! The estimate is the cheapest way to spell the password out of pieces an attacker tries
//! first: a common password (rank r costs log2(r + 1) bits), a word of the EFF list
//! (log2 7776 bits), or single characters (log2 of the character set's size; one bit for a
//! character that repeats the previous one or continues a run like `abc` or `321`).
//! Capitals beyond all-lower, first-upper or all-upper, and look-alike digits
//! (`p@ssw0rd`), add a few bits.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

const COMMON_JSON: &str = include_str!("../../web/vendor/zxcvbn-ts/passwords.json");
const WORD_LIST: &str = include_str!("../../web/vendor/eff-wordlist/eff_large_wordlist.txt");

/// Characters that usually separate the words of a passphrase.
const SEPARATORS: &str = " -_.,+/";
/// Only the first characters are searched for pieces; the rest count as characters.
const ANALYSED: usize = 128;
/// The longest common password or word looked for.
const LONGEST_PIECE: usize = 24;
/// Words in a generated passphrase: 6 × log2(7776) = 77.5 bits.
pub(crate) const PASSPHRASE_WORDS: usize = 6;
/// Below this many bits `sealdrop upload` warns (the web page's "fair" and weaker).
pub(crate) const WEAK_BELOW: f64 = 52.0;

struct Lists {
    common: HashMap<&'static str, usize>,
    words: Vec<&'static str>,
    word_set: HashSet<&'static str>,
}

fn lists() -> &'static Lists {
    static LISTS: OnceLock<Lists> = OnceLock::new();
    LISTS.get_or_init(|| {
        let parsed: Vec<&'static str> = serde_json::from_str(COMMON_JSON).unwrap_or_default();
        let mut common = HashMap::with_capacity(parsed.len());
        for (i, word) in parsed.into_iter().enumerate() {
            common.entry(word).or_insert(i + 1);
        }
        let mut words = Vec::with_capacity(7776);
        let mut word_set = HashSet::with_capacity(7776);
        for line in WORD_LIST.lines() {
            if let Some(word) = line.split_whitespace().last()
                && word_set.insert(word)
            {
                words.push(word);
            }
        }
        Lists {
            common,
            words,
            word_set,
        }
    })
}

/// How many guesses would find a password: 2^`bits`; `common` says the whole password is
/// a common one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimate {
    pub bits: f64,
    pub common: bool,
}

fn charset_size(chars: &[char]) -> f64 {
    let mut size = 0;
    if chars.iter().any(char::is_ascii_lowercase) {
        size += 26;
    }
    if chars.iter().any(char::is_ascii_uppercase) {
        size += 26;
    }
    if chars.iter().any(char::is_ascii_digit) {
        size += 10;
    }
    if chars
        .iter()
        .any(|c| c.is_ascii() && !c.is_ascii_alphanumeric())
    {
        size += 33;
    }
    if chars.iter().any(|c| !c.is_ascii()) {
        size += 100;
    }
    f64::from(size.max(10))
}

fn lower(c: char) -> char {
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(one), None) => one,
        _ => c,
    }
}

fn unleet(c: char) -> char {
    match c {
        '@' | '4' => 'a',
        '8' => 'b',
        '3' => 'e',
        '6' => 'g',
        '1' | '!' => 'i',
        '0' => 'o',
        '5' | '$' => 's',
        '7' => 't',
        '2' => 'z',
        c => c,
    }
}

fn is_cased(c: char) -> bool {
    c.to_lowercase().ne(c.to_uppercase())
}

/// Extra bits for a piece's capitals: none, the first only and all cost one bit.
fn case_bits(piece: &[char]) -> f64 {
    let letters: Vec<char> = piece.iter().copied().filter(|c| is_cased(*c)).collect();
    let upper = letters.iter().filter(|c| lower(**c) != **c).count();
    if upper == 0 {
        0.0
    } else if upper == letters.len() || (upper == 1 && lower(piece[0]) != piece[0]) {
        1.0
    } else {
        letters.len() as f64
    }
}

/// Estimates the guesses needed to find `password`.
pub(crate) fn estimate(password: &str) -> Estimate {
    let lists = lists();
    let chars: Zeroizing<Vec<char>> = Zeroizing::new(password.chars().collect());
    if chars.is_empty() {
        return Estimate {
            bits: 0.0,
            common: false,
        };
    }
    let head = &chars[..chars.len().min(ANALYSED)];
    let char_bits = charset_size(&chars).log2();
    let sep_bits = (SEPARATORS.chars().count() as f64).log2();
    let word_bits = (lists.words.len().max(2) as f64).log2();
    let lowered: Zeroizing<Vec<char>> = Zeroizing::new(head.iter().map(|c| lower(*c)).collect());
    let swapped: Zeroizing<Vec<char>> =
        Zeroizing::new(lowered.iter().map(|c| unleet(*c)).collect());
    let mut best = vec![f64::INFINITY; head.len() + 1];
    best[0] = 0.0;
    let mut plain = Zeroizing::new(String::new());
    let mut leet = Zeroizing::new(String::new());
    for end in 1..=head.len() {
        let i = end - 1;
        let c = head[i];
        let mut cost = char_bits;
        if i > 0 {
            let step = i64::from(u32::from(c)) - i64::from(u32::from(head[i - 1]));
            if step.abs() <= 1 {
                cost = 1.0;
            }
        }
        if SEPARATORS.contains(c) {
            cost = if head[..i].contains(&c) {
                0.0
            } else {
                cost.min(sep_bits)
            };
        }
        best[end] = best[i] + cost;
        for len in 3..=LONGEST_PIECE.min(end) {
            let start = end - len;
            plain.clear();
            plain.extend(&lowered[start..end]);
            leet.clear();
            leet.extend(&swapped[start..end]);
            let mut piece_bits = f64::INFINITY;
            if let Some(rank) = lists.common.get(plain.as_str()) {
                piece_bits = ((*rank + 1) as f64).log2();
            }
            if *leet != *plain {
                if let Some(rank) = lists.common.get(leet.as_str()) {
                    piece_bits = piece_bits.min(((*rank + 1) as f64).log2() + 1.0);
                }
                if lists.word_set.contains(leet.as_str()) {
                    piece_bits = piece_bits.min(word_bits + 1.0);
                }
            }
            if lists.word_set.contains(plain.as_str()) {
                piece_bits = piece_bits.min(word_bits);
            }
            let total = best[start] + piece_bits + case_bits(&head[start..end]);
            if total < best[end] {
                best[end] = total;
            }
        }
    }
    let bits = best[head.len()] + (chars.len() - head.len()) as f64 * char_bits;
    let common = chars.len() <= LONGEST_PIECE && {
        let whole: Zeroizing<String> = Zeroizing::new(lowered.iter().collect());
        let whole_leet: Zeroizing<String> = Zeroizing::new(swapped.iter().collect());
        lists.common.contains_key(whole.as_str()) || lists.common.contains_key(whole_leet.as_str())
    };
    Estimate { bits, common }
}

/// The one-sentence warning for a weak password, or `None` for a strong one.
pub(crate) fn weakness(password: &str) -> Option<String> {
    let e = estimate(password);
    if e.common {
        Some("this password is one of the most common ones and would be guessed at once; --generate-password makes a strong one".to_owned())
    } else if e.bits < WEAK_BELOW {
        Some(format!(
            "this password is weak (about 10^{} guesses would find it); --generate-password makes a strong one",
            (e.bits * std::f64::consts::LOG10_2).round() as u64
        ))
    } else {
        None
    }
}

/// A uniformly random integer below `n` (at most 2^32), without modulo bias: draws
/// outside the largest multiple of `n` are rejected.
fn uniform_index(n: u32) -> Result<u32> {
    let n64 = u64::from(n);
    let limit = ((1u64 << 32) / n64) * n64;
    loop {
        let mut buf = [0u8; 4];
        getrandom::fill(&mut buf)
            .map_err(|_| Error::local("the system's random number generator failed"))?;
        let draw = u64::from(u32::from_le_bytes(buf));
        if draw < limit {
            return Ok((draw % n64) as u32);
        }
    }
}

/// A passphrase of [`PASSPHRASE_WORDS`] words of the EFF large word list, drawn uniformly
/// with the system's random number generator, joined by `-` (77.5 bits).
pub(crate) fn generate() -> Result<Zeroizing<String>> {
    let words = &lists().words;
    let mut out = Zeroizing::new(String::new());
    for i in 0..PASSPHRASE_WORDS {
        if i > 0 {
            out.push('-');
        }
        out.push_str(words[uniform_index(words.len() as u32)? as usize]);
    }
    Ok(out)
}

/// The bits of a generated passphrase.
#[cfg(test)]
pub(crate) fn generated_bits() -> f64 {
    PASSPHRASE_WORDS as f64 * (lists().words.len() as f64).log2()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_complete() {
        assert_eq!(lists().words.len(), 7776);
        assert!(lists().common.len() > 40_000);
        assert!(generated_bits() >= 77.0, "{}", generated_bits());
    }

    #[test]
    fn common_and_patterned_passwords_are_weak() {
        for p in ["password", "P@ssw0rd", "qwerty", "123456789012", "hunter2"] {
            assert!(estimate(p).common, "{p}");
            assert!(weakness(p).unwrap().contains("most common"), "{p}");
        }
        for p in ["Password1!", "letmein2024", "aaaaaaaaaaaa", "abcdefgh"] {
            let e = estimate(p);
            assert!(!e.common && e.bits < 28.0, "{p}: {e:?}");
            assert!(weakness(p).unwrap().contains("weak"), "{p}");
        }
        assert!(estimate("correct horse battery staple").bits < WEAK_BELOW);
    }

    #[test]
    fn random_passwords_and_passphrases_are_strong() {
        assert!(weakness("x7Gq!pR2mZ8w#Lb4").is_none());
        for _ in 0..20 {
            let p = generate().unwrap();
            assert_eq!(p.split('-').count(), PASSPHRASE_WORDS);
            assert!(estimate(&p).bits >= 64.0, "{}", p.as_str());
            assert!(weakness(&p).is_none());
        }
        assert_ne!(*generate().unwrap(), *generate().unwrap());
    }

    /// The same password gets the same estimate as on the web page (`strength.test.mjs`
    /// checks these figures from the JavaScript side).
    #[test]
    fn agrees_with_the_web_page() {
        for (p, bits) in [
            ("password", 1.585),
            ("letmein2024", 24.8),
            ("correct horse battery staple", 51.0),
        ] {
            let e = estimate(p);
            assert!((e.bits - bits).abs() < 0.1, "{p}: {e:?}");
        }
    }

    #[test]
    fn uniform_index_stays_in_range() {
        for n in [1, 2, 7, 7776] {
            for _ in 0..100 {
                assert!(uniform_index(n).unwrap() < n);
            }
        }
    }
}
