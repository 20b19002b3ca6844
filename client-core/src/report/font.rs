//! An embedded font for text the standard PDF fonts cannot show (Chinese, and any other script).
//!
//! The phone carries no font of its own: the app names the platform's font files (Android ships
//! Noto Sans CJK, iOS PingFang), and only the glyphs the report uses are embedded, as a CID font
//! addressed by two-byte glyph ids (`Identity-H`). A `ToUnicode` map gives the text back to
//! anyone who copies or extracts it, and the widths come from the font, so wrapping measures
//! what is drawn.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use subsetter::GlyphRemapper;
use ttf_parser::{Face, Tag, name_id};

/// Widths in PDF glyph space: thousandths of the font size.
const GLYPH_SPACE: i64 = 1000;

/// A font face read from a font file (or one face of a collection), ready to measure text and
/// to be embedded.
pub(super) struct EmbeddedFont<'a> {
    data: &'a [u8],
    index: u32,
    face: Face<'a>,
}

/// The PDF objects of an embedded subset: dictionaries that refer to each other by the object
/// numbers given to [`EmbeddedFont::subset`].
pub(super) struct FontObjects {
    /// The `Type0` font the pages name.
    pub type0: String,
    /// Its descendant CID font.
    pub cid_font: String,
    /// The descriptor.
    pub descriptor: String,
    /// The extra entries of the font program's stream dictionary, and its bytes.
    pub program: (String, Vec<u8>),
    /// The `ToUnicode` CMap.
    pub to_unicode: Vec<u8>,
    /// The two-byte code drawn for each character.
    pub codes: BTreeMap<char, u16>,
}

/// The object numbers of a font's parts (the `Type0` font itself comes first).
pub(super) struct FontNumbers {
    pub cid_font: usize,
    pub descriptor: usize,
    pub program: usize,
    pub to_unicode: usize,
}

impl FontNumbers {
    /// Where the report writes them: right after the `Type0` font, object 3.
    pub(super) const EMBEDDED: FontNumbers = FontNumbers {
        cid_font: 4,
        descriptor: 5,
        program: 6,
        to_unicode: 7,
    };

    /// How many objects the font takes, the `Type0` font included.
    pub(super) const COUNT: usize = 5;
}

