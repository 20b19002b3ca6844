//! The service report a customer signs on the installer's phone, as a PDF.
//!
//! The phone renders the report offline from the job's state at signing and stores the report's
//! SHA-256 with the signature; the server and dispatch later serve the very same bytes. A hash
//! only means something if the bytes are reproducible, so the output is a pure function of the
//! job, the signer and the signing time: no clock reads, no random ids, no hash-map iteration
//! order, no floating-point formatting (every coordinate is an integer) and no compression (a
//! compressor's output may change between library versions).
//!
//! That is also why the writer is hand-written: a minimal PDF 1.4 writer that draws text in the
//! standard Helvetica and Helvetica-Bold fonts, which every PDF reader has built in, so no font
//! files are embedded and no PDF crate (whose output could change under us) is needed. Text is
//! encoded as WinAnsiEncoding (Windows-1252), the encoding those fonts support everywhere;
//! characters outside it print as `?`.
//!
//! Any change to this module changes the bytes of reports rendered afterwards, so a signed report
//! must be kept as the bytes that were hashed rather than rendered again with newer code.

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{BlobRef, ChecklistItem, Job, PartUsed, TimeEntry, TimeKind};

/// A4 in PDF points.
const PAGE_WIDTH: i32 = 595;
const PAGE_HEIGHT: i32 = 842;
const LEFT_MARGIN: i32 = 50;
/// The baseline of the first line on a page.
const TOP: i32 = 792;
/// No line is drawn below this baseline; the footer sits underneath.
const BOTTOM: i32 = 60;
const FOOTER_Y: i32 = 30;
const LEADING: i32 = 14;
/// Extra space above a heading, so blocks read as blocks.
const HEADING_GAP: i32 = 8;
/// Wrapping counts characters rather than glyph widths: 95 characters of ordinary 10 pt
/// Helvetica text fill the 495 pt between the margins.
const WRAP_WIDTH: usize = 95;
/// Objects 1 to 4 are the catalog, the page tree and the two fonts; each page then takes two
/// objects, the page and its content stream.
const FIRST_PAGE_OBJECT: usize = 5;

const MS_PER_MINUTE: i64 = 60_000;
const MS_PER_DAY: i64 = 86_400_000;

/// Renders the service report for `job` as signed by `signed_by` at `signed_at` (ms since the
/// Unix epoch, UTC).
///
/// The same arguments give byte-identical output on every platform, so the SHA-256 stored with
/// the signature can be checked by anyone holding the bytes. Times are shown to the minute, so
/// signing times within the same UTC minute give the same report.
pub fn service_report_pdf(job: &Job, signed_by: &str, signed_at: Millis) -> Vec<u8> {
    let rows = layout(job, &report_blocks(job, signed_by, signed_at));
    let pages = paginate(&rows);
    write_pdf(&job.id, &pages)
}

/// Formats ms since the Unix epoch as `YYYY-MM-DD HH:MM UTC` (proleptic Gregorian, handles
/// negative and far-future values without panicking).
///
/// Seconds are dropped (not rounded), and years before year 0 get a leading minus sign, e.g.
/// `-0001-12-31 23:59 UTC`.
pub fn format_utc(at: Millis) -> String {
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
    heading: &'static str,
    lines: Vec<String>,
}

impl Block {
    fn new(heading: &'static str, lines: Vec<String>) -> Self {
        Block { heading, lines }
    }
}

/// The report's blocks in reading order, without the empty ones.
fn report_blocks(job: &Job, signed_by: &str, signed_at: Millis) -> Vec<Block> {
    let signature = format!(
        "Signed by {} on {}",
        signed_by.trim(),
        format_utc(signed_at)
    );
    let blocks = [
        customer_block(job),
        site_block(job),
        product_block(job),
        problem_block(job),
        appointment_block(job),
        time_block(job),
        parts_block(job),
        checklist_block(job),
        outcome_block(job),
        notes_block(job),
        photos_block(&job.photos),
        Block::new("Signature", vec![signature]),
    ];
    blocks
        .into_iter()
        .filter(|block| !block.lines.is_empty())
        .collect()
}

/// Adds `label: value` unless the value is blank.
fn field(lines: &mut Vec<String>, label: &str, value: &str) {
    let value = value.trim();
    if !value.is_empty() {
        lines.push(format!("{label}: {value}"));
    }
}

fn customer_block(job: &Job) -> Block {
    let mut lines = Vec::new();
    field(&mut lines, "Name", &job.customer.name);
    field(&mut lines, "Tier", job.customer.tier.as_str());
    Block::new("Customer", lines)
}

