//! The service report a customer signs on the installer's phone, as a PDF.
//!
//! The phone renders the report offline from the job's state at signing and stores the report's
//! SHA-256 with the signature; the server and dispatch later serve the very same bytes. A hash
//! only means something if the bytes are reproducible, so the output is a pure function of the
//! job, the signer, the signing time and the [`ReportOptions`] (language, time zone, and the
//! contents of the font file used): no clock reads, no random ids, no hash-map iteration order,
//! no floating-point formatting (every coordinate is an integer) and no compression (a
//! compressor's output may change between library versions).
//!
//! The writer is hand-written, a minimal PDF 1.4 writer, so no PDF crate (whose output could
//! change under us) decides the bytes. A report whose text fits Windows-1252 is drawn in the
//! standard Helvetica fonts every PDF reader has built in, with no font embedded. Any other
//! text (Chinese above all) is drawn in a font the app names, typically the platform's own CJK
//! font, of which only the glyphs used are embedded ([`font`]); without one, such characters
//! print as `?`.
//!
//! Any change to this module changes the bytes of reports rendered afterwards, so a signed report
//! must be kept as the bytes that were hashed rather than rendered again with newer code.

mod font;
pub(crate) mod labels;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{BlobRef, ChecklistItem, Job, PartUsed, TimeEntry};
use jiff::Timestamp;
pub use jiff::tz::TimeZone;

use font::{EmbeddedFont, FontNumbers, FontObjects};
pub use labels::Language;
use labels::{Text, Words};

/// A4 in PDF points.
const PAGE_WIDTH: i32 = 595;
const PAGE_HEIGHT: i32 = 842;
const LEFT_MARGIN: i32 = 50;
/// The width text may take between the margins.
const TEXT_WIDTH: i64 = (PAGE_WIDTH - 2 * LEFT_MARGIN) as i64;
/// The baseline of the first line on a page.
const TOP: i32 = 792;
/// No line is drawn below this baseline; the footer sits underneath.
const BOTTOM: i32 = 60;
const FOOTER_Y: i32 = 30;
const LEADING: i32 = 14;
/// Extra space above a heading, so blocks read as blocks.
const HEADING_GAP: i32 = 8;
/// In the standard fonts wrapping counts characters rather than glyph widths: 95 characters of
/// ordinary 10 pt Helvetica text fill the 495 pt between the margins.
const WRAP_WIDTH: i64 = 95;
/// Objects 1 and 2 are the catalog and the page tree; the fonts follow, then each page takes
/// two objects, the page and its content stream.
const FIRST_FONT_OBJECT: usize = 3;

const MS_PER_MINUTE: i64 = 60_000;
const MS_PER_DAY: i64 = 86_400_000;

/// How a report is printed, beyond the job itself.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The language of the report's own words.
    pub language: Language,
    /// The organisation's time zone: every time in the report is shown in it, with its offset
    /// from UTC.
    pub time_zone: TimeZone,
    /// Font files (OpenType or TrueType, or a collection of them such as
    /// `NotoSansCJK-Regular.ttc`) for text the standard fonts cannot show; the first that can be
    /// read is used, and only when the report needs it.
    pub fonts: Vec<PathBuf>,
    /// People's names by user id (the engineer, who recorded time): the customer reads `王芳`,
    /// not `wangfang`. An id without a name is printed as it is.
    pub names: BTreeMap<String, String>,
}

impl Default for ReportOptions {
    /// English, UTC, no font files, no names.
    fn default() -> Self {
        ReportOptions {
            language: Language::English,
            time_zone: TimeZone::UTC,
            fonts: Vec::new(),
            names: BTreeMap::new(),
        }
    }
}

/// Renders the service report for `job` as signed by `signed_by` at `signed_at` (ms since the
/// Unix epoch).
///
/// The same arguments (and font file) give byte-identical output on every platform, so the
/// SHA-256 stored with the signature can be checked by anyone holding the bytes. Times are shown
/// to the minute, so signing times within the same minute give the same report.
pub fn service_report_pdf(
    job: &Job,
    signed_by: &str,
    signed_at: Millis,
    options: &ReportOptions,
) -> Vec<u8> {
    let language = options.language;
    let lines = layout(
        job,
        &report_blocks(job, signed_by, signed_at, options),
        language,
    );
    let footer_sample = language.footer(job.id.trim(), 1, 1);
    let beyond_win_ansi: BTreeSet<char> = lines
        .iter()
        .flat_map(|(_, text)| text.chars())
        .chain(footer_sample.chars())
        .filter(|&c| win_ansi_byte(c).is_none())
        .collect();
    if !beyond_win_ansi.is_empty() {
        for path in &options.fonts {
            let Ok(data) = std::fs::read(path) else {
                continue;
            };
            let Some(font) = EmbeddedFont::choose(&data, &beyond_win_ansi) else {
                continue;
            };
            let typeface = Typeface::Embedded(&font);
            let pages = typeset(job, language, &lines, &typeface);
            if let Some(objects) = font.subset(&pages.chars(), &FontNumbers::EMBEDDED) {
                return write_pdf(&pages, Some(&objects));
            }
        }
    }
    write_pdf(&typeset(job, language, &lines, &Typeface::Standard), None)
}

/// Formats ms since the Unix epoch as `YYYY-MM-DD HH:MM` in `zone`, followed by the offset from
/// UTC (`UTC+08:00`, or `UTC` when there is none).
///
/// Seconds are dropped (not rounded). Instants beyond the years -9999 to 9999 are shown in UTC
/// (`-292275055-05-16 16:47 UTC`).
pub fn format_time(at: Millis, zone: &TimeZone) -> String {
    let Ok(zoned) = Timestamp::from_millisecond(at).map(|at| at.to_zoned(zone.clone())) else {
        return format_utc(at);
    };
    let year = i64::from(zoned.year());
    let sign = if year < 0 { "-" } else { "" };
    let offset = zoned.offset().seconds();
    let offset = if offset == 0 {
        "UTC".to_owned()
    } else {
        let direction = if offset < 0 { '-' } else { '+' };
        let minutes = offset.unsigned_abs() / 60;
        format!("UTC{direction}{:02}:{:02}", minutes / 60, minutes % 60)
    };
    format!(
        "{sign}{:04}-{:02}-{:02} {:02}:{:02} {offset}",
        year.unsigned_abs(),
        zoned.month(),
        zoned.day(),
        zoned.hour(),
        zoned.minute()
    )
}

