//! The report's own words in each language it is printed in. What people typed into the job
//! (names, addresses, notes) is printed as typed.

use fieldsync_protocol::job::{JobKind, Tier, TimeKind};
use fieldsync_protocol::rules::Status;

pub use fieldsync_protocol::Language;

/// Every fixed text of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Text {
    Title,
    Job,
    Status,
    Customer,
    Name,
    Tier,
    Site,
    Address,
    Region,
    Product,
    Model,
    Serial,
    Problem,
    Category,
    Description,
    Appointment,
    Window,
    Engineer,
    TimeOnSite,
    Total,
    Minutes,
    By,
    PartsUsed,
    UnderWarranty,
    Checklist,
    Outcome,
    FirstVisitFix,
    Yes,
    No,
    Unknown,
    Cause,
    Fix,
    Summary,
    Notes,
    Photos,
    PhotoCount,
    Photo,
    Signature,
    SignedBy,
    SignedOn,
}

impl Text {
    /// Every text, so a test can check each has both languages.
    #[cfg(test)]
    pub(super) const ALL: [Text; 40] = [
        Text::Title,
        Text::Job,
        Text::Status,
        Text::Customer,
        Text::Name,
        Text::Tier,
        Text::Site,
        Text::Address,
        Text::Region,
        Text::Product,
        Text::Model,
        Text::Serial,
        Text::Problem,
        Text::Category,
        Text::Description,
        Text::Appointment,
        Text::Window,
        Text::Engineer,
        Text::TimeOnSite,
        Text::Total,
        Text::Minutes,
        Text::By,
        Text::PartsUsed,
        Text::UnderWarranty,
        Text::Checklist,
        Text::Outcome,
        Text::FirstVisitFix,
        Text::Yes,
        Text::No,
        Text::Unknown,
        Text::Cause,
        Text::Fix,
        Text::Summary,
        Text::Notes,
        Text::Photos,
        Text::PhotoCount,
        Text::Photo,
        Text::Signature,
        Text::SignedBy,
        Text::SignedOn,
    ];
}

/// The report's words in a language (a trait because [`Language`] is the protocol's).
pub(crate) trait Words {
    /// The words for `text` in this language.
    fn text(self, text: Text) -> &'static str;
    /// `label: value` with the colon this language uses.
    fn labelled(self, label: Text, value: &str) -> String;
    fn kind(self, kind: JobKind) -> &'static str;
    fn tier(self, tier: Tier) -> &'static str;
    /// A status's name for a person.
    fn status(self, status: Status) -> &'static str;
    /// `TimeKind` has no `as_str`; its wire names (`travel`, `on_site`) are not meant for
    /// customers.
    fn time_kind(self, kind: TimeKind) -> &'static str;
    /// The signature line.
    fn signed(self, signed_by: &str, at: &str) -> String;
    /// Who recorded a time entry.
    fn recorded_by(self, name: &str) -> String;
    /// How many photos there are.
    fn photo_count(self, count: usize) -> String;
    /// The footer of page `page` of `pages`.
    fn footer(self, job_id: &str, page: usize, pages: usize) -> String;
}

