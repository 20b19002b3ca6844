//! Finding a job on the phone as an installer types: by the customer's name, the region or the
//! job's id, in Simplified or Traditional characters, and by the name's pinyin.
//!
//! Pinyin because typing Chinese on a phone means choosing characters from a pinyin keyboard's
//! candidates, which is slow with gloves on a roof; the initials (`zw` for 张伟) or the whole
//! toneless pinyin (`zhangwei`) are quicker. Every reading of a character counts for its
//! initial (a surname such as 曾 reads `zeng`, and the dictionary's first reading is `ceng`), so
//! a name is never missed for a reading; the whole pinyin takes every reading of the first
//! character (the surname) and the first reading of the others.
//! A phone holds tens of jobs, so they are matched in memory, not through an index.

use pinyin::ToPinyinMulti;

use crate::error::Result;
use crate::store::{JobQuery, Store};
use fieldsync_protocol::job::JobSummary;

impl Store {
    /// The jobs on this phone whose customer name, region or id matches `query` (see the module
    /// documentation), in the order of [`Store::list_jobs`]; none for an empty query.
    pub fn find_jobs(&self, query: &str) -> Result<Vec<JobSummary>> {
        let query = fold(query);
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let jobs = self.list_jobs(&JobQuery::default())?;
        Ok(jobs
            .into_iter()
            .filter(|job| {
                [&job.customer_name, &job.region, &job.id]
                    .iter()
                    .any(|text| fold(text).contains(&query))
                    || pinyin_matches(&job.customer_name, &query)
            })
            .collect())
    }
}

/// Text as it is compared: Simplified characters, lower case, no spaces.
fn fold(text: &str) -> String {
    fast2s::convert(text)
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `query` (folded) is a run of the initials of consecutive characters of `name`, or
/// part of its whole toneless pinyin (`ü` typed as `v`, as pinyin keyboards do, or as `u`).
/// Only Latin letters can match pinyin.
fn pinyin_matches(name: &str, query: &str) -> bool {
    if query.is_empty() || !query.chars().all(|c| c.is_ascii_lowercase()) {
        return false;
    }
    let chars: Vec<char> = fast2s::convert(name)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let readings: Vec<Vec<&'static str>> = chars
        .iter()
        .map(|c| match c.to_pinyin_multi() {
            Some(all) => all.into_iter().map(|r| r.plain()).collect(),
            None => Vec::new(),
        })
        .collect();
    let initials: Vec<Vec<char>> = chars
        .iter()
        .zip(&readings)
        .map(|(c, all)| {
            if all.is_empty() {
                c.to_lowercase().collect()
            } else {
                all.iter().filter_map(|r| r.chars().next()).collect()
            }
        })
        .collect();
    let wanted: Vec<char> = query.chars().collect();
    let by_initials = initials
        .windows(wanted.len())
        .any(|run| run.iter().zip(&wanted).all(|(set, c)| set.contains(c)));
    if by_initials || query.len() < 2 {
        return by_initials;
    }
    // The whole pinyin: every reading of the first character (a surname such as 曾 is `zeng`,
    // though the dictionary's first reading is `ceng`), the first reading of the others.
    let rest: String = chars
        .iter()
        .zip(&readings)
        .skip(1)
        .map(|(c, all)| match all.first() {
            Some(reading) => (*reading).to_owned(),
            None => c.to_lowercase().collect(),
        })
        .collect();
    let firsts: Vec<String> = match (chars.first(), readings.first()) {
        (Some(c), Some(all)) if all.is_empty() => vec![c.to_lowercase().collect()],
        (Some(_), Some(all)) => all.iter().map(|r| (*r).to_owned()).collect(),
        _ => Vec::new(),
    };
    firsts.iter().any(|first| {
        let whole = format!("{first}{rest}");
        [whole.replace('ü', "v"), whole.replace('ü', "u")]
            .iter()
            .any(|spelt| spelt.contains(query))
    })
}

#[cfg(test)]
mod tests {
    use super::pinyin_matches;
    use crate::store::Store;
    use crate::store::tests::seed_for;

    /// An installer finds the customer's job by characters in either script, by pinyin, by
    /// the job id, and nothing for nothing.
    #[test]
    fn an_installer_finds_a_job_by_name_pinyin_or_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("phone.db"), "wangfang").expect("open");
        seed_for(&store, "job-1", "wangfang", "张伟");
        seed_for(&store, "job-2", "wangfang", "李娜");
        seed_for(&store, "job-3", "wangfang", "Hotel Tanaka");
        let found = |query: &str| -> Vec<String> {
            let jobs = store.find_jobs(query).expect("find");
            jobs.into_iter().map(|j| j.id).collect()
        };
        assert_eq!(found("张"), ["job-1"]);
        assert_eq!(found("張偉"), ["job-1"]);
        assert_eq!(found("zw"), ["job-1"]);
        assert_eq!(found("lina"), ["job-2"]);
        assert_eq!(found("tanaka"), ["job-3"]);
        assert_eq!(found("JOB-2"), ["job-2"]);
        assert!(found("  ").is_empty());
        assert!(found("王").is_empty());
    }

    #[test]
    fn names_match_by_their_initials_and_their_whole_pinyin() {
        assert!(pinyin_matches("张伟", "zw"));
        assert!(pinyin_matches("张伟", "w"));
        assert!(pinyin_matches("张伟", "zhangwei"));
        assert!(pinyin_matches("张伟", "zhang"));
        assert!(!pinyin_matches("张伟", "wz"), "initials keep their order");
        assert!(!pinyin_matches("张伟", "zwl"), "longer than the name");
        assert!(
            !pinyin_matches("张伟", "张"),
            "characters are matched as text, not here"
        );
        // Traditional characters have the same pinyin as their Simplified forms.
        assert!(pinyin_matches("張偉", "zw"));
        // A polyphonic surname matches by any of its readings: 曾 as zeng.
        assert!(pinyin_matches("曾小贤", "zxx"));
        // Latin letters in a name stand for themselves.
        assert!(pinyin_matches("王先生 (VIP)", "wxs"));
        // A surname's other reading counts for the whole pinyin too, and ü is typed v or u.
        assert!(pinyin_matches("曾小贤", "zengxiaoxian"));
        assert!(pinyin_matches("吕芳", "lvfang"));
        assert!(pinyin_matches("吕芳", "lufang"));
        assert!(!pinyin_matches("张伟", ""));
    }
}
