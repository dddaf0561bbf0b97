//! Document numbers (文号): finding them in titles and text, and writing each
//! in one normal form so that a repost can be matched to its original.
//!
//! The same number is written many ways: `国办发〔2020〕53号`, `国办发[2020]53号`,
//! `国办发（2020）53号`, `国办发【2020】53号`, `国办发„2020‟53号`,
//! `国办发{2020}053号`, `國辦發〔2020〕53號`, and with no brackets at all
//! (`甘区政办发201756号`). All normalize to `机关代字〔年份〕序号号` with
//! simplified characters and no leading zeros.

use std::sync::OnceLock;

use regex::Regex;

use super::text::fold_width_and_space;

/// A document number found in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocNo {
    /// As written in the source.
    pub raw: String,
    /// Normal form: `国办发〔2020〕53号`.
    pub norm: String,
    /// Where it starts in the text, in characters.
    pub at: usize,
}

fn pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // The organ may be broken by a space before a short tail (`沪发改
        // 规范〔2021〕5号`, `沪经信规 范 〔 2025〕1号`: pages that justify
        // text); a bracketed year may be spaced (`〔 202 4 〕`); several
        // numbers may share one organ and year (`〔2026〕28、29号`).
        Regex::new(
            r#"(?x)
            (?P<organ>\p{Han}{1,14}(?:\ \p{Han}{1,2})*)
            [\ ]?
            (?:
                [〔\[(【{„〖<《「『⟦⦅"“]\ ?(?P<spaced>(?:1\ ?9|2\ ?0)\ ?\d\ ?\d)\ ?[〕\])】}‟〗>》」』⟧⦆"”]
              | (?:[〔\[(【{„〖<《「『⟦⦅"“]\ ?)?(?P<year>(?:19|20)\d{2})(?:\ ?[〕\])】}‟〗>》」』⟧⦆"”])?
            )
            [\ ]?第?[\ ]?
            (?P<num>\d{1,5}(?:、\d{1,5})*)
            [\ ]?号"#,
        )
        .expect("document number pattern compiles")
    })
}

/// Words that precede a number in running text but are not part of the
/// issuing organ's abbreviation (`根据国办发〔2020〕53号` → `国办发`), stripped
/// from the front of a candidate organ.
const LEADING_WORDS: &[&str] = &[
    "发文字号",
    "文号为",
    "文号",
    "详见",
    "根据",
    "依据",
    "按照",
    "依照",
    "参照",
    "对照",
    "贯彻",
    "落实",
    "执行",
    "印发",
    "转发",
    "结合",
    "以及",
    "号为",
    "号",
    "和",
    "及",
    "与",
    "同",
    "见",
    "经",
    "按",
    "即",
    "据",
    "由",
    "为",
];

/// Words that never occur inside an organ's abbreviation: a candidate organ
/// is cut after the last of them (`法仍按市发展改革委沪发改价商` → `市发展改革委沪发改价商`).
const NEVER_IN_ORGAN: &[&str] = &[
    "根据", "依据", "按照", "依照", "参照", "对照", "遵照", "贯彻", "落实", "执行", "转发", "印发", "结合", "详见",
    "仍按", "按", "和", "及", "与", "的", "了", "是", "在", "将", "对", "于", "以", "即", "据", "见", "为", "等", "或",
    "其", "文件", "学习", "传达",
];

/// What ends an organ's full name (`市发展改革委`, `财政部办公厅`) when its
/// abbreviation follows (`市发展改革委沪发改价商` → `沪发改价商`).
const FULL_NAME_ENDS: &[char] = &['委', '会', '局', '厅', '室', '府', '部', '院'];

/// Characters an organ's abbreviation starts with that a broken organ's
/// short tail does not (`各有关单位 沪府〔…〕`: two organs' worth, not one).
const ORGAN_STARTS: &str = "京津沪渝冀晋辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川蜀贵黔云滇藏陕秦甘陇青宁新港澳台蒙国";

/// The organ's abbreviation inside a candidate: the sentence's words and an
/// organ's full name in front of it removed. Returns its offset in bytes.
fn clean_organ(organ: &str) -> (usize, String) {
    let mut start = 0;
    let mut o = organ;
    'strip: loop {
        for w in LEADING_WORDS {
            if o.len() > w.len() && o.starts_with(w) {
                o = &o[w.len()..];
                start += w.len();
                continue 'strip;
            }
        }
        break;
    }
    if let Some(cut) = NEVER_IN_ORGAN.iter().filter_map(|w| o.rfind(w).map(|i| i + w.len())).max()
        && o[cut..].chars().filter(|c| *c != ' ').count() >= 2
    {
        start += cut;
        o = &o[cut..];
    }
    // `市发展改革委沪发改价商`: a full name of four or more characters, then
    // an abbreviation of two or more (not `公告`, `令`).
    let chars: Vec<(usize, char)> = o.char_indices().collect();
    if let Some(k) = (4..chars.len().saturating_sub(1))
        .rev()
        .find(|&k| FULL_NAME_ENDS.contains(&chars[k - 1].1) && !matches!(&o[chars[k].0..], "公告" | "令" | "文件"))
    {
        start += chars[k].0;
        o = &o[chars[k].0..];
    }
    (start, o.chars().filter(|c| *c != ' ').collect())
}

/// Prepares text for matching, one character for one character so that a
/// match's character offsets point into the original: full-width → ASCII,
/// traditional → simplified, blanks → a space. A line break stays one: an
/// organ does not run on from the line before (`来源：本网` over
/// `东府〔2015〕33号` is 东府's number, not 本网东府's).
fn prepare(s: &str) -> String {
    let folded: String = s
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\n' => '\n',
            c if c.is_whitespace() => ' ',
            c => c,
        })
        .collect();
    fast2s::convert(&folded)
}