/// Formats ms since the Unix epoch as `YYYY-MM-DD HH:MM UTC` (proleptic Gregorian, handles
/// negative and far-future values without panicking).
///
/// Seconds are dropped (not rounded), and years before year 0 get a leading minus sign, e.g.
/// `-0001-12-31 23:59 UTC`.
fn format_utc(at: Millis) -> String {
    let (year, month, day) = civil_from_days(at.div_euclid(MS_PER_DAY));
    let minute_of_day = at.rem_euclid(MS_PER_DAY) / MS_PER_MINUTE;
    let hour = minute_of_day / 60;
    let minute = minute_of_day % 60;
    let sign = if year < 0 { "-" } else { "" };
    let year = year.unsigned_abs();
    format!("{sign}{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

/// Howard Hinnant's `civil_from_days`: the proleptic Gregorian (year, month, day) of a count of
/// days since 1970-01-01. Integer-only and exact for every day an `i64` of milliseconds reaches.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Counting from 0000-03-01 puts the leap day at the end of each year, so month lengths
    // follow a fixed pattern; 146 097 days are exactly one 400-year Gregorian cycle.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_based_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_based_month + 2) / 5 + 1;
    let month = if march_based_month < 10 {
        march_based_month + 3
    } else {
        march_based_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A block of the report: a heading and the lines under it (a line may hold line breaks).
struct Block {
    heading: Text,
    lines: Vec<String>,
}

impl Block {
    fn new(heading: Text, lines: Vec<String>) -> Self {
        Block { heading, lines }
    }
}

/// What the block builders share: the language, and the zone times are shown in.
struct Printer<'a> {
    language: Language,
    zone: &'a TimeZone,
    names: &'a BTreeMap<String, String>,
}

impl Printer<'_> {
    /// A person by name where the report knows it, else by user id.
    fn person<'n>(&'n self, user: &'n str) -> &'n str {
        self.names.get(user).map_or(user, String::as_str)
    }

    fn time(&self, at: Millis) -> String {
        format_time(at, self.zone)
    }

    /// Adds `label: value` unless the value is blank.
    fn field(&self, lines: &mut Vec<String>, label: Text, value: &str) {
        let value = value.trim();
        if !value.is_empty() {
            lines.push(self.language.labelled(label, value));
        }
    }
}

/// The report's blocks in reading order, without the empty ones.
fn report_blocks(
    job: &Job,
    signed_by: &str,
    signed_at: Millis,
    options: &ReportOptions,
) -> Vec<Block> {
    let printer = Printer {
        language: options.language,
        zone: &options.time_zone,
        names: &options.names,
    };
    let signature = options
        .language
        .signed(signed_by.trim(), &printer.time(signed_at));
    let blocks = [
        customer_block(&printer, job),
        site_block(&printer, job),
        product_block(&printer, job),
        problem_block(&printer, job),
        appointment_block(&printer, job),
        time_block(&printer, job),
        parts_block(&printer, job),
        checklist_block(job),
        outcome_block(&printer, job),
        notes_block(job),
        photos_block(&printer, &job.photos),
        Block::new(Text::Signature, vec![signature]),
    ];
    blocks
        .into_iter()
        .filter(|block| !block.lines.is_empty())
        .collect()
}

fn customer_block(printer: &Printer<'_>, job: &Job) -> Block {
    let mut lines = Vec::new();
    printer.field(&mut lines, Text::Name, &job.customer.name);
    let tier = printer.language.tier(job.customer.tier);
    printer.field(&mut lines, Text::Tier, tier);
    Block::new(Text::Customer, lines)
}

fn site_block(printer: &Printer<'_>, job: &Job) -> Block {
    let mut lines = Vec::new();
    printer.field(&mut lines, Text::Address, &job.site.full_address());
    printer.field(&mut lines, Text::Region, &job.site.region);
    Block::new(Text::Site, lines)
}

fn product_block(printer: &Printer<'_>, job: &Job) -> Block {
    let mut lines = Vec::new();
    printer.field(&mut lines, Text::Model, &job.product.model);
    printer.field(&mut lines, Text::Serial, &job.product.serial);
    Block::new(Text::Product, lines)
}

fn problem_block(printer: &Printer<'_>, job: &Job) -> Block {
    let mut lines = Vec::new();
    printer.field(&mut lines, Text::Category, &job.problem.category);
    printer.field(&mut lines, Text::Description, &job.problem.description);
    Block::new(Text::Problem, lines)
}

fn appointment_block(printer: &Printer<'_>, job: &Job) -> Block {
    let mut lines = Vec::new();
    if let Some(window) = job.appointment {
        let window = format!(
            "{} – {}",
            printer.time(window.start),
            printer.time(window.end)
        );
        printer.field(&mut lines, Text::Window, &window);
    }
    if let Some(assignee) = &job.assignee {
        printer.field(&mut lines, Text::Engineer, printer.person(assignee));
    }
    Block::new(Text::Appointment, lines)
}

fn time_block(printer: &Printer<'_>, job: &Job) -> Block {
    let mut lines: Vec<String> = job
        .time_entries
        .iter()
        .map(|entry| time_line(printer, entry))
        .collect();
    if !lines.is_empty() {
        // The total adds the rounded minutes shown, so the report adds up as printed.
        let total = job
            .time_entries
            .iter()
            .map(entry_minutes)
            .fold(0_i64, i64::saturating_add);
        let minutes = printer.language.text(Text::Minutes);
        printer.field(&mut lines, Text::Total, &format!("{total} {minutes}"));
    }
    Block::new(Text::TimeOnSite, lines)
}

fn time_line(printer: &Printer<'_>, entry: &TimeEntry) -> String {
    let language = printer.language;
    let kind = language.time_kind(entry.kind);
    let start = printer.time(entry.start);
    let end = printer.time(entry.end);
    let minutes = entry_minutes(entry);
    let unit = language.text(Text::Minutes);
    let by = entry.by.trim();
    let by = if by.is_empty() {
        String::new()
    } else {
        format!("  {}", language.recorded_by(printer.person(by)))
    };
    format!("{kind}  {start} – {end}  ({minutes} {unit}){by}")
}

/// Whole minutes rounded to the nearest, so 90 seconds of work shows as 2 min rather than 1. An
/// entry ending before it starts (a bad device clock) counts as 0.
fn entry_minutes(entry: &TimeEntry) -> i64 {
    let ms = entry.end.saturating_sub(entry.start).max(0);
    ms.saturating_add(MS_PER_MINUTE / 2) / MS_PER_MINUTE
}

fn parts_block(printer: &Printer<'_>, job: &Job) -> Block {
    let lines = job
        .parts
        .iter()
        .map(|part| part_line(printer, part))
        .collect();
    Block::new(Text::PartsUsed, lines)
}

fn part_line(printer: &Printer<'_>, part: &PartUsed) -> String {
    let number = part.part_number.trim();
    let quantity = part.quantity;
    let warranty = if part.under_warranty {
        format!(" ({})", printer.language.text(Text::UnderWarranty))
    } else {
        String::new()
    };
    format!("{number} × {quantity}{warranty}")
}

fn checklist_block(job: &Job) -> Block {
    let mut items: Vec<(&String, &ChecklistItem)> = job.checklist.iter().collect();
    items.sort_by(|(a_key, a), (b_key, b)| {
        a.position.cmp(&b.position).then_with(|| a_key.cmp(b_key))
    });
    let lines = items
        .into_iter()
        .map(|(_, item)| checklist_line(item))
        .collect();
    Block::new(Text::Checklist, lines)
}

fn checklist_line(item: &ChecklistItem) -> String {
    let mark = if item.done { "[x]" } else { "[ ]" };
    let label = item.label.trim();
    let mut line = format!("{mark} {label}");
    let value = item.value.trim();
    if !value.is_empty() {
        line.push_str(": ");
        line.push_str(value);
    }
    let note = item.note.trim();
    if !note.is_empty() {
        line.push_str(" – ");
        line.push_str(note);
    }
    line
}

fn outcome_block(printer: &Printer<'_>, job: &Job) -> Block {
    let outcome = &job.outcome;
    let mut lines = Vec::new();
    printer.field(&mut lines, Text::Cause, &outcome.cause);
    printer.field(&mut lines, Text::Fix, &outcome.fix);
    printer.field(&mut lines, Text::Summary, &outcome.summary);
    if !lines.is_empty() || outcome.first_visit_success.is_some() {
        let fixed = match outcome.first_visit_success {
            Some(true) => Text::Yes,
            Some(false) => Text::No,
            None => Text::Unknown,
        };
        let language = printer.language;
        lines.insert(
            0,
            language.labelled(Text::FirstVisitFix, language.text(fixed)),
        );
    }
    Block::new(Text::Outcome, lines)
}

fn notes_block(job: &Job) -> Block {
    let notes = job.notes.trim();
    let lines = if notes.is_empty() {
        Vec::new()
    } else {
        vec![notes.to_owned()]
    };
    Block::new(Text::Notes, lines)
}

fn photos_block(printer: &Printer<'_>, photos: &[BlobRef]) -> Block {
    if photos.is_empty() {
        return Block::new(Text::Photos, Vec::new());
    }
    let language = printer.language;
    let mut lines = vec![language.photo_count(photos.len())];
    for (index, photo) in photos.iter().enumerate() {
        let caption = photo.caption.trim();
        let caption = if caption.is_empty() {
            format!("{} {}", language.text(Text::Photo), index + 1)
        } else {
            caption.to_owned()
        };
        // A prefix is enough to tell photos apart on paper; the full hash is in the job.
        let hash: String = photo.sha256.chars().take(16).collect();
        lines.push(format!("{caption} ({hash}…)"));
    }
    Block::new(Text::Photos, lines)
}

/// How a line of text is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Title,
    Heading,
    Body,
    Footer,
}

