//! Bytes → text for feeds and pages whose charset labels cannot be trusted.
//!
//! Order of evidence: a byte-order mark; then, since GBK text is almost never
//! valid UTF-8, valid UTF-8 wins over any label that says otherwise; then the
//! HTTP `charset`, the XML declaration or `<meta>` (whichever decodes without
//! errors); then statistical detection (chardetng). A document that is not
//! UTF-8 as a whole but carries parts that are (a GBK feed with one title
//! pasted in UTF-8) is decoded part by part, each in its own charset, before
//! any label gets to turn the UTF-8 parts into mojibake (`正常` → `姝ｅ父`);
//! the poll report says so. Every GB2312/GBK label is
//! read as GB18030, its superset, because sites that say `gb2312` routinely
//! send GBK characters. Each decision that overrides a label is reported as a
//! warning so that the source's health shows it.

use std::borrow::Cow;
use std::sync::OnceLock;

use encoding_rs::{Encoding, GB18030, GBK, UTF_8};
use regex::bytes::Regex;

use crate::normalize::text::is_han;

/// Where the chosen charset came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharsetSource {
    Bom,
    /// The bytes are valid UTF-8 (whatever the labels said).
    ValidUtf8,
    Header,
    Markup,
    Detected,
    /// Parts of the document are UTF-8, the rest another charset; each part
    /// was decoded in its own ([`decode_mixed`]).
    Mixed,
}

#[derive(Debug)]
pub struct Decoded {
    pub text: String,
    pub encoding: &'static Encoding,
    pub source: CharsetSource,
    pub warnings: Vec<String>,
}

/// Maps a charset label to the encoding to decode with (GBK family → GB18030).
pub fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    let label = label.trim().trim_matches(|c| c == '"' || c == '\'');
    let enc = Encoding::for_label(label.as_bytes())?;
    Some(if enc == GBK { GB18030 } else { enc })
}

/// The `charset` parameter of a Content-Type header value.
pub fn header_charset(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("charset")).then(|| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
    })
}