/// Every document number in `text`, in order of appearance.
pub fn find_all(text: &str) -> Vec<DocNo> {
    if !text.contains('号') && !text.contains('號') {
        return Vec::new();
    }
    let prepared = prepare(text);
    let mut found = Vec::new();
    for caps in pattern().captures_iter(&prepared) {
        let whole = caps.get(0).expect("group 0 always matches");
        let organ_group = caps.name("organ").expect("organ always matches");
        // A space inside the organ joins only a short tail that does not
        // start an organ of its own; otherwise the organ is what follows it.
        let mut organ_raw = organ_group.as_str();
        let mut organ_start = organ_group.start();
        if let Some(sp) = organ_raw.rfind(' ') {
            let tails: Vec<&str> = organ_raw.split(' ').skip(1).collect();
            if tails.iter().any(|t| t.chars().next().is_some_and(|c| ORGAN_STARTS.contains(c))) {
                organ_start += sp + 1;
                organ_raw = &organ_raw[sp + 1..];
            }
        }
        let (cut, organ) = clean_organ(organ_raw);
        organ_start += cut;
        if organ.is_empty() || organ.ends_with('年') || organ.ends_with('第') {
            continue;
        }
        let year: String = match caps.name("spaced").or(caps.name("year")) {
            Some(y) => y.as_str().chars().filter(char::is_ascii_digit).collect(),
            None => continue,
        };
        // Map the match back to the original characters.
        let start_char = prepared[..organ_start].chars().count();
        let len_chars = prepared[organ_start..whole.end()].chars().count();
        let raw: String = text.chars().skip(start_char).take(len_chars).collect();
        for num in caps["num"].split('、') {
            let num: u32 = match num.parse() {
                Ok(n) if n > 0 => n,
                _ => continue,
            };
            found.push(DocNo { raw: raw.clone(), norm: format!("{organ}〔{year}〕{num}号"), at: start_char });
        }
    }
    found
}

/// The first document number in `text`.
pub fn find(text: &str) -> Option<DocNo> {
    find_all(text).into_iter().next()
}

/// An item's own 文号 and the ones it cites.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Numbers {
    /// The number the item carries as its own.
    pub own: Option<DocNo>,
    /// Every other number in its title and text (normal forms distinct, in
    /// order of appearance).
    pub cited: Vec<DocNo>,
}

