//! Masking citizens' personal data in text that leaves govwatch by email:
//! mobile and landline numbers (138****1234, 0571-****5678), ID card numbers
//! (110101********1234), bank card numbers (6222 **** **** 1234, found by
//! `rules::pii`), e-mail addresses (z***@qq.com) and names after the
//! labels hotline records use (来电人：张** ). Pure.
//!
//! Numbers are only masked where they stand alone: a digit or Latin letter
//! right before or after means a work-order number or a code, left as is.
//!
//! A name is only what reads as one: a surname (from a table), one or two
//! more Han characters, and then something that ends a name — punctuation,
//! a space, a digit, the end, or a word such as 反映/表示/称/来电/投诉/电话.
//! `来电人反映锦绣花园小区` has no name (反 is no surname); `当事人应当…`,
//! `被举报人单位职工` neither (right after a label, without a colon, only
//! surnames that do not also begin such words count). `王先生`, `张某` are
//! left as they are. A name found after a label is masked wherever else the
//! same text mentions it. `tests/masking.rs` holds this against the real
//! tipdm message texts: nothing but numbers and the hand-listed names changes.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;

use crate::rules::pii::PiiKind;

fn numbers() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            // 18-digit ID: region, birth date, sequence, check digit.
            r"(?P<id18>[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx])",
            // 15-digit ID (before 1999): two-digit year.
            r"|(?P<id15>[1-9]\d{5}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})",
            // Mobile, optionally written 138-1234-5678 or 138 1234 5678.
            r"|(?P<mobile>(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2})",
            // Landline with its area code: 0571-87654321, 010 12345678, (0571)8765432.
            r"|(?P<landline>(?:0\d{2,3}|[(（]0\d{2,3}[)）])[-－ ]?[2-9]\d{6,7})",
        ))
        .expect("number patterns")
    })
}

fn emails() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").expect("email pattern"))
}

/// The labels hotline and message records put before a citizen's name.
fn labels() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"来电人|来电者|联系人|反映人|投诉人|举报人|求助人|来信人|留言人|申请人|诉求人|当事人|姓名")
            .expect("label pattern")
    })
}

/// Surnames (百家姓 and the common modern ones), looked for when the name is
/// set off from its label (`联系人：刘军毅`, `联系人 李四`).
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖萧田董袁潘于蒋蔡余杜叶\
程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫\
孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂\
成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏\
席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南\
班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容\
敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但\
尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由";

/// The surnames looked for right after a label, with nothing between
/// (`来电人王五反映`): the common ones that do not also begin the words that
/// follow such labels in real records (向, 于, 申请, 单位, 应当, 强行, 高度,
/// 方面, 楼上, 项目, 金额 …).
const SURNAMES_JOINED: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖萧田董袁潘蒋蔡余杜叶程\
苏魏吕丁任沈姚卢姜崔钟谭陆汪范贾夏韦付傅邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵钱严覃武戴莫孔汤温康施牛樊葛\
邢乔伍庞颜倪庄聂鲁岳翟殷詹欧耿兰焦俞柳凌毕裴霍涂苗盛翁冉骆靳柴蒙鲍喻祁蒲滕饶牟艾尤穆卓缪芦麦褚娄窦戚岑卜晏柏瞿桂\
佟臧闵苟邬卞姬仇栾隋巫寇郎甄虞敖巩佘苑邝匡鞠荆冀郁胥栗鄢谌奚粟冼蔺厉仝郜阚帅朴廉禹漆卿狄扈晁芮阙邸雍辜裘亓邰赫杭逯\
茹慕亢嵇湛戎勾茅昝檀尧";

const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "令狐",
    "端木", "澹台", "轩辕", "呼延", "钟离", "南宫", "万俟", "闻人", "西门", "独孤", "申屠", "太史",
];

