//! What an [`Error`] says to a person, in the device's language, and what it says to a program:
//! a stable code and named parameters that any client can translate on its own.
//!
//! The codes are a contract: an app may switch on them, so they never change meaning. The
//! English messages are the errors' own `Display` texts.

use fieldsync_protocol::SchemaError;
use fieldsync_protocol::enrollment::{LinkError, MAX_LINK_CHARS, PREFIX};
use fieldsync_protocol::job::Role;

use crate::error::Error;
use crate::report::Language;
use crate::report::labels::Words;

impl Error {
    /// The stable code of this error, e.g. `transition_not_allowed`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownJob(_) => "unknown_job",
            Error::UnknownReminder(_) => "unknown_reminder",
            Error::BadEnrollmentLink(_) => "bad_enrollment_link",
            Error::Refused(refusal) => refusal.code(),
            Error::Database(_) => "database",
            Error::StorageFull => "storage_full",
            Error::StoreMismatch(_) => "store_mismatch",
            Error::CorruptDocument { .. } => "corrupt_document",
            Error::Protocol(_) => "bad_response",
            Error::Server { .. } => "server_error",
            Error::Revoked(_) => "revoked",
            Error::Offline(_) => "offline",
            Error::BadServerUrl(_) => "bad_server_url",
            Error::Untrusted(_) => "untrusted_server",
        }
    }

    /// The parts of the message a translation needs, by name (e.g. `from`, `to`, `field`),
    /// with wire names for statuses and fields.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        match self {
            Error::UnknownJob(job) => vec![("job", job.clone())],
            Error::UnknownReminder(id) => vec![("reminder", id.to_string())],
            Error::BadEnrollmentLink(e) => vec![("detail", e.to_string())],
            Error::Refused(refusal) => refusal.params(),
            Error::CorruptDocument { job, reason } => {
                vec![("job", job.clone()), ("detail", reason.clone())]
            }
            Error::Server { status, message } => {
                vec![("status", status.to_string()), ("detail", message.clone())]
            }
            Error::StorageFull => Vec::new(),
            Error::Database(e) => vec![("detail", e.to_string())],
            Error::StoreMismatch(detail)
            | Error::Protocol(detail)
            | Error::Revoked(detail)
            | Error::Offline(detail)
            | Error::BadServerUrl(detail)
            | Error::Untrusted(detail) => vec![("detail", detail.clone())],
        }
    }

    /// The message for a person reading `language`. Details that come from elsewhere (the
    /// server's explanation, a network or database error) stay as they came.
    pub fn message(&self, language: Language) -> String {
        match language {
            Language::English => self.to_string(),
            Language::Chinese => self.chinese(),
        }
    }

    fn chinese(&self) -> String {
        match self {
            Error::UnknownJob(job) => format!("工单 {job} 不在本设备上"),
            Error::UnknownReminder(id) => format!("提醒 {id} 不在本设备上"),
            Error::BadEnrollmentLink(e) => match e {
                LinkError::NotALink => format!("这不是注册链接：应以 {PREFIX} 开头"),
                LinkError::TooLong => format!("注册链接超过 {MAX_LINK_CHARS} 个字符"),
                LinkError::Parameter(name) => format!("注册链接的“{name}”缺失或无效"),
                LinkError::Server(server) => {
                    format!("注册链接的服务器“{server}”不是 http:// 或 https:// 地址")
                }
            },
            Error::Refused(refusal) => match refusal {
                SchemaError::TransitionNotAllowed { from, to, role } => format!(
                    "{}不能把工单从“{}”改为“{}”",
                    role_chinese(*role),
                    Language::Chinese.status(*from),
                    Language::Chinese.status(*to)
                ),
                SchemaError::NotYourField { field } => {
                    format!("只有调度可以修改{}", field_chinese(field))
                }
                SchemaError::InvalidValue { field, value } => {
                    format!("{}的值无效：{value}", field_chinese(field))
                }
                SchemaError::UnknownChecklistItem(item) => {
                    format!("检查项“{item}”不存在（提供名称即可新增）")
                }
                SchemaError::MissingField(_)
                | SchemaError::Unreadable(_)
                | SchemaError::Automerge(_) => format!("工单数据无法读取：{refusal}"),
            },
            Error::Database(e) => format!("本地数据库出错：{e}"),
            Error::StorageFull => {
                "手机存储空间已满：本次操作未保存（之前保存的内容完好），请清理空间后重试"
                    .to_owned()
            }
            Error::StoreMismatch(detail) => format!("无法打开本地数据：{detail}"),
            Error::CorruptDocument { job, reason } => {
                format!("工单 {job} 的本地数据无法读取：{reason}")
            }
            Error::Protocol(detail) => format!("服务器的回应无法识别：{detail}"),
            Error::Server { status, message } => format!("服务器拒绝了请求（{status}）：{message}"),
            Error::Revoked(detail) => format!("本设备已被停用：{detail}"),
            Error::Offline(detail) => {
                format!("无法连接服务器：{detail}（本地工作已保存，稍后会同步）")
            }
            Error::BadServerUrl(detail) => format!("服务器地址不被接受：{detail}"),
            Error::Untrusted(detail) => format!("服务器证书不可信，连接可能被拦截：{detail}"),
        }
    }
}