/// Words after which, in the same clause, a number is cited, not carried:
/// news of a meeting that studied a document (`会议传达学习了…号文件精神`)
/// cites it as a notice implementing it does.
const CITING: &[&str] = &[
    "根据", "依据", "按照", "依照", "参照", "遵照", "对照", "贯彻", "落实", "执行", "转发", "转载", "详见", "废止",
    "修订", "仍按", "参见", "学习", "传达",
];

/// Single characters that cite what directly follows them (`经…号文件批准`).
const CITING_NEXT: &[char] = &['经', '按', '据', '见', '依', '照'];

/// Whether the number starting at character `at` of `text` is a reference:
/// inside 《》, in brackets right after a 》 (the number of the document just
/// named), or after a citing word — anywhere in its clause (`clause`: body
/// text), or right before it (titles: `关于贯彻落实…的实施意见（县政办发…）`
/// carries its own number after a citing word).
fn is_reference(text: &str, at: usize, clause: bool) -> bool {
    let before: String = prepare(&text.chars().take(at).collect::<String>()).replace('\n', " ");
    let depth = before.chars().fold(0i32, |d, c| match c {
        '《' => d + 1,
        '》' => (d - 1).max(0),
        _ => d,
    });
    if depth > 0 {
        return true;
    }
    let tail = before.trim_end_matches(' ');
    let named = tail
        .strip_suffix(['(', '〔', '[', '【', '［'])
        .is_some_and(|t| t.trim_end_matches(' ').ends_with(['》', '〉', '>']));
    if named {
        return true;
    }
    if !clause {
        return CITING.iter().any(|w| tail.ends_with(w)) || tail.ends_with(CITING_NEXT);
    }
    let clause = match tail.rfind([',', '。', ';', ':', '\n', '!', '?', '，', '；', '：']) {
        Some(i) => &tail[i..],
        None => tail,
    };
    CITING.iter().any(|w| clause.contains(w)) || clause.ends_with(CITING_NEXT)
}

/// Lines a page or feed puts before the document (`来源: 上海市发改委`).
fn is_metadata_line(line: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r"^\s*(?:来源|信息来源|发布机构|发布时间|发布日期|时间|日期|作者|浏览次数|点击数|字号|【?字体)\s*[:：]",
        )
        .expect("metadata line pattern")
    });
    line.trim().is_empty() || re.is_match(line)
}

/// A `发文字号：…` or `文号：…` field near the start of the text.
fn stated_in_text(text: &str) -> Option<DocNo> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"(?:发文字号|发文文号|文\s*号)\s*[:：]\s*([^\s，,；;|]{1,40})").expect("field pattern")
    });
    let start: String = text.chars().take(600).collect();
    re.captures(&prepare(&start)).and_then(|c| normalize_field(&c[1]))
}

/// The number standing alone on a line (brackets around it allowed) among
/// the first lines of the text, before the addressee (`各有关单位：`) or the
/// first sentence: how a document is laid out under its heading, whatever
/// page furniture (`2017-02-14 点击：8次`, a site name and a time) comes
/// before it.
fn on_its_own_line(text: &str) -> Option<DocNo> {
    let mut offset = 0;
    for line in text.split_inclusive('\n').take(12) {
        let trimmed = line.trim();
        if trimmed.ends_with([':', '：']) || trimmed.contains(['。', '；']) {
            return None;
        }
        let bare =
            trimmed.trim_matches(|c: char| matches!(c, '(' | ')' | '（' | '）' | '[' | ']') || c.is_whitespace());
        let found = find_all(line);
        if let [d] = found.as_slice()
            && !bare.is_empty()
            && d.raw.trim() == bare
        {
            return Some(DocNo { at: d.at + offset, ..d.clone() });
        }
        offset += line.chars().count();
    }
    None
}

/// The number at the head of the document: before its addressee (`各有关单位：`)
/// or first sentence, and not a reference.
fn at_head(text: &str) -> Option<DocNo> {
    let mut skipped = 0;
    for line in text.split_inclusive('\n') {
        if !is_metadata_line(line) {
            break;
        }
        skipped += line.chars().count();
    }
    let body: String = text.chars().skip(skipped).collect();
    let end = body.char_indices().position(|(_, c)| matches!(c, ':' | '：' | '。')).unwrap_or(usize::MAX).min(150);
    let head: String = body.chars().take(end).collect();
    find_all(&head).into_iter().find(|d| !is_reference(&head, d.at, true)).map(|d| DocNo { at: d.at + skipped, ..d })
}