impl Style {
    /// The size in points.
    fn size(self) -> i32 {
        match self {
            Style::Title => 16,
            Style::Heading => 12,
            Style::Body => 10,
            Style::Footer => 8,
        }
    }

    fn is_bold(self) -> bool {
        matches!(self, Style::Title | Style::Heading)
    }

    /// How far the baseline moves down after a line in this style.
    fn advance(self) -> i32 {
        match self {
            Style::Title => 22,
            Style::Heading => 16,
            Style::Body | Style::Footer => LEADING,
        }
    }
}

/// The fonts a report is drawn in.
enum Typeface<'a> {
    /// Helvetica and Helvetica-Bold, built into every reader; text in Windows-1252.
    Standard,
    /// One embedded font; titles and headings are drawn bold by stroking the outlines as well.
    Embedded(&'a EmbeddedFont<'a>),
}

impl Typeface<'_> {
    /// What `c` is drawn as: a character the embedded font lacks prints as `?`, as it does in
    /// the standard fonts (whose encoding does that when the page is written).
    fn shown(&self, c: char) -> char {
        match self {
            Typeface::Embedded(font) if !font.covers(c) => '?',
            _ => c,
        }
    }

    /// How much of a row `c` takes, and how much a row of `style` holds, in the same unit.
    fn width(&self, c: char) -> i64 {
        match self {
            Typeface::Standard => 1,
            Typeface::Embedded(font) => font.width(c),
        }
    }

    fn row_width(&self, style: Style) -> i64 {
        match self {
            Typeface::Standard => WRAP_WIDTH,
            Typeface::Embedded(_) => TEXT_WIDTH * 1000 / i64::from(style.size()),
        }
    }
}

/// One line as drawn, fitting the width between the margins.
struct Row {
    style: Style,
    text: String,
}

/// Every line of the report in order, split at line breaks and with unprintable characters
/// replaced, before it is wrapped.
fn layout(job: &Job, blocks: &[Block], language: Language) -> Vec<(Style, String)> {
    let mut lines = Vec::new();
    let mut push = |style: Style, text: &str| {
        for line in text_lines(text) {
            lines.push((style, line.chars().filter_map(printable).collect()));
        }
    };
    push(Style::Title, language.text(Text::Title));
    let kind = language.kind(job.kind);
    push(
        Style::Body,
        &format!("{} {} · {kind}", language.text(Text::Job), job.id.trim()),
    );
    let status = language.status(job.status());
    push(Style::Body, &language.labelled(Text::Status, status));
    for block in blocks {
        push(Style::Heading, language.text(block.heading));
        for line in &block.lines {
            push(Style::Body, line);
        }
    }
    lines
}

/// The report's rows wrapped and placed on pages, with each page's footer.
struct Pages {
    rows: Vec<Row>,
    /// Each page: the index in `rows` and the baseline of every row it holds.
    pages: Vec<Vec<(usize, i32)>>,
    footers: Vec<String>,
}

impl Pages {
    /// Every character drawn.
    fn chars(&self) -> BTreeSet<char> {
        self.rows
            .iter()
            .map(|row| row.text.as_str())
            .chain(self.footers.iter().map(String::as_str))
            .flat_map(str::chars)
            .collect()
    }
}

/// Wraps the report's lines in `typeface` and places them on pages.
fn typeset(
    job: &Job,
    language: Language,
    lines: &[(Style, String)],
    typeface: &Typeface<'_>,
) -> Pages {
    let rows: Vec<Row> = lines
        .iter()
        .flat_map(|(style, text)| {
            let text: String = text.chars().map(|c| typeface.shown(c)).collect();
            let width = typeface.row_width(*style);
            wrap(&text, width, |c| typeface.width(c))
                .into_iter()
                .map(|text| Row {
                    style: *style,
                    text,
                })
        })
        .collect();
    let pages = paginate(&rows);
    let page_count = pages.len();
    let footers = (1..=page_count)
        .map(|page| {
            let footer = language.footer(job.id.trim(), page, page_count);
            footer
                .chars()
                .filter_map(printable)
                .map(|c| typeface.shown(c))
                .collect()
        })
        .collect();
    Pages {
        rows,
        pages,
        footers,
    }
}

