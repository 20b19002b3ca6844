//! The language an organisation writes its own texts in: the checklist templates new jobs
//! start with, and the demo organisation. (What each person reads is their client's choice:
//! the console's language menu, the phone's locale.)

/// An organisation's working language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// English.
    #[default]
    English,
    /// Simplified Chinese.
    Chinese,
}

impl Language {
    /// The language of a tag: `en` or `zh-CN` (any `en-…` or `zh-…` tag).
    pub fn parse(tag: &str) -> Result<Self, String> {
        match tag
            .trim()
            .split(['-', '_'])
            .next()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("en") => Ok(Language::English),
            Some("zh") => Ok(Language::Chinese),
            _ => Err(format!(
                "the languages are `en` and `zh-CN`, not `{}`",
                tag.trim()
            )),
        }
    }

    /// The country whose phone numbers an organisation in this language has unless it says
    /// otherwise: China's for Chinese; none for English, which is spoken in too many.
    pub fn phone_region(self) -> Option<phonenumber::country::Id> {
        match self {
            Language::English => None,
            Language::Chinese => Some(phonenumber::country::Id::CN),
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
    fn tags_parse_by_their_language_and_others_are_refused_by_name() {
        for (tag, language) in [
            ("en", Language::English),
            ("en-GB", Language::English),
            ("zh-CN", Language::Chinese),
            ("zh_Hans", Language::Chinese),
        ] {
            assert_eq!(Language::parse(tag), Ok(language));
            assert_eq!(Language::parse(language.tag()), Ok(language));
        }
        let refused = Language::parse("fr").expect_err("French");
        assert!(refused.contains("`fr`"), "{refused}");
    }
}