/// An item's own number and the numbers it cites. The own number is the one
/// the page states (`stated`: a 文号 field, `无` meaning none), else the
/// first in the title that is not a reference, else a `发文字号：` field at
/// the start of the text, else the one at the head of the text (before the
/// addressee). Numbers inside 《》, right after a 》, after 根据/按照/依据/经
/// … in their clause, or elsewhere in the body are references.
pub fn numbers(title: &str, stated: Option<&str>, text: &str) -> Numbers {
    let in_title = find_all(title);
    let in_text = find_all(text);
    let own = match stated.filter(|s| !is_none_marker(s)) {
        Some(s) => normalize_field(s),
        None => in_title
            .iter()
            .find(|d| !is_reference(title, d.at, false))
            .cloned()
            .or_else(|| stated_in_text(text))
            .or_else(|| on_its_own_line(text))
            .or_else(|| at_head(text)),
    };
    let mut cited: Vec<DocNo> = Vec::new();
    for d in in_title.into_iter().chain(in_text) {
        if own.as_ref().is_some_and(|o| o.norm == d.norm) || cited.iter().any(|c| c.norm == d.norm) {
            continue;
        }
        cited.push(d);
    }
    Numbers { own, cited }
}

/// The normal form of a value that is meant to be a document number (a
/// page's 文号 field). `无`, `-`, and blank are no number.
pub fn normalize_field(value: &str) -> Option<DocNo> {
    if is_none_marker(value) {
        return None;
    }
    find(value.trim())
}