/// The charset a document declares in its first 2 KiB: `<?xml … encoding="…"?>`,
/// `<meta charset="…">`, or `<meta http-equiv="Content-Type" content="…; charset=…">`.
pub fn markup_charset(bytes: &[u8]) -> Option<String> {
    static XML: OnceLock<Regex> = OnceLock::new();
    static META: OnceLock<Regex> = OnceLock::new();
    let head = &bytes[..bytes.len().min(2048)];
    let xml = XML.get_or_init(|| {
        Regex::new(r#"(?i)^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']"#).expect("xml decl pattern")
    });
    if let Some(c) = xml.captures(head) {
        return Some(String::from_utf8_lossy(&c[1]).into_owned());
    }
    let meta = META.get_or_init(|| {
        Regex::new(r#"(?i)<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)"#).expect("meta charset pattern")
    });
    meta.captures(head).map(|c| String::from_utf8_lossy(&c[1]).into_owned())
}

fn decode_clean(enc: &'static Encoding, bytes: &[u8]) -> Option<String> {
    enc.decode_without_bom_handling_and_without_replacement(bytes).map(Cow::into_owned)
}

/// Decodes a fetched document (see the module doc for the order of evidence).
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> Decoded {
    let mut warnings = Vec::new();
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        let (text, had_errors) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        if had_errors {
            warnings.push(format!("字节顺序标记（BOM）之后有无效的 {} 字节，已替换", enc.name()));
        }
        return Decoded { text: text.into_owned(), encoding: enc, source: CharsetSource::Bom, warnings };
    }

    let header_label = content_type.and_then(header_charset);
    let markup_label = markup_charset(bytes);
    let resolve = |label: &Option<String>, what: &str, warnings: &mut Vec<String>| {
        let label = label.as_deref()?;
        let enc = encoding_for_label(label);
        if enc.is_none() {
            warnings.push(format!("{what}声明了未知的字符集 {label:?}，已忽略"));
        }
        enc
    };
    let header = resolve(&header_label, "HTTP 头 Content-Type ", &mut warnings);
    let markup = resolve(&markup_label, "文档", &mut warnings);

    if let Ok(s) = std::str::from_utf8(bytes) {
        for (enc, what) in [(header, "HTTP 头"), (markup, "文档")] {
            if let Some(enc) = enc
                && enc != UTF_8
                && !s.is_ascii()
                && enc.is_ascii_compatible()
            {
                warnings.push(format!("{what}声明为 {}，但内容是有效的 UTF-8，已按 UTF-8 读取", enc.name()));
            }
        }
        return Decoded { text: s.to_string(), encoding: UTF_8, source: CharsetSource::ValidUtf8, warnings };
    }

    // Parts in UTF-8 among parts in another charset (a CMS pasting another
    // system's text): each part in its own, rather than the whole as one.
    let other = [header, markup].into_iter().flatten().find(|e| *e != UTF_8 && e.is_ascii_compatible());
    if let Some(mixed) = decode_mixed(bytes, other.unwrap_or(GB18030)) {
        warnings.push(mixed.warning);
        return Decoded { text: mixed.text, encoding: mixed.other, source: CharsetSource::Mixed, warnings };
    }

    for (enc, source, what) in [(header, CharsetSource::Header, "HTTP 头"), (markup, CharsetSource::Markup, "文档")]
    {
        let Some(enc) = enc else { continue };
        match decode_clean(enc, bytes) {
            Some(text) => {
                return Decoded { text, encoding: enc, source, warnings };
            }
            None => warnings.push(format!("{what}声明为 {}，但内容无法按 {} 解码", enc.name(), enc.name())),
        }
    }

    let mut det = chardetng::EncodingDetector::new();
    det.feed(bytes, true);
    let mut enc = det.guess(Some(b"cn"), true);
    if enc == GBK {
        enc = GB18030;
    }
    let (text, _, had_errors) = enc.decode(bytes);
    if had_errors {
        warnings.push(format!("检测到字符集为 {}，但部分字节无法解码，已替换", enc.name()));
    } else if header.is_some() || markup.is_some() {
        warnings.push(format!("检测到字符集为 {}", enc.name()));
    }
    Decoded { text: text.into_owned(), encoding: enc, source: CharsetSource::Detected, warnings }
}

/// A document decoded part by part.
struct Mixed {
    text: String,
    other: &'static Encoding,
    warning: String,
}

/// Whether a UTF-8 run reads as Chinese text: every non-ASCII character a
/// Han character, CJK or fullwidth punctuation, or general punctuation —
/// three-byte sequences, which GBK text (two bytes per character) cannot
/// line up into by chance for long.
fn plausible_utf8(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_ascii() || matches!(c, '\u{2000}'..='\u{206F}' | '\u{3000}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{FE30}'..='\u{FFEF}')
    })
}

/// Decodes a document whose bytes are not valid UTF-8 as a whole but hold
/// runs that are: each run of non-ASCII bytes (with the letters and digits
/// between them; GBK's second bytes may be ASCII letters) is read as UTF-8
/// when it is valid UTF-8 that reads as Chinese and more of its Han
/// characters are common ones than when read as `other`; the rest as
/// `other`. `None` when no run reads better as UTF-8 (a document wholly in
/// `other`, the usual case) or a run does not decode in `other` either.
fn decode_mixed(bytes: &[u8], other: &'static Encoding) -> Option<Mixed> {
    // Runs split at bytes below 0x40 (space, punctuation, digits, `<`, `>`),
    // which are never the second byte of a GBK character.
    let runs = || bytes.split(|b| *b < 0x40).filter(|r| !r.is_ascii());
    // The usual document is in one charset: a quick look first.
    if !runs().any(|r| std::str::from_utf8(r).is_ok_and(plausible_utf8)) {
        return None;
    }
    let mut text = String::with_capacity(bytes.len() + bytes.len() / 2);
    let (mut utf8_parts, mut other_parts) = (0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] < 0x40 {
            text.push(bytes[i] as char);
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i] >= 0x40 {
            i += 1;
        }
        let run = &bytes[start..i];
        if run.is_ascii() {
            text.push_str(std::str::from_utf8(run).ok()?);
            continue;
        }
        let as_other = decode_clean(other, run)?;
        match std::str::from_utf8(run) {
            Ok(u) if plausible_utf8(u) && common_ratio(u) > common_ratio(&as_other) => {
                text.push_str(u);
                utf8_parts += 1;
            }
            _ => {
                text.push_str(&as_other);
                other_parts += 1;
            }
        }
    }
    (utf8_parts > 0 && other_parts > 0).then(|| Mixed {
        text,
        other,
        warning: format!(
            "文档混用了两种编码：{utf8_parts} 段按 UTF-8 解码，{other_parts} 段按 {} 解码",
            other.name().to_ascii_uppercase()
        ),
    })
}