/// What follows a surname when it is not a name: 王先生, 李女士, 张某.
const NOT_A_GIVEN_NAME: &[&str] =
    &["先生", "女士", "小姐", "师傅", "老师", "同志", "大爷", "大妈", "阿姨", "老人", "某", "姓", "氏", "家", "方"];

/// Words that begin with a surname and follow these labels in official
/// texts (听取当事人陈述、申辩; 申请人范围：…; 申请人任何一方): never the start of a name.
const NOT_A_NAME: &[&str] = &[
    "陈述", "陈列", "陈旧", "范围", "严重", "严格", "严禁", "严肃", "余额", "余款", "余下", "任何", "任意", "任务",
    "任职", "许可", "许多", "何时", "何种", "何处", "何地", "何人", "马上", "马路", "周边", "周围", "周末", "周岁",
    "周期", "周知", "张贴", "黄金", "程序", "程度", "杜绝", "曾经", "谢谢", "谢绝", "孙子", "胡乱", "胡同", "温度",
    "施工", "施行", "顾客", "顾问", "顾及", "付款", "付费", "付出", "江边", "段落", "毛病", "钱款", "康复", "焦虑",
    "焦点", "凌晨", "毕业", "涂改", "尤其", "卓越", "巩固", "辜负", "勾结", "夏季", "夏天", "陆续", "叶子", "田地",
    "董事", "郑重", "罗列", "林业", "武装", "颜色", "庞大", "庄重", "柴油", "廉洁", "朴素", "殷切", "苗木", "甄别",
    "高度", "高新", "方面", "方式", "文件", "安全", "关于", "单位", "应当", "明确", "全部", "全体", "平台", "强制",
    "强行", "都是", "信息", "相关", "国家", "公司", "利益",
];

/// Words that may follow a name directly (`王五反映`, `龙钢跃电话号码`): the
/// name ends right before them. Anything that is not a Han character (a
/// comma, a space, a digit, the end) ends a name as well.
const AFTER_NAME: &[&str] = &[
    "反映",
    "反应",
    "来电",
    "来信",
    "留言",
    "表示",
    "投诉",
    "举报",
    "咨询",
    "要求",
    "诉求",
    "询问",
    "希望",
    "建议",
    "称",
    "说",
    "求助",
    "电话",
    "手机",
    "联系",
    "身份证",
    "住址",
    "家住",
    "现住",
    "现居",
    "先生",
    "女士",
    "同志",
    "等",
    "及",
    "和",
    "与",
    "于",
];

fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// Does a name end right before `rest`?
fn ends_name(rest: &str) -> bool {
    rest.chars().next().is_none_or(|c| !is_han(c)) || AFTER_NAME.iter().any(|w| rest.starts_with(w))
}

/// The name starting at `text[at..]`, in bytes: a surname from `surnames`
/// (or a compound one), then one or two Han characters, then something that
/// ends a name. The longer reading wins (`张建国反映` is 张建国).
fn name_at(text: &str, at: usize, surnames: &str) -> Option<usize> {
    let rest = &text[at..];
    let surname = COMPOUND_SURNAMES.iter().find(|s| rest.starts_with(*s)).map(|s| s.len()).or_else(|| {
        let c = rest.chars().next()?;
        surnames.contains(c).then_some(c.len_utf8())
    })?;
    let given = &rest[surname..];
    if NOT_A_GIVEN_NAME.iter().any(|w| given.starts_with(w)) || NOT_A_NAME.iter().any(|w| rest.starts_with(w)) {
        return None;
    }
    let chars: Vec<(usize, char)> = given.char_indices().take(3).collect();
    for n in [2, 1] {
        if chars.len() < n || !chars[..n].iter().all(|&(_, c)| is_han(c)) {
            continue;
        }
        let end = chars.get(n).map_or(given.len(), |&(i, _)| i);
        // A given name does not begin with what ends one (李反映…).
        if ends_name(given) || !ends_name(&given[end..]) {
            continue;
        }
        return Some(surname + end);
    }
    None
}

