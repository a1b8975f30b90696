//! Glob matching with the semantics of Redis's `stringmatchlen` (`*`, `?`, `[...]` with
//! ranges and `^`, `\` escapes), in O(pattern x subject) time whatever the pattern.

/// Whether `subject` matches `pattern`; `nocase` folds ASCII case.
pub fn matches(pattern: &[u8], subject: &[u8], nocase: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut s) = (0usize, 0usize);
    // Backtrack point: position after the last `*` and the subject position it absorbs up to.
    let mut star: Option<(usize, usize)> = None;
    // Star groups followed by more pattern: Redis gives up past 1000 (its recursion limit).
    let mut stars = 0;
    loop {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    stars += 1;
                    if stars > 1000 {
                        return false;
                    }
                    star = Some((p, s));
                    continue;
                }
                _ if s < subject.len() => {
                    if let Some(next) = match_one(pattern, p, subject[s], &eq) {
                        p = next;
                        s += 1;
                        continue;
                    }
                }
                _ => {}
            }
        } else if s == subject.len() {
            return true;
        }
        match star {
            Some((sp, ss)) if ss < subject.len() => {
                star = Some((sp, ss + 1));
                p = sp;
                s = ss + 1;
            }
            _ => return false,
        }
    }
}

/// Matches one subject byte against the pattern element at `p`; returns the position after
/// the element on success.
fn match_one(pattern: &[u8], mut p: usize, c: u8, eq: &impl Fn(u8, u8) -> bool) -> Option<usize> {
    match pattern[p] {
        b'?' => Some(p + 1),
        b'[' => {
            p += 1;
            let not = p < pattern.len() && pattern[p] == b'^';
            if not {
                p += 1;
            }
            let mut matched = false;
            loop {
                if p >= pattern.len() {
                    // Unterminated class: Redis treats the end of pattern as closing it.
                    break;
                }
                if pattern[p] == b'\\' && p + 1 < pattern.len() {
                    // An escaped character in a class compares exactly, even with nocase.
                    p += 1;
                    if pattern[p] == c {
                        matched = true;
                    }
                } else if pattern[p] == b']' {
                    p += 1;
                    break;
                } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' {
                    let (mut lo, mut hi) = (pattern[p], pattern[p + 2]);
                    if lo > hi {
                        std::mem::swap(&mut lo, &mut hi);
                    }
                    p += 2;
                    // With nocase Redis compares the lower-cased bounds and character only.
                    let c = if eq(b'a', b'A') {
                        lo = lo.to_ascii_lowercase();
                        hi = hi.to_ascii_lowercase();
                        c.to_ascii_lowercase()
                    } else {
                        c
                    };
                    if c >= lo && c <= hi {
                        matched = true;
                    }
                } else if eq(pattern[p], c) {
                    matched = true;
                }
                p += 1;
            }
            (matched != not).then_some(p)
        }
        b'\\' if p + 1 < pattern.len() => eq(pattern[p + 1], c).then_some(p + 2),
        pc => eq(pc, c).then_some(p + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn redis_glob_cases() {
        let t = |p: &str, s: &str| matches(p.as_bytes(), s.as_bytes(), false);
        assert!(t("*", ""));
        assert!(t("h?llo", "hello"));
        assert!(!t("h?llo", "hllo"));
        assert!(t("h*llo", "heeeello"));
        assert!(t("h[ae]llo", "hallo"));
        assert!(!t("h[ae]llo", "hillo"));
        assert!(t("h[^e]llo", "hallo"));
        assert!(!t("h[^e]llo", "hello"));
        assert!(t("h[a-b]llo", "hbllo"));
        assert!(t("h\\*llo", "h*llo"));
        assert!(!t("h\\*llo", "hello"));
        assert!(t("key:*", "key:1"));
        assert!(!t("key:*", "kez:1"));
        assert!(t("*a*b", "xxaxxb"));
        assert!(!t("*a*b", "xxaxxbc"));
        assert!(matches(b"HELLO", b"hello", true));
    }

    #[test]
    fn redis_class_and_escape_edge_cases() {
        let t = |p: &[u8], s: &[u8]| matches(p, s, false);
        // `[\a` ends inside the class: the escape still applies (patternLen >= 2).
        assert!(t(b"[\\a", b"a"));
        assert!(!t(b"[\\a", b"\\"));
        assert!(t(b"[\\]]", b"]"));
        assert!(t(b"[a-", b"-"));
        assert!(t(b"[z-a]", b"m"));
        assert!(!t(b"[]a", b"a"));
        // Escapes in classes compare exactly even with nocase; ranges fold both sides.
        assert!(!matches(b"[\\A]", b"a", true));
        assert!(matches(b"[A-C]", b"b", true));
        assert!(!matches(b"[A-z]", b"_", true));
        assert!(t(b"a\\", b"a\\"));
    }

    #[test]
    fn redis_gives_up_past_1000_star_groups() {
        let subject = "a".repeat(1200);
        assert!(matches(
            "*a".repeat(1000).as_bytes(),
            subject.as_bytes(),
            false
        ));
        assert!(!matches(
            "*a".repeat(1001).as_bytes(),
            subject.as_bytes(),
            false
        ));
        assert!(matches(
            ("a*".repeat(1001)).as_bytes(),
            subject.as_bytes(),
            false
        ));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let pat = "*a".repeat(50) + "b";
        let subject = "a".repeat(10_000);
        assert!(!matches(pat.as_bytes(), subject.as_bytes(), false));
    }
}