/// A warning when decoded text is full of U+FFFD: the server sent bytes in
/// one charset and labelled them another, and the text is already lost
/// upstream (e.g. a GBK page passed through a UTF-8 proxy).
pub fn replacement_warning(text: &str) -> Option<String> {
    let n = text.chars().filter(|&c| c == '\u{FFFD}').count();
    (n >= 3).then(|| format!("有 {n} 个字符在到达之前就已丢失（内容中有 U+FFFD）：网站可能把 GBK 内容标成了 UTF-8"))
}

/// Text whose UTF-8 bytes were decoded as GBK somewhere upstream — the
/// mojibake `鐨勬憜鐑傛棩璁` for `的摆烂日记` — turned back into what it was:
/// encode as GB18030, decode as UTF-8. Applied only when the text is made of
/// rare characters and the result of common ones, so that ordinary Chinese is
/// never touched. Characters lost upstream (U+FFFD) stay lost.
pub fn repair_utf8_read_as_gbk(s: &str) -> Option<String> {
    let han = s.chars().filter(|c| is_han(*c)).count();
    if han < 4 || common_ratio(s) > 0.5 {
        return None;
    }
    let cleaned: String = s.chars().filter(|&c| c != '\u{FFFD}').collect();
    let (bytes, _, unmappable) = GB18030.encode(&cleaned);
    if unmappable {
        return None;
    }
    let repaired = String::from_utf8_lossy(&bytes).into_owned();
    let lost_before = s.chars().filter(|&c| c == '\u{FFFD}').count();
    let lost_after = repaired.chars().filter(|&c| c == '\u{FFFD}').count();
    if lost_after > lost_before + 2 || common_ratio(&repaired) < 0.8 {
        return None;
    }
    Some(repaired)
}