/// Names after labels, as byte spans of `text`: 来电人：张三丰， 联系人李四电话 …,
/// several in a row when listed with 、 (举报人：余中华、王才茂).
fn name_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    for m in labels().find_iter(text) {
        let after = &text[m.end()..];
        let trimmed = after.trim_start_matches(|c: char| c.is_whitespace());
        let sep = after.len() - trimmed.len();
        let (mut at, surnames) = match trimmed.chars().next() {
            Some(c @ (':' | '：')) => {
                let t = trimmed[c.len_utf8()..].trim_start_matches(|c: char| c.is_whitespace());
                (text.len() - t.len(), SURNAMES)
            }
            _ if sep > 0 => (m.end() + sep, SURNAMES),
            _ => (m.end(), SURNAMES_JOINED),
        };
        while let Some(len) = name_at(text, at, surnames) {
            spans.push((at, at + len));
            at += len;
            match text[at..].strip_prefix('、') {
                Some(_) => at += '、'.len_utf8(),
                None => break,
            }
        }
    }
    spans
}

/// `text` with the names after labels masked (张三丰 → 张**), and every other
/// place the same text names them.
fn mask_names(text: &str) -> Cow<'_, str> {
    if !labels().is_match(text) {
        return Cow::Borrowed(text);
    }
    let spans = name_spans(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut names: Vec<&str> = spans.iter().map(|&(a, b)| &text[a..b]).collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    names.dedup();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    'scan: while pos < text.len() {
        for n in &names {
            if text[pos..].starts_with(n) {
                let mut cs = n.chars();
                out.extend(cs.next());
                out.extend(cs.map(|_| '*'));
                pos += n.len();
                continue 'scan;
            }
        }
        let c = text[pos..].chars().next().expect("pos is inside the text");
        out.push(c);
        pos += c.len_utf8();
    }
    Cow::Owned(out)
}

fn boundary_ok(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let joins = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !joins(before) && !joins(after)
}

fn keep_ends(s: &str, head: usize, tail: usize) -> String {
    let digits: Vec<char> = s.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    if digits.len() <= head + tail {
        return "*".repeat(digits.len());
    }
    let mut out: String = digits[..head].iter().collect();
    out.push_str(&"*".repeat(digits.len() - head - tail));
    out.extend(&digits[digits.len() - tail..]);
    out
}

/// Bank card numbers (16–19 digits passing Luhn, a card prefix, alone or in
/// groups of four), as the personal-data scan finds them: 6222 **** **** 1234.
fn mask_cards(text: &str) -> Cow<'_, str> {
    let cards: Vec<_> =
        crate::rules::pii::scan_spans(text).into_iter().filter(|(h, _)| h.kind == PiiKind::BankCard).collect();
    if cards.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (hit, end) in cards {
        out.push_str(&text[copied..hit.start]);
        out.push_str(&hit.masked);
        copied = end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// `text` with personal data masked; borrowed when there was nothing to mask.
pub fn mask(text: &str) -> Cow<'_, str> {
    match mask_cards(text) {
        Cow::Borrowed(_) => mask_rest(text),
        Cow::Owned(carded) => Cow::Owned(mask_rest(&carded).into_owned()),
    }
}

/// The fewest digits a masked number has (a landline: 3-digit area code and
/// 7 digits); a text with fewer is not searched for numbers.
const FEWEST_DIGITS: usize = 10;

/// True for every character `\d` matches (any Unicode decimal digit), and
/// some others. Han characters and CJK punctuation, most of a Chinese text,
/// are answered without `char::is_numeric`'s table search.
fn may_be_digit(c: char) -> bool {
    match c {
        '0'..='9' | '０'..='９' => true,
        _ if c.is_ascii() => false,
        '\u{3000}'..='\u{303F}' | '\u{4E00}'..='\u{9FFF}' | '\u{FF00}'..='\u{FFEF}' => false,
        _ => c.is_numeric(),
    }
}