/// Writes the PDF: in the standard fonts, or in the embedded subset `font`.
fn write_pdf(pages: &Pages, font: Option<&FontObjects>) -> Vec<u8> {
    let font_objects = match font {
        None => 2,
        Some(_) => FontNumbers::COUNT,
    };
    let first_page = FIRST_FONT_OBJECT + font_objects;
    let page_count = pages.pages.len();
    let mut pdf = PdfWriter::with_header();
    let kids: Vec<String> = (0..page_count)
        .map(|index| format!("{} 0 R", first_page + 2 * index))
        .collect();
    let kids = kids.join(" ");
    pdf.object(b"<< /Type /Catalog /Pages 2 0 R >>");
    pdf.object(format!("<< /Type /Pages /Kids [{kids}] /Count {page_count} >>").as_bytes());
    let resources = match font {
        None => {
            pdf.object(standard_font("Helvetica").as_bytes());
            pdf.object(standard_font("Helvetica-Bold").as_bytes());
            format!(
                "/F1 {FIRST_FONT_OBJECT} 0 R /F2 {} 0 R",
                FIRST_FONT_OBJECT + 1
            )
        }
        Some(font) => {
            pdf.object(font.type0.as_bytes());
            pdf.object(font.cid_font.as_bytes());
            pdf.object(font.descriptor.as_bytes());
            let (dictionary, program) = &font.program;
            pdf.stream(dictionary, program);
            pdf.stream("", &font.to_unicode);
            format!("/F1 {FIRST_FONT_OBJECT} 0 R")
        }
    };
    debug_assert_eq!(pdf.next_number(), first_page, "the kids name the pages");
    for (page, footer) in pages.pages.iter().zip(&pages.footers) {
        let contents = pdf.next_number() + 1;
        pdf.object(page_dictionary(&resources, contents).as_bytes());
        let mut ops: Vec<String> = page
            .iter()
            .filter_map(|&(index, y)| Some((pages.rows.get(index)?, y)))
            .filter(|(row, _)| !row.text.is_empty())
            .map(|(row, y)| text_op(font, row.style, y, &row.text))
            .collect();
        ops.push(text_op(font, Style::Footer, FOOTER_Y, footer));
        pdf.stream("", ops.join("\n").as_bytes());
    }
    pdf.finish()
}

/// Splits at every kind of line break a phone keyboard or a paste can produce.
fn text_lines(text: &str) -> Vec<&str> {
    text.split("\r\n")
        .flat_map(|part| part.split(is_line_break))
        .collect()
}

fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// What a character of a line prints as: tabs, stray control characters and unusual spaces as
/// a plain space, marks that change nothing visible not at all.
fn printable(c: char) -> Option<char> {
    if c.is_control() {
        // Line breaks were split off before.
        return Some(' ');
    }
    if is_invisible(c) {
        return None;
    }
    // Latin-1 keeps its no-break space, which Windows-1252 has.
    if u32::from(c) > 0xFF && c.is_whitespace() {
        return Some(' ');
    }
    Some(c)
}

/// Breaks a line into rows no wider than `row_width` (each character as wide as `width` says):
/// at the last space that fits, or inside a word when the word alone is wider than a row.
fn wrap(line: &str, row_width: i64, width: impl Fn(char) -> i64) -> Vec<String> {
    let chars: Vec<char> = line.trim_end_matches(' ').chars().collect();
    let mut rows = Vec::new();
    let mut start = 0;
    loop {
        let mut used = 0;
        let mut end = start;
        while let Some(&c) = chars.get(end) {
            used += width(c);
            if used > row_width {
                break;
            }
            end += 1;
        }
        let Some(rest) = chars.get(start..) else {
            break;
        };
        if end >= chars.len() {
            rows.push(rest.iter().collect());
            break;
        }
        // A break at the last space up to and including the character that did not fit, as
        // long as text comes before it (an indented line does not leave an empty row); else
        // inside the word, after at least one character so that nothing loops forever.
        let window = &rest[..=end - start];
        let at = window
            .iter()
            .rposition(|&c| c == ' ')
            .filter(|&space| window[..space].iter().any(|&c| c != ' '))
            .unwrap_or(end - start)
            .max(1);
        let row: String = rest[..at].iter().collect();
        rows.push(row.trim_end_matches(' ').to_owned());
        start += at;
        while chars.get(start) == Some(&' ') {
            start += 1;
        }
        if start >= chars.len() {
            break;
        }
    }
    rows
}

/// The Windows-1252 (WinAnsiEncoding) byte of a character, the encoding of the standard fonts
/// in every PDF reader; `None` for characters it lacks.
fn win_ansi_byte(c: char) -> Option<u8> {
    // Printable ASCII and Latin-1 keep their code points in Windows-1252 (the C1 controls in
    // between are never printed).
    u8::try_from(c).ok().or_else(|| cp1252_special(c))
}

/// Marks that change nothing visible, or combine with the previous letter: dropping them prints
/// a decomposed "é" as "e" rather than "e?".
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{E0000}'..='\u{E007F}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

/// The characters Windows-1252 puts at 0x80 to 0x9F instead of the C1 controls.
fn cp1252_special(c: char) -> Option<u8> {
    let byte = match c {
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        _ => return None,
    };
    Some(byte)
}

/// A PDF literal string for WinAnsi bytes. Bytes outside printable ASCII are octal escapes, so
/// the content streams stay ASCII (safe to diff, log and move around as text).
fn pdf_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('(');
    for &byte in bytes {
        match byte {
            b'(' | b')' | b'\\' => {
                out.push('\\');
                out.push(char::from(byte));
            }
            0x20..=0x7E => out.push(char::from(byte)),
            _ => {
                out.push('\\');
                for shift in [6_u32, 3, 0] {
                    out.push(char::from(b'0' + ((byte >> shift) & 7)));
                }
            }
        }
    }
    out.push(')');
    out
}

/// A text in the standard fonts as a PDF string: Windows-1252, `?` for what it lacks.
fn win_ansi_string(text: &str) -> String {
    let bytes: Vec<u8> = text
        .chars()
        .map(|c| win_ansi_byte(c).unwrap_or(b'?'))
        .collect();
    pdf_string(&bytes)
}

/// A text in the embedded font as a hex string of two-byte codes (`.notdef` for a character
/// the font lacks).
fn code_string(font: &FontObjects, text: &str) -> String {
    let codes: String = text
        .chars()
        .map(|c| format!("{:04X}", font.codes.get(&c).copied().unwrap_or(0)))
        .collect();
    format!("<{codes}>")
}

/// One self-contained text object, so every line states its own font, rendering and position.
fn text_op(font: Option<&FontObjects>, style: Style, y: i32, text: &str) -> String {
    let size = style.size();
    match font {
        None => {
            let name = if style.is_bold() { "F2" } else { "F1" };
            let text = win_ansi_string(text);
            format!("BT /{name} {size} Tf {LEFT_MARGIN} {y} Td {text} Tj ET")
        }
        Some(font) => {
            // Rendering mode 2 fills and strokes the outlines: a bold look from a regular
            // font, without embedding a second one. The mode outlives the text object, so
            // every line sets its own.
            let mode = if style.is_bold() {
                "0.4 w 2 Tr"
            } else {
                "0 Tr"
            };
            let text = code_string(font, text);
            format!("BT /F1 {size} Tf {mode} {LEFT_MARGIN} {y} Td {text} Tj ET")
        }
    }
}