impl Words for Language {
    fn text(self, text: Text) -> &'static str {
        let (english, chinese) = match text {
            Text::Title => ("Service report", "服务报告"),
            Text::Job => ("Job", "工单"),
            Text::Status => ("Status", "状态"),
            Text::Customer => ("Customer", "客户"),
            Text::Name => ("Name", "名称"),
            Text::Tier => ("Tier", "客户等级"),
            Text::Site => ("Site", "服务地点"),
            Text::Address => ("Address", "地址"),
            Text::Region => ("Region", "区域"),
            Text::Product => ("Product", "产品"),
            Text::Model => ("Model", "型号"),
            Text::Serial => ("Serial", "序列号"),
            Text::Problem => ("Problem", "故障"),
            Text::Category => ("Category", "类别"),
            Text::Description => ("Description", "描述"),
            Text::Appointment => ("Appointment", "预约"),
            Text::Window => ("Window", "时间段"),
            Text::Engineer => ("Engineer", "工程师"),
            Text::TimeOnSite => ("Time on site", "工时"),
            Text::Total => ("Total", "合计"),
            Text::Minutes => ("min", "分钟"),
            Text::By => ("by", "记录人"),
            Text::PartsUsed => ("Parts used", "使用配件"),
            Text::UnderWarranty => ("under warranty", "保修内"),
            Text::Checklist => ("Checklist", "检查清单"),
            Text::Outcome => ("Outcome", "处理结果"),
            Text::FirstVisitFix => ("First-visit fix", "首次上门解决"),
            Text::Yes => ("yes", "是"),
            Text::No => ("no", "否"),
            Text::Unknown => ("unknown", "未知"),
            Text::Cause => ("Cause", "原因"),
            Text::Fix => ("Fix", "处理方法"),
            Text::Summary => ("Summary", "总结"),
            Text::Notes => ("Notes", "备注"),
            Text::Photos => ("Photos", "照片"),
            Text::PhotoCount => ("photos", "张照片"),
            Text::Photo => ("Photo", "照片"),
            Text::Signature => ("Signature", "客户签名"),
            Text::SignedBy => ("Signed by", "签名人"),
            Text::SignedOn => ("on", "签名时间"),
        };
        match self {
            Language::English => english,
            Language::Chinese => chinese,
        }
    }

    fn labelled(self, label: Text, value: &str) -> String {
        match self {
            Language::English => format!("{}: {value}", self.text(label)),
            Language::Chinese => format!("{}：{value}", self.text(label)),
        }
    }

    fn kind(self, kind: JobKind) -> &'static str {
        match self {
            Language::English => kind.as_str(),
            Language::Chinese => match kind {
                JobKind::Installation => "安装",
                JobKind::Repair => "维修",
                JobKind::Maintenance => "保养",
                JobKind::Inspection => "巡检",
                JobKind::Complaint => "投诉",
            },
        }
    }

    fn tier(self, tier: Tier) -> &'static str {
        match self {
            Language::English => tier.as_str(),
            Language::Chinese => match tier {
                Tier::Standard => "普通",
                Tier::Vip => "VIP",
            },
        }
    }

    fn status(self, status: Status) -> &'static str {
        match self {
            Language::English => status.as_str(),
            Language::Chinese => match status {
                Status::New => "新建",
                Status::Scheduled => "已预约",
                Status::Assigned => "已派工",
                Status::EnRoute => "已出发",
                Status::OnSite => "已到场",
                Status::Completed => "已完成",
                Status::Incomplete => "未完成",
                Status::Cancelled => "已取消",
                Status::Closed => "已关闭",
            },
        }
    }

    fn time_kind(self, kind: TimeKind) -> &'static str {
        match (self, kind) {
            (Language::English, TimeKind::Travel) => "Travel",
            (Language::English, TimeKind::OnSite) => "On site",
            (Language::Chinese, TimeKind::Travel) => "路途",
            (Language::Chinese, TimeKind::OnSite) => "现场",
        }
    }

    fn signed(self, signed_by: &str, at: &str) -> String {
        let (by, on) = (self.text(Text::SignedBy), self.text(Text::SignedOn));
        match self {
            Language::English => format!("{by} {signed_by} {on} {at}"),
            Language::Chinese => format!("{by}：{signed_by}，{on}：{at}"),
        }
    }

    fn recorded_by(self, name: &str) -> String {
        match self {
            Language::English => format!("{} {name}", self.text(Text::By)),
            Language::Chinese => self.labelled(Text::By, name),
        }
    }

    fn photo_count(self, count: usize) -> String {
        match (self, count) {
            (Language::English, 1) => "1 photo".to_owned(),
            _ => format!("{count} {}", self.text(Text::PhotoCount)),
        }
    }

    fn footer(self, job_id: &str, page: usize, pages: usize) -> String {
        let job = self.text(Text::Job);
        match self {
            Language::English => format!("{job} {job_id} - page {page} of {pages}"),
            Language::Chinese => format!("{job} {job_id} - 第 {page} 页，共 {pages} 页"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_exists_in_both_languages() {
        for text in Text::ALL {
            let english = Language::English.text(text);
            let chinese = Language::Chinese.text(text);
            assert!(english.is_ascii() && !english.is_empty(), "{text:?}");
            assert!(!chinese.is_ascii(), "{text:?} has no Chinese: {chinese}");
        }
        for status in Status::ALL {
            assert!(!Language::Chinese.status(status).is_ascii(), "{status:?}");
        }
    }
}
