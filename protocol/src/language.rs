//! The languages Fieldsync speaks: what a phone prints its report and words its errors in, and
//! what an organisation writes its own texts in (checklist templates, the demo).

/// English or Simplified Chinese.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// English.
    #[default]
    English,
    /// Simplified Chinese.
    Chinese,
}

impl Language {
    /// The language for a device's BCP 47 locale such as `zh-CN`, `zh-Hans-CN` or `en-GB` (an
    /// underscore works as well): Chinese for any `zh` tag, English otherwise. Traditional
    /// Chinese tags get the Simplified words, which their readers read, rather than English.
    pub fn from_tag(tag: &str) -> Language {
        Language::parse(tag).unwrap_or_default()
    }

    /// The language of a configured tag: `en` or `zh-CN` (any `en-…` or `zh-…` tag); anything
    /// else is refused by name.
    pub fn parse(tag: &str) -> Result<Language, String> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("zh") {
            Ok(Language::Chinese)
        } else if primary.eq_ignore_ascii_case("en") {
            Ok(Language::English)
        } else {
            Err(format!(
                "the languages are `en` and `zh-CN`, not `{}`",
                tag.trim()
            ))
        }
    }

    /// The BCP 47 tag: `en` or `zh-CN`.
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Chinese => "zh-CN",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Language;

    #[test]
    fn tags_read_by_their_language() {
        for tag in [
            "zh",
            "zh-CN",
            "zh_CN",
            "zh-Hans-CN",
            "zh-TW",
            "ZH-hk",
            " zh-Hant ",
        ] {
            assert_eq!(Language::from_tag(tag), Language::Chinese, "{tag}");
            assert_eq!(Language::parse(tag), Ok(Language::Chinese), "{tag}");
        }
        for tag in ["en", "en-GB", "de-DE", "", "zhx", "und"] {
            assert_eq!(Language::from_tag(tag), Language::English, "{tag}");
        }
        for language in [Language::English, Language::Chinese] {
            assert_eq!(Language::parse(language.tag()), Ok(language));
        }
        let refused = Language::parse("fr").expect_err("French");
        assert!(refused.contains("`fr`"), "{refused}");
    }
}