fn standard_font(base_font: &str) -> String {
    format!("<< /Type /Font /Subtype /Type1 /BaseFont /{base_font} /Encoding /WinAnsiEncoding >>")
}

fn page_dictionary(fonts: &str, contents: usize) -> String {
    format!(
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] \
         /Resources << /Font << {fonts} >> >> /Contents {contents} 0 R >>"
    )
}

/// Places rows on pages top to bottom, starting a new page when the next baseline would fall
/// below [`BOTTOM`].
/// Each page is a list of (index into `rows`, baseline).
fn paginate(rows: &[Row]) -> Vec<Vec<(usize, i32)>> {
    let mut pages = Vec::new();
    let mut page = Vec::new();
    let mut y = TOP;
    for (index, row) in rows.iter().enumerate() {
        let is_heading = row.style == Style::Heading;
        if is_heading && !page.is_empty() {
            y -= HEADING_GAP;
        }
        // A heading also needs room for the line under it, so it never ends a page alone.
        let needed = if is_heading { row.style.advance() } else { 0 };
        if y - needed < BOTTOM && !page.is_empty() {
            pages.push(std::mem::take(&mut page));
            y = TOP;
        }
        page.push((index, y));
        y -= row.style.advance();
    }
    pages.push(page);
    pages
}

/// Writes numbered objects in order and remembers where each starts, for the xref table.
struct PdfWriter {
    out: Vec<u8>,
    offsets: Vec<usize>,
}

impl PdfWriter {
    /// The header, then a comment of bytes above 127 so transfer tools treat the file as binary.
    fn with_header() -> Self {
        PdfWriter {
            out: b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec(),
            offsets: Vec::new(),
        }
    }

    /// Writes the next object (numbered from 1 in call order).
    fn object(&mut self, body: &[u8]) {
        self.offsets.push(self.out.len());
        let number = self.offsets.len();
        self.out
            .extend_from_slice(format!("{number} 0 obj\n").as_bytes());
        self.out.extend_from_slice(body);
        self.out.extend_from_slice(b"\nendobj\n");
    }

    /// The number the next object gets.
    fn next_number(&self) -> usize {
        self.offsets.len() + 1
    }

    /// Writes the next object as an uncompressed stream; `entries` are more entries of its
    /// dictionary (after `/Length`), each starting with a space.
    fn stream(&mut self, entries: &str, data: &[u8]) {
        let mut body = format!("<< /Length {}{entries} >>\nstream\n", data.len()).into_bytes();
        body.extend_from_slice(data);
        // The end-of-line before `endstream` is not part of the data (nor of /Length).
        body.extend_from_slice(b"\nendstream");
        self.object(&body);
    }