/// What the offline lease says when it has locked the store.
pub fn locked_message(language: Language) -> &'static str {
    match language {
        Language::English => {
            "this phone has not reached the server for too long: sync to unlock it (work not yet \
             sent is kept)"
        }
        Language::Chinese => "本手机太久未连接服务器：请同步以解锁（尚未发送的工作会保留）",
    }
}

fn role_chinese(role: Role) -> &'static str {
    match role {
        Role::Installer => "工程师",
        Role::Dispatch => "调度",
    }
}

/// The Chinese name of a job document field, as the schema names it.
fn field_chinese(field: &str) -> String {
    let name = match field {
        "assignee" => "工程师",
        "appointment" => "预约",
        "kind" => "工单类型",
        "customer" => "客户",
        "site" => "服务地点",
        "product" => "产品",
        "problem" => "故障",
        "priority" => "优先级",
        "notes" => "备注",
        "parts" => "配件",
        "time_entries" => "工时",
        "rating" => "评分",
        "signed_by" => "签名人",
        "escalation.ring" => "升级级别",
        "checklist" => "检查清单",
        "outcome" => "处理结果",
        "sla" => "时限",
        other => return format!("“{other}”"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldsync_protocol::rules::Status;

    fn refusals() -> Vec<Error> {
        vec![
            Error::Refused(SchemaError::TransitionNotAllowed {
                from: Status::New,
                to: Status::Closed,
                role: Role::Installer,
            }),
            Error::Refused(SchemaError::NotYourField { field: "assignee" }),
            Error::Refused(SchemaError::InvalidValue {
                field: "rating",
                value: "7 is not between 1 and 5".into(),
            }),
            Error::Refused(SchemaError::UnknownChecklistItem("seal".into())),
            Error::Refused(SchemaError::MissingField("kind")),
            Error::UnknownJob("j1".into()),
            Error::UnknownReminder(7),
            Error::BadEnrollmentLink(LinkError::Parameter("code".into())),
            Error::StorageFull,
            Error::StoreMismatch("another user's store".into()),
            Error::CorruptDocument {
                job: "j1".into(),
                reason: "bad chunk".into(),
            },
            Error::Protocol("not CBOR".into()),
            Error::Server {
                status: 409,
                message: "conflict".into(),
            },
            Error::Revoked("lost".into()),
            Error::Offline("connection refused".into()),
            Error::BadServerUrl("http://example.com".into()),
            Error::Untrusted("expired certificate".into()),
        ]
    }

    #[test]
    fn every_error_has_a_code_and_a_chinese_message() {
        let mut codes = std::collections::BTreeSet::new();
        for error in refusals() {
            let code = error.code();
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
            codes.insert(code);
            assert_eq!(error.message(Language::English), error.to_string());
            let chinese = error.message(Language::Chinese);
            assert!(
                chinese
                    .chars()
                    .any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c)),
                "{code}: {chinese}"
            );
        }
        // Every kind of error above has its own code.
        assert_eq!(codes.len(), refusals().len());
    }

    #[test]
    fn a_refused_move_names_its_statuses_for_a_translation() {
        let error = Error::Refused(SchemaError::TransitionNotAllowed {
            from: Status::New,
            to: Status::Closed,
            role: Role::Installer,
        });
        assert_eq!(error.code(), "transition_not_allowed");
        assert_eq!(
            error.params(),
            vec![
                ("from", "new".to_owned()),
                ("to", "closed".to_owned()),
                ("role", "installer".to_owned())
            ]
        );
        assert_eq!(
            error.message(Language::Chinese),
            "工程师不能把工单从“新建”改为“已关闭”"
        );
    }
}