fn mask_rest(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut pos = 0;
    let re = numbers();
    let digits = text.chars().filter(|c| may_be_digit(*c)).take(FEWEST_DIGITS).count();
    while let Some(c) = (digits >= FEWEST_DIGITS).then(|| re.captures_at(text, pos)).flatten() {
        let m = c.get(0).expect("whole match");
        if !boundary_ok(text, m.start(), m.end()) {
            pos = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let s = m.as_str();
        let masked = if c.name("id18").is_some() || c.name("id15").is_some() {
            keep_ends(s, 6, 4)
        } else if c.name("mobile").is_some() {
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            let national = digits.strip_prefix("86").filter(|d| d.len() == 11).unwrap_or(&digits);
            keep_ends(national, 3, 4)
        } else {
            // Landline: the area code stays, the number keeps its last 4.
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            let area = if digits.starts_with("01") || digits.starts_with("02") { 3 } else { 4 };
            format!("{}-{}", &digits[..area], keep_ends(&digits[area..], 0, 4))
        };
        out.push_str(&text[copied..m.start()]);
        out.push_str(&masked);
        copied = m.end();
        pos = m.end();
    }
    let text: Cow<str> = if copied == 0 {
        Cow::Borrowed(text)
    } else {
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    };
    let text = match emails().is_match(&text) {
        false => text,
        true => Cow::Owned(
            emails()
                .replace_all(&text, |c: &regex::Captures| {
                    let (user, domain) = c[0].split_once('@').expect("an @");
                    let first = user.chars().next().unwrap_or('*');
                    format!("{first}***@{domain}")
                })
                .into_owned(),
        ),
    };
    match mask_names(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(named) => Cow::Owned(named),
    }
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn phones_and_ids() {
        assert_eq!(mask("来电号码13812341234，请回电"), "来电号码138****1234，请回电");
        assert_eq!(mask("电话：138-1234-1234。"), "电话：138****1234。");
        assert_eq!(mask("+86 138 1234 1234"), "138****1234");
        assert_eq!(mask("身份证号110101199003071234"), "身份证号110101********1234");
        assert_eq!(mask("身份证 11010119900307123X 丢失"), "身份证 110101********123X 丢失");
        assert_eq!(mask("老身份证110101900307123"), "老身份证110101*****7123");
        assert_eq!(mask("座机0571-87654321或010 62345678"), "座机0571-****4321或010-****5678");
    }

    #[test]
    fn may_be_digit_covers_every_unicode_decimal_digit() {
        let d = regex::Regex::new(r"^\d$").unwrap();
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            if d.is_match(c.encode_utf8(&mut [0; 4])) {
                assert!(super::may_be_digit(c), "{c:?} U+{:04X}", c as u32);
            }
        }
        assert!(!super::may_be_digit('热') && !super::may_be_digit('，') && !super::may_be_digit('a'));
    }

    #[test]
    fn the_shortest_numbers_are_still_masked() {
        // Ten digits, the fewest a masked number has; nine are left alone.
        assert_eq!(mask("电话010 6234567"), "电话010-***4567");
        assert_eq!(mask("电话010 623456"), "电话010 623456");
    }

    #[test]
    fn codes_and_plain_numbers_stay() {
        // Work-order numbers, dates, money, hotline numbers: not personal.
        for s in [
            "工单GD20261102001",
            "编号13812341234A",
            "2026年11月20日",
            "金额12000元",
            "拨打12345热线",
            "订单138123412345",
        ] {
            assert_eq!(mask(s), s, "{s}");
        }
    }

    #[test]
    fn names_after_labels() {
        assert_eq!(mask("来电人：张三丰，电话13812341234"), "来电人：张**，电话138****1234");
        assert_eq!(mask("联系人 李四"), "联系人 李*");
        assert_eq!(mask("来电人王五反映小区停水"), "来电人王*反映小区停水");
        assert_eq!(mask("姓名:欧阳娜娜"), "姓名:欧***");
        // The demo's gas-leak order.
        assert_eq!(mask("来电人张建国反映燃气管道疑似泄漏"), "来电人张**反映燃气管道疑似泄漏");
        // No label: nothing to go by.
        assert_eq!(mask("市民反映小区停水"), "市民反映小区停水");
    }

    /// A label followed by a verb or a word is not followed by a name (issue
    /// 17: `来电人反映锦绣花园小区` became `来电人反**绣花园小区`). The other
    /// cases are from the tipdm 2020 message texts (`tests/masking.rs`).
    #[test]
    fn a_label_followed_by_words_is_left_alone() {
        for s in [
            "来电人反映锦绣花园小区门口积水",
            "来电人表示已多次反映",
            "来电人称小区停水三天",
            "来电人来电反映路灯不亮",
            "来电人向物业反映多次无果",
            "来电人于2026年11月16日来电",
            "房屋租赁当事人应当到租赁房屋所在地",
            "也不是被举报人单位职工",
            "申请人储存易燃、易爆物品",
            "要挟举报人强行施工",
            "投诉人住在钻石新村20栋201",
            "请当事人双方以及办事处工作人员",
            "经当事人协商不能就变更劳动合同达成协议",
            "公司所有联系人通讯录及本人手机短号",
            "单位联系人及电话",
            // Official prose: words that begin with a surname.
            "听取当事人陈述和申辩",
            "申请人范围：本县户籍居民",
            "联系人：高新区管委会",
        ] {
            assert_eq!(mask(s), s, "{s}");
        }
    }

    #[test]
    fn a_surname_with_an_honorific_is_not_a_name() {
        for s in ["投诉人：向先生2018年6月5日", "来电人王先生反映", "来电人李女士称", "联系人张某"]
        {
            assert_eq!(mask(s), s, "{s}");
        }
    }

    /// From the tipdm 2020 message texts (attach2 156616, 119873, 38430; attach4 34239, 159027).
    #[test]
    fn names_end_where_the_next_words_begin() {
        assert_eq!(mask("联系人龙钢跃电话号码0000-00"), "联系人龙**电话号码0000-00");
        assert_eq!(mask("反映人：李鸣联系方式：******"), "反映人：李*联系方式：******");
        assert_eq!(mask("投诉人：宁华召\u{3000}\u{3000}2017年10月"), "投诉人：宁**\u{3000}\u{3000}2017年10月");
        assert_eq!(mask("申请人：刘香桂2018年4月13日"), "申请人：刘**2018年4月13日");
    }

    #[test]
    fn a_list_of_names_and_their_other_mentions() {
        assert_eq!(
            mask("举报人：余中华、王才茂、李杰　　联系电话：0000-00000000（余中华）"),
            "举报人：余**、王**、李*　　联系电话：0000-00000000（余**）"
        );
    }

    #[test]
    fn bank_cards() {
        // 6222021234567894 passes Luhn; its neighbour ...95 does not.
        assert_eq!(mask("退款至卡号6222021234567894，请查收"), "退款至卡号6222 **** **** 7894，请查收");
        assert_eq!(mask("卡号 6222 0212 3456 7894。"), "卡号 6222 **** **** 7894。");
        assert_eq!(mask("卡号6222-0212-3456-7894"), "卡号6222 **** **** 7894");
        assert_eq!(mask("卡号6217001234567890122，电话13812341234"), "卡号6217 **** **** *** 0122，电话138****1234");
        // Not Luhn-valid, inside a code, or without a card prefix: left as is.
        for s in ["流水号6222021234567895", "编号X6222021234567894", "订单2026112212345678"] {
            assert_eq!(mask(s), s, "{s}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(mask("邮箱zhangsan@qq.com"), "邮箱z***@qq.com");
    }
}