fn site_block(job: &Job) -> Block {
    let mut lines = Vec::new();
    field(&mut lines, "Address", &job.site.address);
    field(&mut lines, "Region", &job.site.region);
    Block::new("Site", lines)
}

fn product_block(job: &Job) -> Block {
    let mut lines = Vec::new();
    field(&mut lines, "Model", &job.product.model);
    field(&mut lines, "Serial", &job.product.serial);
    Block::new("Product", lines)
}

fn problem_block(job: &Job) -> Block {
    let mut lines = Vec::new();
    field(&mut lines, "Category", &job.problem.category);
    field(&mut lines, "Description", &job.problem.description);
    Block::new("Problem", lines)
}

fn appointment_block(job: &Job) -> Block {
    let mut lines = Vec::new();
    if let Some(window) = job.appointment {
        let start = format_utc(window.start);
        let end = format_utc(window.end);
        lines.push(format!("Window: {start} – {end}"));
    }
    if let Some(assignee) = &job.assignee {
        field(&mut lines, "Engineer", assignee);
    }
    Block::new("Appointment", lines)
}

fn time_block(job: &Job) -> Block {
    let mut lines: Vec<String> = job.time_entries.iter().map(time_line).collect();
    if !lines.is_empty() {
        // The total adds the rounded minutes shown, so the report adds up as printed.
        let total = job
            .time_entries
            .iter()
            .map(entry_minutes)
            .fold(0_i64, i64::saturating_add);
        lines.push(format!("Total: {total} min"));
    }
    Block::new("Time on site", lines)
}

fn time_line(entry: &TimeEntry) -> String {
    let kind = time_kind_name(entry.kind);
    let start = format_utc(entry.start);
    let end = format_utc(entry.end);
    let minutes = entry_minutes(entry);
    let by = entry.by.trim();
    let by = if by.is_empty() {
        String::new()
    } else {
        format!("  by {by}")
    };
    format!("{kind}  {start} – {end}  ({minutes} min){by}")
}

/// Whole minutes rounded to the nearest, so 90 seconds of work shows as 2 min rather than 1. An
/// entry ending before it starts (a bad device clock) counts as 0.
fn entry_minutes(entry: &TimeEntry) -> i64 {
    let ms = entry.end.saturating_sub(entry.start).max(0);
    ms.saturating_add(MS_PER_MINUTE / 2) / MS_PER_MINUTE
}

/// `TimeKind` has no `as_str`; its wire names (`travel`, `on_site`) are not meant for customers.
fn time_kind_name(kind: TimeKind) -> &'static str {
    match kind {
        TimeKind::Travel => "Travel",
        TimeKind::OnSite => "On site",
    }
}

fn parts_block(job: &Job) -> Block {
    Block::new("Parts used", job.parts.iter().map(part_line).collect())
}