    /// Appends the xref table and the trailer.
    fn finish(mut self) -> Vec<u8> {
        let xref_at = self.out.len();
        let size = self.offsets.len() + 1;
        // Each entry is exactly 20 bytes, its end of line the two bytes " \n".
        let mut xref = format!("xref\n0 {size}\n0000000000 65535 f \n");
        xref.extend(
            self.offsets
                .iter()
                .map(|offset| format!("{offset:010} 00000 n \n")),
        );
        xref.push_str("trailer\n");
        self.out.extend_from_slice(xref.as_bytes());
        let trailer = format!("<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n");
        self.out.extend_from_slice(trailer.as_bytes());
        self.out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use fieldsync_protocol::job::{
        Appointment, Customer, JobKind, Outcome, Problem, Product, Site, Tier, TimeKind,
    };

    /// 2026-11-18 12:06 UTC (see `format_utc_known_values`).
    const SIGNED_AT: Millis = 1_795_003_600_000;
    /// Length of `%PDF-1.4\n` plus the binary comment line.
    const HEADER_LEN: usize = 15;

    fn sample_job() -> Job {
        let mut checklist = BTreeMap::new();
        checklist.insert(
            "a".to_owned(),
            ChecklistItem {
                label: "Leak test".into(),
                position: 2,
                ..ChecklistItem::default()
            },
        );
        checklist.insert(
            "b".to_owned(),
            ChecklistItem {
                label: "Pressure".into(),
                position: 1,
                done: true,
                value: "1.5 bar".into(),
                ..ChecklistItem::default()
            },
        );
        Job {
            id: "J-1001".into(),
            kind: JobKind::Repair,
            customer: Customer {
                name: "Müller GmbH".into(),
                tier: Tier::Vip,
                ..Customer::default()
            },
            site: Site {
                address: "Hauptstraße 1, Berlin".into(),
                region: "north".into(),
                ..Site::default()
            },
            product: Product {
                model: "HX-200".into(),
                serial: "SN123".into(),
                ..Product::default()
            },
            problem: Problem {
                category: "leak".into(),
                description: "Water under the unit".into(),
            },
            appointment: Some(Appointment {
                start: 1_795_000_000_000,
                end: 1_795_007_200_000,
            }),
            assignee: Some("inst-7".into()),
            checklist,
            notes: "Replaced the seal.".into(),
            parts: vec![PartUsed {
                part_number: "SEAL-9".into(),
                quantity: 2,
                under_warranty: true,
                ..PartUsed::default()
            }],
            time_entries: vec![TimeEntry {
                kind: TimeKind::OnSite,
                start: 1_795_000_000_000,
                end: 1_795_002_700_000,
                by: "inst-7".into(),
            }],
            outcome: Outcome {
                first_visit_success: Some(true),
                fix: "New seal".into(),
                ..Outcome::default()
            },
            photos: vec![BlobRef {
                sha256: "ab".repeat(32),
                caption: "Before".into(),
                ..BlobRef::default()
            }],
            ..Job::default()
        }
    }

    fn english_report(job: &Job, signed_by: &str, signed_at: Millis) -> Vec<u8> {
        service_report_pdf(job, signed_by, signed_at, &ReportOptions::default())
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        find(haystack, needle).is_some()
    }

    fn count(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .filter(|window| *window == needle)
            .count()
    }

    fn number_at(bytes: &[u8]) -> usize {
        let digits: Vec<u8> = bytes
            .iter()
            .copied()
            .take_while(u8::is_ascii_digit)
            .collect();
        std::str::from_utf8(&digits)
            .expect("ascii digits")
            .parse()
            .expect("a number")
    }

    /// Parses the xref table, checks every entry and the trailer, and returns the offset of
    /// each object (object `n` at index `n - 1`).
    fn xref_offsets(pdf: &[u8]) -> Vec<usize> {
        let startxref = find(pdf, b"startxref\n").expect("startxref") + b"startxref\n".len();
        let xref_at = number_at(&pdf[startxref..]);
        assert!(
            pdf[xref_at..].starts_with(b"xref\n0 "),
            "startxref misses xref"
        );
        let size = number_at(&pdf[xref_at + b"xref\n0 ".len()..]);
        let entries_at = xref_at + format!("xref\n0 {size}\n").len();
        let mut offsets = Vec::new();
        for number in 0..size {
            let entry = &pdf[entries_at + 20 * number..entries_at + 20 * (number + 1)];
            if number == 0 {
                assert_eq!(entry, b"0000000000 65535 f \n");
                continue;
            }
            assert_eq!(&entry[10..], b" 00000 n \n", "entry {number}");
            let offset = number_at(entry);
            let expected = format!("{number} 0 obj\n");
            assert!(
                pdf[offset..].starts_with(expected.as_bytes()),
                "xref entry {number} points at the wrong place"
            );
            offsets.push(offset);
        }
        let trailer = &pdf[entries_at + 20 * size..];
        let expected = format!("trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n");
        assert!(trailer.starts_with(expected.as_bytes()));
        offsets
    }

    /// The body of object `number` (between `N 0 obj\n` and `\nendobj`).
    fn object_body<'a>(pdf: &'a [u8], offsets: &[usize], number: usize) -> &'a [u8] {
        let start = offsets[number - 1] + format!("{number} 0 obj\n").len();
        let end = start + find(&pdf[start..], b"\nendobj\n").expect("endobj");
        &pdf[start..end]
    }

    /// Checks every stream's `/Length` against where `endstream` really is.
    fn check_stream_lengths(pdf: &[u8]) {
        let mut from = 0;
        let mut streams = 0;
        while let Some(at) = find(&pdf[from..], b"<< /Length ") {
            let length_at = from + at + b"<< /Length ".len();
            let length = number_at(&pdf[length_at..]);
            let data_at = length_at
                + find(&pdf[length_at..], b"stream\n").expect("stream keyword")
                + b"stream\n".len();
            assert!(pdf[data_at + length..].starts_with(b"\nendstream\nendobj\n"));
            from = data_at + length;
            streams += 1;
        }
        assert!(streams > 0);
    }

    fn text_ops(pdf: &[u8]) -> Vec<&[u8]> {
        pdf.split(|&byte| byte == b'\n')
            .filter(|line| line.starts_with(b"BT ") && line.ends_with(b" Tj ET"))
            .collect()
    }

    fn unescaped_parentheses(line: &[u8]) -> usize {
        let mut found = 0;
        let mut escaped = false;
        for &byte in line {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'(' || byte == b')' {
                found += 1;
            }
        }
        found
    }

    #[test]
    fn same_input_gives_the_same_bytes_and_any_change_shows() {
        let job = sample_job();
        let report = english_report(&job, "Ann Customer", SIGNED_AT);
        assert_eq!(
            report,
            english_report(&job.clone(), "Ann Customer", SIGNED_AT)
        );

        let mut other_note = job.clone();
        other_note.notes.push('!');
        assert_ne!(
            report,
            english_report(&other_note, "Ann Customer", SIGNED_AT)
        );
        assert_ne!(report, english_report(&job, "Bob Customer", SIGNED_AT));
        assert_ne!(
            report,
            english_report(&job, "Ann Customer", SIGNED_AT + MS_PER_MINUTE)
        );
    }

    #[test]
    fn structure_is_valid_pdf() {
        let pdf = english_report(&sample_job(), "Ann Customer", SIGNED_AT);
        assert!(pdf.starts_with(b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let offsets = xref_offsets(&pdf);
        // Catalog, pages, two fonts, one page and its content stream.
        assert_eq!(offsets.len(), 6);
        assert_eq!(
            object_body(&pdf, &offsets, 1),
            b"<< /Type /Catalog /Pages 2 0 R >>"
        );
        assert!(
            object_body(&pdf, &offsets, 3)
                .ends_with(b"/BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
        );
        check_stream_lengths(&pdf);
        assert!(pdf[HEADER_LEN..].is_ascii());
    }

    #[test]
    fn content_follows_the_job_in_order() {
        let pdf = english_report(&sample_job(), "Ann Customer", SIGNED_AT);
        let expected: [&[u8]; 14] = [
            b"(Service report)",
            b"(Job J-1001 \\267 repair)",
            b"(Name: M\\374ller GmbH)",
            b"(Address: Hauptstra\\337e 1, Berlin)",
            b"(Serial: SN123)",
            b"(Description: Water under the unit)",
            b"(Window: 2026-11-18 11:06 UTC \\226 2026-11-18 13:06 UTC)",
            b"(On site  2026-11-18 11:06 UTC \\226 2026-11-18 11:51 UTC  \\(45 min\\)  by inst-7)",
            b"(Total: 45 min)",
            b"(SEAL-9 \\327 2 \\(under warranty\\))",
            b"([x] Pressure: 1.5 bar)",
            b"([ ] Leak test)",
            b"(First-visit fix: yes)",
            b"(Before \\(abababababababab\\205\\))",
        ];
        let mut from = 0;
        for text in expected {
            let at = find(&pdf[from..], text).unwrap_or_else(|| {
                panic!("{} missing or out of order", String::from_utf8_lossy(text))
            });
            from += at + text.len();
        }
        let signed = b"(Signed by Ann Customer on 2026-11-18 12:06 UTC)";
        assert!(find(&pdf[from..], signed).is_some());
        assert!(contains(&pdf, b"(Job J-1001 - page 1 of 1)"));
    }

    #[test]
    fn empty_blocks_are_left_out() {
        let job = Job {
            id: "J-2".into(),
            ..Job::default()
        };
        let pdf = english_report(&job, "Ann", SIGNED_AT);
        let headings: [&[u8]; 10] = [
            b"(Site)",
            b"(Product)",
            b"(Problem)",
            b"(Appointment)",
            b"(Time on site)",
            b"(Parts used)",
            b"(Checklist)",
            b"(Outcome)",
            b"(Notes)",
            b"(Photos)",
        ];
        for heading in headings {
            assert!(
                !contains(&pdf, heading),
                "{}",
                String::from_utf8_lossy(heading)
            );
        }
        assert!(contains(&pdf, b"(Service report)"));
        assert!(contains(&pdf, b"(Status: new)"));
        assert!(contains(&pdf, b"(Signature)"));
        xref_offsets(&pdf);
    }

    #[test]
    fn a_long_note_runs_over_several_pages() {
        let mut job = sample_job();
        // 20,000 characters.
        job.notes = "word ".repeat(4_000);
        let pdf = english_report(&job, "Ann Customer", SIGNED_AT);
        let offsets = xref_offsets(&pdf);
        check_stream_lengths(&pdf);

        let pages = count(&pdf, b"<< /Type /Page /Parent");
        assert!(pages > 1, "{pages} page(s)");
        let count_at = find(&pdf, b"/Count ").expect("/Count") + b"/Count ".len();
        assert_eq!(number_at(&pdf[count_at..]), pages);
        assert_eq!(offsets.len(), 4 + 2 * pages);

        let kids_at = find(&pdf, b"/Kids [").expect("/Kids") + b"/Kids [".len();
        let kids_end = kids_at + find(&pdf[kids_at..], b"]").expect("]");
        let kids = std::str::from_utf8(&pdf[kids_at..kids_end]).expect("ascii");
        let kids: Vec<usize> = kids
            .split(" 0 R")
            .map(str::trim)
            .filter(|kid| !kid.is_empty())
            .map(|kid| kid.parse().expect("object number"))
            .collect();
        assert_eq!(kids.len(), pages);
        for kid in kids {
            assert!(object_body(&pdf, &offsets, kid).starts_with(b"<< /Type /Page /Parent"));
        }

        let first = format!("(Job J-1001 - page 1 of {pages})");
        let last = format!("(Job J-1001 - page {pages} of {pages})");
        assert!(contains(&pdf, first.as_bytes()));
        assert!(contains(&pdf, last.as_bytes()));

        for op in text_ops(&pdf) {
            let y: i32 = std::str::from_utf8(op.split(|&byte| byte == b' ').nth(5).expect("y"))
                .expect("ascii")
                .parse()
                .expect("integer y");
            assert!(
                y == FOOTER_Y || (BOTTOM..=TOP).contains(&y),
                "line at y={y}"
            );
        }
    }

    #[test]
    fn foreign_text_and_pdf_syntax_in_a_note_stay_inside_their_string() {
        let mut job = sample_job();
        job.notes = "安装 (left) \\ right) ((\tend".into();
        let pdf = english_report(&job, "Ann (the owner)", SIGNED_AT);
        xref_offsets(&pdf);
        check_stream_lengths(&pdf);
        assert!(pdf[HEADER_LEN..].is_ascii());
        assert!(contains(&pdf, br"(?? \(left\) \\ right\) \(\( end)"));
        assert!(contains(&pdf, br"(Signed by Ann \(the owner\) on"));
        let ops = text_ops(&pdf);
        assert!(!ops.is_empty());
        for op in ops {
            assert_eq!(
                unescaped_parentheses(op),
                2,
                "{}",
                String::from_utf8_lossy(op)
            );
        }
    }

    #[test]
    fn text_is_encoded_as_win_ansi() {
        let printed: String = "€ “ü” – ok\t安\u{3000}x"
            .chars()
            .filter_map(printable)
            .collect();
        assert_eq!(printed, "€ “ü” – ok 安 x");
        assert_eq!(
            win_ansi_string(&printed),
            r"(\200 \223\374\224 \226 ok ? x)"
        );
        // "é" as "e" plus a combining acute accent.
        let decomposed: String = "Cafe\u{0301}".chars().filter_map(printable).collect();
        assert_eq!(decomposed, "Cafe");
        // An ideographic variation selector picks a glyph variant; it prints nothing itself.
        let varied: String = "葛\u{E0100}".chars().filter_map(printable).collect();
        assert_eq!(varied, "葛");
        assert_eq!(pdf_string(b"a(b)\\\xFC"), r"(a\(b\)\\\374)");
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_inside_long_words() {
        let one = |_| 1;
        assert_eq!(wrap("aaa bbb ccc", 7, one), vec!["aaa bbb", "ccc"]);
        let lengths: Vec<usize> = wrap(&"x".repeat(200), 95, one)
            .iter()
            .map(String::len)
            .collect();
        assert_eq!(lengths, vec![95, 95, 10]);
        assert_eq!(wrap("", 95, one), vec![String::new()]);
        let indented = wrap("  xxxxxxxxxx", 5, one);
        assert!(indented.iter().all(|row| !row.is_empty()), "{indented:?}");
        // Measured widths: a character wider than the row still makes progress.
        assert_eq!(wrap("安装调试", 2_000, |_| 1_000), vec!["安装", "调试"]);
        assert_eq!(wrap("ab", 1, |_| 5), vec!["a", "b"]);
    }

    /// Debian's `fonts-noto-cjk` (scripts/test.sh installs it), the font Android ships.
    const NOTO_CJK: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

    fn chinese_options() -> ReportOptions {
        assert!(
            std::path::Path::new(NOTO_CJK).exists(),
            "{NOTO_CJK} is missing: install fonts-noto-cjk (scripts/test.sh does)"
        );
        ReportOptions {
            language: Language::Chinese,
            time_zone: TimeZone::get("Asia/Shanghai").expect("zone"),
            fonts: vec!["/nonexistent/font.ttc".into(), NOTO_CJK.into()],
            ..ReportOptions::default()
        }
    }

    fn chinese_job() -> Job {
        let mut job = sample_job();
        job.customer.name = "张伟".into();
        job.site.address = "上海市浦东新区世纪大道100号".into();
        job.notes = "更换密封圈。".repeat(200);
        job
    }

    /// The text of every `Tj` in the content streams, decoded through the `ToUnicode` map.
    fn embedded_text(pdf: &[u8]) -> Vec<String> {
        let cmap_at = find(pdf, b"beginbfchar").expect("a ToUnicode map");
        let cmap = std::str::from_utf8(&pdf[cmap_at..]).expect("ascii cmap");
        let cmap = &cmap[..cmap.find("endcmap").expect("endcmap")];
        let mut codes = std::collections::HashMap::new();
        for line in cmap.lines().filter(|line| line.starts_with('<')) {
            let (code, text) = line.split_once(' ').expect("pair");
            let units: Vec<u16> = text
                .trim_matches(['<', '>'])
                .as_bytes()
                .chunks(4)
                .map(|hex| {
                    u16::from_str_radix(std::str::from_utf8(hex).expect("hex"), 16).expect("hex")
                })
                .collect();
            codes.insert(
                code.trim_matches(['<', '>']).to_owned(),
                String::from_utf16(&units).expect("utf-16"),
            );
        }
        let text = String::from_utf8_lossy(pdf);
        text.lines()
            .filter_map(|line| {
                let hex = line.strip_suffix("> Tj ET")?;
                let hex = &hex[hex.rfind('<')? + 1..];
                let chars = hex.as_bytes().chunks(4).map(|code| {
                    codes
                        .get(std::str::from_utf8(code).expect("hex"))
                        .cloned()
                        .unwrap_or_else(|| "\u{FFFD}".into())
                });
                Some(chars.collect())
            })
            .collect()
    }

    /// The customer reads the engineer's name where the phone knows it, not the user id.
    #[test]
    fn the_engineer_is_named_as_the_office_knows_them() {
        let mut options = chinese_options();
        options.names.insert("inst-7".into(), "王芳".into());
        let lines = embedded_text(&service_report_pdf(
            &chinese_job(),
            "张伟",
            SIGNED_AT,
            &options,
        ));
        assert!(lines.iter().any(|l| l == "工程师：王芳"), "{lines:#?}");
        assert!(!lines.iter().any(|l| l.contains("inst-7")), "{lines:#?}");
    }

    #[test]
    fn chinese_text_is_drawn_in_an_embedded_subset_and_reads_back() {
        let options = chinese_options();
        let job = chinese_job();
        let pdf = service_report_pdf(&job, "张伟", SIGNED_AT, &options);
        assert_eq!(
            pdf,
            service_report_pdf(&job.clone(), "张伟", SIGNED_AT, &options)
        );
        let offsets = xref_offsets(&pdf);
        check_stream_lengths(&pdf);
        assert!(contains(&pdf, b"/Subtype /Type0"));
        assert!(contains(&pdf, b"/Encoding /Identity-H"));
        assert!(contains(&pdf, b"/Subtype /CIDFontType0C"));
        assert!(!contains(&pdf, b"Helvetica"));
        // Catalog, pages, five font objects, then two objects per page.
        let pages = count(&pdf, b"<< /Type /Page /Parent");
        assert!(pages > 1, "the long note takes more than one page");
        assert_eq!(offsets.len(), 7 + 2 * pages);
        // A subset of the 20 MB collection: the glyphs used and little else.
        assert!(pdf.len() < 120_000, "{} bytes", pdf.len());

        let lines = embedded_text(&pdf);
        for expected in [
            "服务报告",
            "工单 J-1001 · 维修",
            "名称：张伟",
            "客户等级：VIP",
            "地址：上海市浦东新区世纪大道100号",
            // 11:06 UTC is 19:06 in Shanghai.
            "时间段：2026-11-18 19:06 UTC+08:00 – 2026-11-18 21:06 UTC+08:00",
            "SEAL-9 × 2 (保修内)",
            "首次上门解决：是",
            "签名人：张伟，签名时间：2026-11-18 20:06 UTC+08:00",
        ] {
            assert!(
                lines.iter().any(|line| line == expected),
                "{expected} not in {lines:#?}"
            );
        }
        let footer = format!("工单 J-1001 - 第 {pages} 页，共 {pages} 页");
        assert!(lines.contains(&footer), "{footer}");
        assert!(lines.iter().all(|line| !line.contains('\u{FFFD}')));
    }

    #[test]
    fn wide_text_wraps_by_measured_width() {
        let pdf = service_report_pdf(&chinese_job(), "张伟", SIGNED_AT, &chinese_options());
        let notes: Vec<String> = embedded_text(&pdf)
            .into_iter()
            .filter(|line| line.chars().all(|c| "更换密封圈。".contains(c)))
            .collect();
        // Full-width characters are 1 em: 49 of them fill 495 pt at 10 pt.
        let widest = notes.iter().map(|line| line.chars().count()).max();
        assert_eq!(widest, Some(49), "{notes:?}");
        assert_eq!(notes.concat(), "更换密封圈。".repeat(200));
    }

    #[test]
    fn without_a_font_the_report_still_renders_in_the_standard_fonts() {
        let options = ReportOptions {
            fonts: vec!["/nonexistent/font.ttc".into(), "/dev/null".into()],
            ..chinese_options()
        };
        let pdf = service_report_pdf(&chinese_job(), "张伟", SIGNED_AT, &options);
        xref_offsets(&pdf);
        assert!(contains(&pdf, b"/BaseFont /Helvetica"));
        assert!(contains(&pdf, b"(?????)"), "the name prints as ?");
    }

    #[test]
    fn characters_no_font_has_print_as_a_question_mark() {
        // Noto Sans CJK has no Thai and no emoji.
        let mut job = chinese_job();
        job.notes = "ตรวจแล้ว 👍 好".into();
        let pdf = service_report_pdf(&job, "张伟", SIGNED_AT, &chinese_options());
        let lines = embedded_text(&pdf);
        assert!(
            lines.iter().any(|line| line == "???????? ? 好"),
            "{lines:#?}"
        );

        // An English report whose only unusual character is an emoji embeds nothing.
        let mut english = sample_job();
        english.notes = "Done 👍".into();
        let options = ReportOptions {
            language: Language::English,
            ..chinese_options()
        };
        let pdf = service_report_pdf(&english, "Ann", SIGNED_AT, &options);
        assert!(contains(&pdf, b"/BaseFont /Helvetica"));
        assert!(contains(&pdf, b"(Done ?)"));
    }

    #[test]
    fn english_reports_in_utc_keep_their_bytes() {
        // The bytes builds before language and time-zone support produced for this report: an
        // English report of a UTC organisation is unchanged, and any change is a reviewed diff.
        let pdf = english_report(&sample_job(), "Ann Customer", SIGNED_AT);
        assert_eq!(
            sha256_of(&pdf),
            "d817924c81d58fcbc2d042e9ec2c45581204fe0893785104104b7ac24239a336"
        );
    }

    fn sha256_of(bytes: &[u8]) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    #[test]
    fn times_show_the_zone_offset() {
        let shanghai = TimeZone::get("Asia/Shanghai").expect("zone");
        assert_eq!(
            format_time(SIGNED_AT, &shanghai),
            "2026-11-18 20:06 UTC+08:00"
        );
        assert_eq!(
            format_time(SIGNED_AT, &TimeZone::UTC),
            "2026-11-18 12:06 UTC"
        );
        let new_york = TimeZone::get("America/New_York").expect("zone");
        assert_eq!(
            format_time(SIGNED_AT, &new_york),
            "2026-11-18 07:06 UTC-05:00"
        );
        // Summer time: 2026-07-01 12:00 UTC.
        assert_eq!(
            format_time(1_782_907_200_000, &new_york),
            "2026-07-01 08:00 UTC-04:00"
        );
        let kolkata = TimeZone::get("Asia/Kolkata").expect("zone");
        assert_eq!(
            format_time(SIGNED_AT, &kolkata),
            "2026-11-18 17:36 UTC+05:30"
        );
        // Beyond the zone database's years, UTC.
        assert_eq!(
            format_time(i64::MAX, &shanghai),
            "292278994-08-17 07:12 UTC"
        );
    }

    #[test]
    fn format_utc_known_values() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59 UTC");
        // 1_795_000_000 s = 20_775 days + 40_000 s. Day 20_454 is 2026-01-01 (56 years, 14 of
        // them leap years: 56 * 365 + 14), so day 20_775 is day 321 (0-based) of 2026, and 304
        // days end October: November 18. 40_000 s = 11 h 6 min 40 s.
        assert_eq!(format_utc(1_795_000_000_000), "2026-11-18 11:06 UTC");
        assert_eq!(format_utc(SIGNED_AT), "2026-11-18 12:06 UTC");
        // 2024-02-29 12:00 UTC is 1_709_208_000 s.
        assert_eq!(format_utc(1_709_208_000_000), "2024-02-29 12:00 UTC");
        assert_eq!(format_utc(1_709_208_059_999), "2024-02-29 12:00 UTC");
        // Year 2000 is a leap year (divisible by 400): 2000-03-01 is 951_868_800 s.
        assert_eq!(format_utc(951_868_800_000 - 1), "2000-02-29 23:59 UTC");
        // Worked out with 400-year cycles of 146_097 days.
        assert_eq!(format_utc(i64::MAX), "292278994-08-17 07:12 UTC");
        assert_eq!(format_utc(i64::MIN), "-292275055-05-16 16:47 UTC");
    }
}