impl<'a> EmbeddedFont<'a> {
    /// The face of `data` to print `needed` with: one with outlines that has a glyph for at
    /// least one of them. In a collection, a Simplified Chinese face is preferred (the same
    /// characters are drawn differently in Japanese, Korean and Traditional Chinese faces),
    /// then the regular weight, then the first. `None` when `data` has no such face.
    pub(super) fn choose(data: &'a [u8], needed: &BTreeSet<char>) -> Option<EmbeddedFont<'a>> {
        let count = ttf_parser::fonts_in_collection(data).unwrap_or(1);
        (0..count)
            .filter_map(|index| Some((index, Face::parse(data, index).ok()?)))
            .filter(|(_, face)| {
                let outlines = [b"CFF ", b"glyf"]
                    .iter()
                    .any(|tag| face.raw_face().table(Tag::from_bytes(tag)).is_some());
                outlines && needed.iter().any(|&c| face.glyph_index(c).is_some())
            })
            .min_by_key(|(index, face)| {
                let regular = face.weight() == ttf_parser::Weight::Normal;
                (!is_simplified_chinese(face), !regular, *index)
            })
            .map(|(index, face)| EmbeddedFont { data, index, face })
    }

    /// Whether the face has a glyph for `c`.
    pub(super) fn covers(&self, c: char) -> bool {
        self.face.glyph_index(c).is_some()
    }

    /// How wide `c` is drawn, in thousandths of the font size (a character the font lacks is
    /// drawn as `.notdef`, glyph 0, though the report prints `?` instead).
    pub(super) fn width(&self, c: char) -> i64 {
        let glyph = self.face.glyph_index(c).map_or(0, |glyph| glyph.0);
        self.scaled_advance(glyph)
    }

    fn scaled_advance(&self, glyph: u16) -> i64 {
        let advance = self.face.glyph_hor_advance(ttf_parser::GlyphId(glyph));
        self.scaled(i64::from(advance.unwrap_or(0)))
    }

    fn scaled(&self, units: i64) -> i64 {
        let per_em = i64::from(self.face.units_per_em()).max(1);
        units * GLYPH_SPACE / per_em
    }

    /// Subsets the font to the glyphs of `chars` and writes its PDF objects; `None` when the
    /// subsetter refuses the font.
    pub(super) fn subset(
        &self,
        chars: &BTreeSet<char>,
        numbers: &FontNumbers,
    ) -> Option<FontObjects> {
        let glyphs: BTreeMap<char, u16> = chars
            .iter()
            .filter_map(|&c| Some((c, self.face.glyph_index(c)?.0)))
            .collect();
        let old_glyphs: Vec<u16> = glyphs
            .values()
            .copied()
            .collect::<BTreeSet<u16>>()
            .into_iter()
            .collect();
        let remapper = GlyphRemapper::new_from_glyphs_sorted(&old_glyphs);
        let subset = subsetter::subset(self.data, self.index, &remapper).ok()?;
        let codes: BTreeMap<char, u16> = glyphs
            .iter()
            .filter_map(|(&c, &old)| Some((c, remapper.get(old)?)))
            .collect();

        let name = format!("{}+{}", subset_tag(&old_glyphs), self.postscript_name());
        let widths: Vec<String> = remapper
            .remapped_gids()
            .map(|old| self.scaled_advance(old).to_string())
            .collect();
        let widths = widths.join(" ");
        // A CFF font is embedded as its bare CFF table, a TrueType one whole. Over a CFF font
        // the Type0 font's name carries the encoding's (PDF 32000-1, 9.7.6.1).
        let cff = table(&subset, b"CFF ");
        let type0_name = if cff.is_some() {
            format!("{name}-Identity-H")
        } else {
            name.clone()
        };
        let (subtype, file_key, program) = match cff {
            Some(cff) => (
                "/CIDFontType0",
                "FontFile3",
                (" /Subtype /CIDFontType0C".to_owned(), cff),
            ),
            None => (
                "/CIDFontType2 /CIDToGIDMap /Identity",
                "FontFile2",
                (format!(" /Length1 {}", subset.len()), subset),
            ),
        };
        Some(FontObjects {
            type0: format!(
                "<< /Type /Font /Subtype /Type0 /BaseFont /{type0_name} /Encoding /Identity-H \
                 /DescendantFonts [{} 0 R] /ToUnicode {} 0 R >>",
                numbers.cid_font, numbers.to_unicode
            ),
            cid_font: format!(
                "<< /Type /Font /Subtype {subtype} /BaseFont /{name} \
                 /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
                 /FontDescriptor {} 0 R /W [0 [{widths}]] >>",
                numbers.descriptor
            ),
            descriptor: self.descriptor(&name, file_key, numbers.program),
            program,
            to_unicode: to_unicode(&codes),
            codes,
        })
    }

    fn descriptor(&self, name: &str, file_key: &str, program: usize) -> String {
        let face = &self.face;
        let bbox = face.global_bounding_box();
        let [x_min, y_min, x_max, y_max] =
            [bbox.x_min, bbox.y_min, bbox.x_max, bbox.y_max].map(|v| self.scaled(i64::from(v)));
        let ascent = self.scaled(i64::from(face.ascender()));
        let descent = self.scaled(i64::from(face.descender()));
        let cap_height = self.scaled(i64::from(face.capital_height().unwrap_or(face.ascender())));
        // Flags 4: symbolic, the only honest flag for a font that is addressed by glyph ids.
        format!(
            "<< /Type /FontDescriptor /FontName /{name} /Flags 4 \
             /FontBBox [{x_min} {y_min} {x_max} {y_max}] /ItalicAngle 0 /Ascent {ascent} \
             /Descent {descent} /CapHeight {cap_height} /StemV 80 /{file_key} {program} 0 R >>"
        )
    }

    /// The face's PostScript name, reduced to the characters a PDF name may hold unescaped.
    fn postscript_name(&self) -> String {
        let name: String = self
            .face
            .names()
            .into_iter()
            .filter(|name| name.name_id == name_id::POST_SCRIPT_NAME)
            .find_map(|name| name.to_string())
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.is_empty() {
            "Embedded".to_owned()
        } else {
            name
        }
    }
}

/// Whether a face's family name marks it as Simplified Chinese (`Noto Sans CJK SC`,
/// `PingFang SC`, `Source Han Sans CN`).
fn is_simplified_chinese(face: &Face<'_>) -> bool {
    face.names()
        .into_iter()
        .filter(|name| {
            name.name_id == name_id::FAMILY || name.name_id == name_id::TYPOGRAPHIC_FAMILY
        })
        .filter_map(|name| name.to_string())
        .any(|family| {
            family
                .split_whitespace()
                .any(|word| word == "SC" || word == "CN")
        })
}

/// One table of an OpenType font, by tag.
fn table(font: &[u8], tag: &[u8; 4]) -> Option<Vec<u8>> {
    let face = ttf_parser::RawFace::parse(font, 0).ok()?;
    face.table(Tag::from_bytes(tag)).map(<[u8]>::to_vec)
}

/// The six capital letters a PDF puts before a subset font's name. Derived from the glyphs
/// kept, so the same report gets the same tag (no random ids).
fn subset_tag(glyphs: &[u16]) -> String {
    let mut hash = Sha256::new();
    for glyph in glyphs {
        hash.update(glyph.to_be_bytes());
    }
    hash.finalize()
        .iter()
        .take(6)
        .map(|byte| char::from(b'A' + byte % 26))
        .collect()
}

/// Characters that duplicate a unified ideograph: radicals and compatibility ideographs.
fn is_compatibility_form(c: char) -> bool {
    matches!(
        c,
        '\u{2E80}'..='\u{2FDF}' | '\u{F900}'..='\u{FAFF}' | '\u{2F800}'..='\u{2FA1F}'
    )
}

/// The CMap that maps each code back to its character, for copying and text extraction.
fn to_unicode(codes: &BTreeMap<char, u16>) -> Vec<u8> {
    // Several characters may share a glyph (一 and the Kangxi radical ⼀, say): the one in
    // everyday use speaks for it, then the lowest.
    let mut by_code: BTreeMap<u16, char> = BTreeMap::new();
    for (&c, &code) in codes {
        let kept = by_code.entry(code).or_insert(c);
        if is_compatibility_form(*kept) && !is_compatibility_form(c) {
            *kept = c;
        }
    }
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let entries: Vec<(u16, char)> = by_code.into_iter().collect();
    // A bfchar section holds at most 100 entries.
    for chunk in entries.chunks(100) {
        cmap.push_str(&format!("{} beginbfchar\n", chunk.len()));
        for (code, c) in chunk {
            let mut units = [0_u16; 2];
            let utf16: String = c
                .encode_utf16(&mut units)
                .iter()
                .map(|unit| format!("{unit:04X}"))
                .collect();
            cmap.push_str(&format!("<{code:04X}> <{utf16}>\n"));
        }
        cmap.push_str("endbfchar\n");
    }
    cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend");
    cmap.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_glyph_reads_back_as_the_everyday_character() {
        // The Kangxi radical ⼀ (U+2F00) sorts before 一 (U+4E00) but is not what people type.
        let codes = BTreeMap::from([('\u{2F00}', 5), ('一', 5), ('a', 6)]);
        let cmap = String::from_utf8(to_unicode(&codes)).expect("ascii");
        assert!(cmap.contains("<0005> <4E00>"), "{cmap}");
        assert!(cmap.contains("<0006> <0061>"), "{cmap}");
        assert!(cmap.contains("2 beginbfchar"), "{cmap}");
        // Beyond the Basic Multilingual Plane, a surrogate pair.
        let cmap = String::from_utf8(to_unicode(&BTreeMap::from([('𠀀', 1)]))).expect("ascii");
        assert!(cmap.contains("<0001> <D840DC00>"), "{cmap}");
    }
}