fn part_line(part: &PartUsed) -> String {
    let number = part.part_number.trim();
    let quantity = part.quantity;
    let warranty = if part.under_warranty {
        " (under warranty)"
    } else {
        ""
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
    Block::new("Checklist", lines)
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

fn outcome_block(job: &Job) -> Block {
    let outcome = &job.outcome;
    let mut lines = Vec::new();
    field(&mut lines, "Cause", &outcome.cause);
    field(&mut lines, "Fix", &outcome.fix);
    field(&mut lines, "Summary", &outcome.summary);
    if !lines.is_empty() || outcome.first_visit_success.is_some() {
        let fixed = match outcome.first_visit_success {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        lines.insert(0, format!("First-visit fix: {fixed}"));
    }
    Block::new("Outcome", lines)
}

fn notes_block(job: &Job) -> Block {
    let notes = job.notes.trim();
    let lines = if notes.is_empty() {
        Vec::new()
    } else {
        vec![notes.to_owned()]
    };
    Block::new("Notes", lines)
}

fn photos_block(photos: &[BlobRef]) -> Block {
    if photos.is_empty() {
        return Block::new("Photos", Vec::new());
    }
    let count = photos.len();
    let mut lines = vec![if count == 1 {
        "1 photo".to_owned()
    } else {
        format!("{count} photos")
    }];
    for (index, photo) in photos.iter().enumerate() {
        let caption = photo.caption.trim();
        let caption = if caption.is_empty() {
            format!("Photo {}", index + 1)
        } else {
            caption.to_owned()
        };
        // A prefix is enough to tell photos apart on paper; the full hash is in the job.
        let hash: String = photo.sha256.chars().take(16).collect();
        lines.push(format!("{caption} ({hash}…)"));
    }
    Block::new("Photos", lines)
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
    /// The font resource name and size in points.
    fn font(self) -> (&'static str, i32) {
        match self {
            Style::Title => ("F2", 16),
            Style::Heading => ("F2", 12),
            Style::Body => ("F1", 10),
            Style::Footer => ("F1", 8),
        }
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

/// One line as drawn: WinAnsi bytes, at most [`WRAP_WIDTH`] of them.
struct Row {
    style: Style,
    text: Vec<u8>,
}

/// A row with the baseline it is drawn at on its page.
struct Placed<'a> {
    y: i32,
    row: &'a Row,
}

/// Every line of the report, encoded and wrapped, before it is split into pages.
fn layout(job: &Job, blocks: &[Block]) -> Vec<Row> {
    let mut rows = Vec::new();
    push_text(&mut rows, Style::Title, "Service report");
    let job_line = format!("Job {} · {}", job.id.trim(), job.kind.as_str());
    push_text(&mut rows, Style::Body, &job_line);
    let status_line = format!("Status: {}", job.status().as_str());
    push_text(&mut rows, Style::Body, &status_line);
    for block in blocks {
        push_text(&mut rows, Style::Heading, block.heading);
        for line in &block.lines {
            push_text(&mut rows, Style::Body, line);
        }
    }
    rows
}

fn push_text(rows: &mut Vec<Row>, style: Style, text: &str) {
    for line in text_lines(text) {
        for piece in wrap(&win_ansi(line), WRAP_WIDTH) {
            rows.push(Row { style, text: piece });
        }
    }
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

/// Breaks a line into rows of at most `width` bytes: at the last space that fits, or inside a
/// word when the word alone is longer than a row.
fn wrap(line: &[u8], width: usize) -> Vec<Vec<u8>> {
    let mut rows = Vec::new();
    let mut rest = line.trim_ascii_end();
    while rest.len() > width {
        // At least one byte per row, so a zero width cannot loop forever.
        let at = break_point(rest, width).max(1);
        let Some((row, tail)) = rest.split_at_checked(at) else {
            break;
        };
        rows.push(row.trim_ascii_end().to_vec());
        rest = tail.trim_ascii_start();
    }
    rows.push(rest.to_vec());
    rows
}

/// Where to break `rest` (longer than `width`): at the last space within the first `width + 1`
/// bytes that has text before it (so an indented line does not leave an empty row), else at
/// `width`.
fn break_point(rest: &[u8], width: usize) -> usize {
    let window = rest.get(..=width).unwrap_or(rest);
    window
        .iter()
        .rposition(|&byte| byte == b' ')
        .filter(|&space| window.iter().take(space).any(|&byte| byte != b' '))
        .unwrap_or(width)
}

/// Converts text to WinAnsiEncoding (Windows-1252), the encoding of the standard fonts in every
/// PDF reader. Each char becomes at most one byte, so wrapping can count bytes.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars().filter_map(win_ansi_byte).collect()
}

fn win_ansi_byte(c: char) -> Option<u8> {
    if c.is_control() {
        // Tabs and stray control characters; line breaks were split off before.
        return Some(b' ');
    }
    if is_invisible(c) {
        return None;
    }
    if let Ok(byte) = u8::try_from(c) {
        // Printable ASCII and Latin-1 keep their code points in Windows-1252 (the C1 controls in
        // between were handled above).
        return Some(byte);
    }
    if c.is_whitespace() {
        return Some(b' ');
    }
    Some(cp1252_special(c).unwrap_or(b'?'))
}

/// Marks that change nothing visible, or combine with the previous letter: dropping them prints
/// a decomposed "é" as "e" rather than "e?".
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}' | '\u{200B}'..='\u{200F}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
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

/// Places rows on pages top to bottom, starting a new page when the next baseline would fall
/// below [`BOTTOM`].
fn paginate(rows: &[Row]) -> Vec<Vec<Placed<'_>>> {
    let mut pages = Vec::new();
    let mut page = Vec::new();
    let mut y = TOP;
    for row in rows {
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
        page.push(Placed { y, row });
        y -= row.style.advance();
    }
    pages.push(page);
    pages
}

fn page_object(index: usize) -> usize {
    FIRST_PAGE_OBJECT + 2 * index
}

fn write_pdf(job_id: &str, pages: &[Vec<Placed<'_>>]) -> Vec<u8> {
    let mut pdf = PdfWriter::with_header();
    let page_count = pages.len();
    let kids: Vec<String> = (0..page_count)
        .map(|index| format!("{} 0 R", page_object(index)))
        .collect();
    let kids = kids.join(" ");
    pdf.object(b"<< /Type /Catalog /Pages 2 0 R >>");
    pdf.object(format!("<< /Type /Pages /Kids [{kids}] /Count {page_count} >>").as_bytes());
    pdf.object(font_dictionary("Helvetica").as_bytes());
    pdf.object(font_dictionary("Helvetica-Bold").as_bytes());
    for (index, page) in pages.iter().enumerate() {
        let contents = page_object(index) + 1;
        pdf.object(page_dictionary(contents).as_bytes());
        let footer = format!("Job {} - page {} of {page_count}", job_id.trim(), index + 1);
        pdf.stream(&page_content(page, &win_ansi(&footer)));
    }
    pdf.finish()
}

fn font_dictionary(base_font: &str) -> String {
    format!("<< /Type /Font /Subtype /Type1 /BaseFont /{base_font} /Encoding /WinAnsiEncoding >>")
}

fn page_dictionary(contents: usize) -> String {
    format!(
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] \
         /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {contents} 0 R >>"
    )
}

fn page_content(page: &[Placed<'_>], footer: &[u8]) -> Vec<u8> {
    let mut ops: Vec<String> = page
        .iter()
        .filter(|placed| !placed.row.text.is_empty())
        .map(|placed| text_op(placed.row.style, placed.y, &placed.row.text))
        .collect();
    ops.push(text_op(Style::Footer, FOOTER_Y, footer));
    ops.join("\n").into_bytes()
}

/// One self-contained text object, so every line states its own font and position.
fn text_op(style: Style, y: i32, text: &[u8]) -> String {
    let (font, size) = style.font();
    let text = pdf_string(text);
    format!("BT /{font} {size} Tf {LEFT_MARGIN} {y} Td {text} Tj ET")
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

    /// Writes the next object as an uncompressed stream.
    fn stream(&mut self, data: &[u8]) {
        let mut body = format!("<< /Length {} >>\nstream\n", data.len()).into_bytes();
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
        Appointment, Customer, JobKind, Outcome, Problem, Product, Site, Tier,
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
        let report = service_report_pdf(&job, "Ann Customer", SIGNED_AT);
        assert_eq!(
            report,
            service_report_pdf(&job.clone(), "Ann Customer", SIGNED_AT)
        );

        let mut other_note = job.clone();
        other_note.notes.push('!');
        assert_ne!(
            report,
            service_report_pdf(&other_note, "Ann Customer", SIGNED_AT)
        );
        assert_ne!(report, service_report_pdf(&job, "Bob Customer", SIGNED_AT));
        assert_ne!(
            report,
            service_report_pdf(&job, "Ann Customer", SIGNED_AT + MS_PER_MINUTE)
        );
    }

    #[test]
    fn structure_is_valid_pdf() {
        let pdf = service_report_pdf(&sample_job(), "Ann Customer", SIGNED_AT);
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
        let pdf = service_report_pdf(&sample_job(), "Ann Customer", SIGNED_AT);
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
        let pdf = service_report_pdf(&job, "Ann", SIGNED_AT);
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
        let pdf = service_report_pdf(&job, "Ann Customer", SIGNED_AT);
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
        let pdf = service_report_pdf(&job, "Ann (the owner)", SIGNED_AT);
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
        assert_eq!(
            win_ansi("€ “ü” – ok\t安"),
            b"\x80 \x93\xFC\x94 \x96 ok ?".to_vec()
        );
        // "é" as "e" plus a combining acute accent.
        assert_eq!(win_ansi("Cafe\u{0301}"), b"Cafe".to_vec());
        assert_eq!(pdf_string(b"a(b)\\\xFC"), r"(a\(b\)\\\374)");
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_inside_long_words() {
        assert_eq!(
            wrap(b"aaa bbb ccc", 7),
            vec![b"aaa bbb".to_vec(), b"ccc".to_vec()]
        );
        let lengths: Vec<usize> = wrap(&[b'x'; 200], 95).iter().map(Vec::len).collect();
        assert_eq!(lengths, vec![95, 95, 10]);
        assert_eq!(wrap(b"", 95), vec![Vec::<u8>::new()]);
        let indented = wrap(b"  xxxxxxxxxx", 5);
        assert!(indented.iter().all(|row| !row.is_empty()), "{indented:?}");
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