/// The share of Han characters among the 3,755 most common (GB2312 level 1).
fn common_ratio(s: &str) -> f64 {
    let (mut han, mut common) = (0usize, 0usize);
    let mut buf = [0u8; 4];
    for c in s.chars().filter(|c| is_han(*c)) {
        han += 1;
        let (b, _, unmappable) = GBK.encode(c.encode_utf8(&mut buf));
        if !unmappable && b.len() == 2 && (0xB0..=0xD7).contains(&b[0]) && b[1] >= 0xA1 {
            common += 1;
        }
    }
    if han == 0 { 1.0 } else { common as f64 / han as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gbk(s: &str) -> Vec<u8> {
        GB18030.encode(s).0.into_owned()
    }

    #[test]
    fn gbk_page_with_gb2312_meta() {
        let mut page =
            b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\"></head><body>"
                .to_vec();
        page.extend(gbk("通知公告 镕"));
        let d = decode(&page, Some("text/html"));
        assert!(d.text.contains("通知公告 镕"), "{}", d.text);
        assert_eq!(d.encoding, GB18030);
        assert_eq!(d.source, CharsetSource::Markup);
    }

    #[test]
    fn utf8_page_that_claims_gb2312() {
        let page = "<meta charset=gb2312><p>融通基金</p>".as_bytes();
        let d = decode(page, None);
        assert!(d.text.contains("融通基金"));
        assert_eq!(d.source, CharsetSource::ValidUtf8);
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
    }

    #[test]
    fn header_and_declaration_disagree() {
        // The header says GBK, the XML declaration says UTF-8, the bytes are GBK.
        let mut xml = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss><channel><title>".to_vec();
        xml.extend(gbk("政务公开"));
        xml.extend(b"</title></channel></rss>");
        let d = decode(&xml, Some("application/rss+xml; charset=GBK"));
        assert!(d.text.contains("政务公开"));
        assert_eq!(d.source, CharsetSource::Header);
        // And the reverse: the header lies, the declaration is right.
        let d = decode(&xml, Some("text/xml; charset=utf-8"));
        assert!(d.text.contains("政务公开"), "{}", d.text);
    }

    #[test]
    fn unlabelled_gbk_is_detected() {
        let bytes = gbk(
            "<rss><channel><item><title>不归移民漫画系列：专业工作，关于进一步做好政务公开工作的通知</title></item></channel></rss>",
        );
        let d = decode(&bytes, None);
        assert!(d.text.contains("政务公开"), "{}", d.text);
        assert_eq!(d.source, CharsetSource::Detected);
    }

    #[test]
    fn bom_wins() {
        let mut b = vec![0xEF, 0xBB, 0xBF];
        b.extend("办结率".as_bytes());
        assert_eq!(decode(&b, Some("text/html; charset=gbk")).text, "办结率");
    }

    #[test]
    fn mojibake_is_repaired_and_chinese_left_alone() {
        assert_eq!(
            repair_utf8_read_as_gbk("闄曡タ棰戦亾--浜烘皯缃慱缃戜笂鐨勪汉姘戞棩鎶").as_deref(),
            Some("陕西频道--人民网_网上的人民日\u{FFFD}")
        );
        assert_eq!(repair_utf8_read_as_gbk("关于进一步做好政务公开工作的通知"), None);
        assert_eq!(repair_utf8_read_as_gbk("镕铖堃：生僻字也要读对，不能当成乱码"), None);
        assert_eq!(repair_utf8_read_as_gbk("abc"), None);
    }

    #[test]
    fn a_document_mixing_utf8_and_gbk_is_decoded_part_by_part() {
        // Issue 18: `正常` in UTF-8 inside a GBK feed came out as `姝ｅ父`.
        let mut b = gbk("<?xml version=\"1.0\" encoding=\"gbk\"?><rss><channel><title>政务公开</title><item><title>");
        b.extend("网站运行正常".as_bytes());
        b.extend(gbk("</title><description>办结率达99%，群众满意</description></item></channel></rss>"));
        let d = decode(&b, Some("text/xml; charset=gbk"));
        assert!(d.text.contains("<title>网站运行正常</title>"), "{}", d.text);
        assert!(d.text.contains("<title>政务公开</title>") && d.text.contains("办结率达99%，群众满意"), "{}", d.text);
        assert_eq!(d.source, CharsetSource::Mixed);
        assert!(d.warnings.iter().any(|w| w.contains("1 段按 UTF-8")), "{:?}", d.warnings);
        // With no label at all the other parts are read as GB18030.
        assert!(decode(&b, None).text.contains("网站运行正常"));
    }

    #[test]
    fn gbk_text_is_not_mistaken_for_utf8() {
        // GBK text stays GBK. (The one truly ambiguous case is GBK bytes that
        // spell UTF-8 Chinese exactly, such as `姝ｅ父`, which are 正常 in
        // UTF-8: the common characters win, which is what such bytes mean.)
        let texts = [
            "关于做好政务公开工作的通知",
            "镕铖堃：生僻字也要读对，不能当成乱码",
            "12345热线工单办结率达98%，群众满意率持续提升",
            "县政府办公室关于印发《政府信息公开工作要点》的通知",
        ];
        for t in texts {
            let mut b = gbk("<html><meta charset=gbk><p>");
            b.extend(gbk(t));
            b.extend(gbk("</p></html>"));
            let d = decode(&b, None);
            assert!(d.text.contains(t), "{t}: {}", d.text);
            assert_ne!(d.source, CharsetSource::Mixed, "{t}");
        }
    }

    #[test]
    fn labels() {
        assert_eq!(encoding_for_label("GB2312"), Some(GB18030));
        assert_eq!(encoding_for_label("'gbk'"), Some(GB18030));
        assert_eq!(encoding_for_label("bogus"), None);
        assert_eq!(header_charset("text/xml;charset = us-ascii").as_deref(), Some("us-ascii"));
        assert_eq!(header_charset("application/atom+xml; charset='gb2312'").as_deref(), Some("gb2312"));
    }
}