/// True for the values pages put in a 文号 field when there is none.
pub fn is_none_marker(value: &str) -> bool {
    let v = fold_width_and_space(value);
    matches!(v.trim(), "" | "无" | "無" | "-" | "—" | "/" | "暂无" | "null")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Option<String> {
        find(s).map(|d| d.norm)
    }

    #[test]
    fn all_bracket_forms_normalize_alike() {
        for s in [
            "国办发〔2020〕53号",
            "国办发[2020]53号",
            "国办发（2020）53号",
            "国办发(2020)53号",
            "国办发【2020】53号",
            "国办发［2020］53号",
            "国办发„2020‟53号",
            "国办发{2020}53号",
            "国办发〔2020〕053号",
            "國辦發〔2020〕53號",
            "国办发〔2020〕第53号",
            "国办发2020 53号",
        ] {
            assert_eq!(norm(s).as_deref(), Some("国办发〔2020〕53号"), "{s}");
        }
    }

    #[test]
    fn no_brackets_at_all() {
        assert_eq!(norm("甘区政办发201756号").as_deref(), Some("甘区政办发〔2017〕56号"));
    }

    #[test]
    fn found_in_running_text_with_the_raw_form_kept() {
        let text = "根据《国务院办公厅关于进一步优化政务服务的意见》（國辦發〔2022〕32號）和咸政办发〔2016〕42号的要求";
        let all = find_all(text);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].raw, "國辦發〔2022〕32號");
        assert_eq!(all[0].norm, "国办发〔2022〕32号");
        assert_eq!(all[1].raw, "咸政办发〔2016〕42号");
    }

    #[test]
    fn real_feed_description() {
        let d = "为贯彻落实《国家发展改革委 民政部 财政部关于进一步完善殡葬服务收费政策的通知》（发改价格〔2026〕108号）要求";
        assert_eq!(norm(d).as_deref(), Some("发改价格〔2026〕108号"));
    }

    #[test]
    fn garbled_forms_from_the_real_shanghai_feed() {
        let all = |s: &str| find_all(s).into_iter().map(|d| d.norm).collect::<Vec<_>>();
        // A full organ name before the abbreviation, and the sentence before that.
        assert_eq!(
            all("作价办法仍按市发展改革委沪发改价商〔2008〕019号文件的有关规定执行"),
            ["沪发改价商〔2008〕19号"]
        );
        // An organ broken by a space (justified text).
        assert_eq!(all("《上海市节能减排专项资金管理办法》（沪发改 规范〔2021〕5号）"), ["沪发改规范〔2021〕5号"]);
        assert_eq!(all("实施细则》（沪经信规 范 〔 2025〕1号），进一步"), ["沪经信规范〔2025〕1号"]);
        assert_eq!(all("管理办法》（沪经信规范〔 2019〕9号），现就"), ["沪经信规范〔2019〕9号"]);
        // Spaced digits and mixed brackets.
        assert_eq!(all("实施细则》 （沪经信规范 〔 202 4 〕 2 号 ）进行了修订"), ["沪经信规范〔2024〕2号"]);
        assert_eq!(all("实施办法 》（ 沪府办发〔 2023 〕 17 号 ） 要求"), ["沪府办发〔2023〕17号"]);
        assert_eq!(all("管理办法（试行）》 （ 沪经信规范［ 2023〕1号 ）"), ["沪经信规范〔2023〕1号"]);
        // Several numbers of one organ and year.
        assert_eq!(
            all("沪环函〔2026〕13号，沪绿容〔2026〕28、29号，沪农委〔2026〕43号"),
            ["沪环函〔2026〕13号", "沪绿容〔2026〕28号", "沪绿容〔2026〕29号", "沪农委〔2026〕43号"]
        );
        // A space between two organs' worth of text does not join them.
        assert_eq!(all("各有关单位 沪府〔2020〕1号"), ["沪府〔2020〕1号"]);
        // Real abbreviations that look like a full name are left whole.
        for s in
            ["工信部企业〔2026〕2号", "工信厅企业函〔2026〕117号", "人社部发〔2020〕1号", "工信部联通信〔2023〕180号"]
        {
            assert_eq!(all(s), [s]);
        }
        assert_eq!(all("财政部办公厅财办建〔2024〕21号"), ["财办建〔2024〕21号"]);
    }

    fn own(title: &str, stated: Option<&str>, text: &str) -> Option<String> {
        numbers(title, stated, text).own.map(|d| d.norm)
    }

    #[test]
    fn a_number_on_its_own_line_under_page_furniture_is_the_items() {
        // Real pages (tests/data/reposts_labelled.tsv): a site name and a
        // time, or a date and a hit count, before the document's number.
        let text = "中國東莞政府門戶網站 2015-04-17 02:28:11 來源：本網\n東府〔2015〕33號\n關于深入推進依法行政加快建設法治政府的意見\n各鎮人民政府，市府直屬各單位：";
        let n = numbers("關于深入推進依法行政加快建設法治政府的意見", None, text);
        assert_eq!(n.own.map(|d| d.norm).as_deref(), Some("东府〔2015〕33号"));
        // The line before does not run into the organ.
        assert!(n.cited.is_empty(), "{:?}", n.cited);
        assert_eq!(
            own(
                "17号 十三五安全生产规划",
                None,
                "2017-02-14 点击：8次\n菏定安发〔2016〕17号\n关于印发安全生产“十三五”规划的\n通 知"
            ),
            Some("菏定安发〔2016〕17号".into())
        );
        // The full title heading the text, then the number; in brackets too.
        assert_eq!(
            own(
                "t",
                None,
                "发布日期：2021-07-19\n济宁市人民政府\n关于持续深化“市县同权”改革的实施意见\n济政字〔2021〕30号\n各县（市、区）人民政府："
            ),
            Some("济政字〔2021〕30号".into())
        );
        assert_eq!(
            own(
                "t",
                None,
                "安徽省人民政府關于實施\n《國務院關于基礎教育改革與發展的決定》的意見\n(皖政[2001]85號)\n各市、縣人民政府："
            ),
            Some("皖政〔2001〕85号".into())
        );
        // After the addressee or a first sentence a number on its own line is
        // the transmitted document's, and cited.
        assert_eq!(own("t", None, "各乡镇：\n现将下文转发给你们。\n国办发〔2020〕53号\n"), None);
        assert_eq!(own("t", None, "按照上级要求，现印发。\n国办发〔2020〕53号"), None);
    }

    #[test]
    fn the_own_number_is_carried_not_cited() {
        // Real Shenzhen items: the number heading the text is the item's.
        let text = "来源: 深圳市商务局\n深商务规〔2026〕2号 各有关单位： 为贯彻落实《深圳市关于加快建设国际会展之都的若干措施（修订）》（深商务规〔2025〕6号），规范";
        let n = numbers("深圳市商务局关于印发《…实施细则》的通知", None, text);
        assert_eq!(n.own.map(|d| d.norm).as_deref(), Some("深商务规〔2026〕2号"));
        assert_eq!(n.cited.iter().map(|d| d.norm.as_str()).collect::<Vec<_>>(), ["深商务规〔2025〕6号"]);
        // The first number of a notice's text is cited when it follows 按照《…》.
        let text = "来源: 深圳市中小企业服务局\n各区中小企业主管部门，各有关企业： 按照《优质中小企业梯度培育管理办法》（工信部企业〔2026〕2号，以下简称《办法》）";
        assert_eq!(
            own("深圳市中小企业服务局关于组织开展2026年专精特新“小巨人”企业申报和复核工作的通知", None, text),
            None
        );
        // News of a meeting that studied a document: cited (the scale
        // benchmark's portal news, which the own-number rule took for reposts).
        assert_eq!(own("t", None, "会议传达学习了示政办发〔2026〕3号文件精神，部署下一步工作。"), None);
        assert_eq!(own("t", None, "县政府党组学习国办发〔2020〕53号文件"), None);
        // Before the addressee but after 根据/贯彻落实: cited.
        assert_eq!(own("t", None, "为贯彻落实国办发〔2019〕54号文件要求，制定本方案。"), None);
        assert_eq!(
            own("t", None, "县政办发〔2020〕6号 为贯彻落实国办发〔2019〕54号文件要求"),
            Some("县政办发〔2020〕6号".into())
        );
        // A 解读 naming the document it explains.
        assert_eq!(
            own(
                "《深圳市工业和信息化产业发展专项资金管理办法》政策解读",
                None,
                "根据《管理办法》（深工信规〔2020〕9号）"
            ),
            None
        );
        // The title: its own number, unless inside 《》 or right after a citing word.
        assert_eq!(
            own("国务院办公厅关于印发2020年政务公开工作要点的通知【国办发〔2020〕17号】", None, ""),
            Some("国办发〔2020〕17号".into())
        );
        assert_eq!(own("关于贯彻落实国办发〔2020〕53号文件的通知", None, ""), None);
        assert_eq!(
            own("关于贯彻落实《指导意见》的实施意见（县政办发〔2021〕3号）", None, ""),
            Some("县政办发〔2021〕3号".into())
        );
        assert_eq!(own("关于转发《国务院办公厅关于…的意见（国办发〔2020〕53号）》的通知", None, ""), None);
        // A page's stated field wins; 无 means none; a 发文字号 line in the text counts.
        assert_eq!(own("t（国办发〔2020〕53号）", Some("县政办发〔2021〕3号"), ""), Some("县政办发〔2021〕3号".into()));
        assert_eq!(own("t", Some("无"), "国办发〔2020〕53号 各有关单位："), Some("国办发〔2020〕53号".into()));
        assert_eq!(
            own("t", None, "索引号：000014349/2018-00058\n发文字号：国办发〔2018〕23号\n发布日期：2018年04月24日"),
            Some("国办发〔2018〕23号".into())
        );
        // The body opening with the full title, then the number.
        assert_eq!(
            own(
                "2018年政务公开工作要点",
                None,
                "国务院办公厅关于印发2018年政务公开工作要点的通知\n国办发〔2018〕23号\n各省、自治区、直辖市人民政府："
            ),
            Some("国办发〔2018〕23号".into())
        );
        // News citing a number in its first sentence.
        assert_eq!(
            own(
                "我县传达学习文件精神",
                None,
                "12月3日，县政府召开常务会议，传达学习《指导意见》（国办发〔2020〕53号）。"
            ),
            None
        );
    }

    #[test]
    fn not_numbers() {
        assert_eq!(norm("2020年53号楼"), None);
        assert_eq!(norm("第三十二条"), None);
        assert_eq!(normalize_field("无"), None);
        assert_eq!(normalize_field(" 冀政办字〔2020〕6号 ").map(|d| d.norm).as_deref(), Some("冀政办字〔2020〕6号"));
    }
}
