//! Spreadsheets, Excel (XLSX, and XLS through calamine) and OpenDocument (ODS): a
//! sheet a page, its name on the first line, then a line per row with its cells'
//! shown values between tabs. Formulas are read as the value last computed. Empty
//! rows and cells are left out.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::package::{attribute, relationship_id, relationships, resolve, resolve_reference, Package};
use super::{tidy_whitespace, Document, ExtractError};

/// Cells or rows one element may stand for (`number-columns-repeated`): a row of
/// 16,384 empty cells is common, one value repeated more than this is a trick.
const MAX_REPEAT: usize = 1_000;
/// Text one workbook may make: repeated rows and shared strings can multiply a few
/// kilobytes into gigabytes.
const MAX_TEXT_BYTES: usize = 64 * 1024 * 1024;

pub fn extract_xlsx(bytes: &[u8]) -> Result<Document, ExtractError> {
    let mut package = Package::open(bytes, "Excel")?;
    let workbook = package
        .read("xl/workbook.xml")?
        .ok_or_else(|| ExtractError::Failed("not an Excel workbook (no xl/workbook.xml inside)".into()))?;
    let targets = relationships(&package.read("xl/_rels/workbook.xml.rels")?.unwrap_or_default());
    let shared = match package.read("xl/sharedStrings.xml")? {
        Some(xml) => shared_strings(&xml)?,
        None => Vec::new(),
    };
    let mut pages = Vec::new();
    let mut used = 0;
    for (name, id) in workbook_sheets(&workbook)? {
        let Some((_, target)) = targets.get(&id) else {
            continue;
        };
        let path = resolve("xl", target);
        let Some(sheet) = package.read(&path)? else {
            continue; // A chart sheet, or a part the package lacks.
        };
        pages.push(format!(
            "{name}\n{}",
            xlsx_rows(&sheet, &shared, &path, &mut used)?
        ));
    }
    finish(pages, package.title("docProps/core.xml"))
}

/// An Excel 97-2003 workbook (BIFF8 in a compound file).
pub fn extract_xls(bytes: &[u8]) -> Result<Document, ExtractError> {
    use calamine::{Data, Reader, Xls, XlsError};
    let mut workbook: Xls<_> = Xls::new(std::io::Cursor::new(bytes)).map_err(|e| {
        ExtractError::Failed(match e {
            XlsError::Password => {
                "password-protected Excel workbook; Quire cannot read it without the password".into()
            }
            other => format!("not a readable Excel 97-2003 workbook ({other})"),
        })
    })?;
    let mut pages = Vec::new();
    let mut used = 0;
    for name in workbook.sheet_names() {
        let mut rows = String::new();
        match workbook.worksheet_range(&name) {
            Ok(range) => {
                for row in range.rows() {
                    let mut cells: Vec<String> = row
                        .iter()
                        .filter(|c| !matches!(c, Data::Empty))
                        .map(ToString::to_string)
                        .filter(|c| !c.trim().is_empty())
                        .collect();
                    end_row(&mut rows, &mut cells, &mut used)?;
                }
            }
            // A sheet that cannot be read keeps its page, so later sheets keep theirs.
            Err(e) => tracing::debug!(sheet = %name, "XLS sheet unreadable: {e}"),
        }
        pages.push(format!("{name}\n{rows}"));
    }
    finish(pages, None)
}

pub fn extract_ods(bytes: &[u8]) -> Result<Document, ExtractError> {
    let mut package = Package::open(bytes, "OpenDocument spreadsheet")?;
    let content = package.read("content.xml")?.ok_or_else(|| {
        ExtractError::Failed("not an OpenDocument spreadsheet (no content.xml inside)".into())
    })?;
    let pages = ods_sheets(&content)?;
    finish(pages, package.title("meta.xml"))
}

fn finish(pages: Vec<String>, title: Option<String>) -> Result<Document, ExtractError> {
    if pages.is_empty() {
        return Err(ExtractError::Skipped("a spreadsheet with no sheets".into()));
    }
    Ok(Document::from_pages(
        title,
        pages.iter().map(|p| tidy_whitespace(p)),
    ))
}

fn damaged(part: &str, error: &dyn std::fmt::Display) -> ExtractError {
    ExtractError::Failed(format!("damaged {part}: {error}"))
}

/// The workbook's sheets in order: name and relationship id.
fn workbook_sheets(xml: &str) -> Result<Vec<(String, String)>, ExtractError> {
    let mut reader = Reader::from_str(xml);
    let mut sheets = Vec::new();
    loop {
        match reader.read_event().map_err(|e| damaged("xl/workbook.xml", &e))? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"sheet" => {
                if let (Some(name), Some(id)) = (attribute(&e, b"name"), relationship_id(&e)) {
                    sheets.push((name, id));
                }
            }
            Event::Eof => return Ok(sheets),
            _ => {}
        }
    }
}

/// The workbook's shared strings, in order (a string item's runs joined).
fn shared_strings(xml: &str) -> Result<Vec<String>, ExtractError> {
    let mut reader = Reader::from_str(xml);
    let mut strings = Vec::new();
    let mut current = String::new();
    let (mut in_item, mut in_text, mut in_phonetic) = (false, false, false);
    loop {
        match reader
            .read_event()
            .map_err(|e| damaged("xl/sharedStrings.xml", &e))?
        {
            Event::Start(e) => match e.local_name().as_ref() {
                b"si" => in_item = true,
                b"t" if in_item => in_text = true,
                // Phonetic guides (furigana) repeat the text in another script.
                b"rPh" => in_phonetic = true,
                _ => {}
            },
            Event::Empty(e) if e.local_name().as_ref() == b"si" => strings.push(String::new()),
            Event::End(e) => match e.local_name().as_ref() {
                b"si" => {
                    in_item = false;
                    strings.push(std::mem::take(&mut current));
                }
                b"t" => in_text = false,
                b"rPh" => in_phonetic = false,
                _ => {}
            },
            Event::Text(t) if in_text && !in_phonetic => {
                current.push_str(&t.decode().map_err(|e| damaged("xl/sharedStrings.xml", &e))?)
            }
            Event::GeneralRef(r) if in_text && !in_phonetic => {
                current.push_str(&resolve_reference(&String::from_utf8_lossy(&r)))
            }
            Event::Eof => return Ok(strings),
            _ => {}
        }
    }
}

/// A worksheet's rows, a line each, cells between tabs.
fn xlsx_rows(xml: &str, shared: &[String], part: &str, used: &mut usize) -> Result<String, ExtractError> {
    let mut reader = Reader::from_str(xml);
    let mut rows = String::new();
    let mut row: Vec<String> = Vec::new();
    let mut cell_type = String::new();
    let mut value = String::new();
    let mut in_value = false;
    loop {
        match reader.read_event().map_err(|e| damaged(part, &e))? {
            Event::Start(e) => match e.local_name().as_ref() {
                b"c" => {
                    cell_type = attribute(&e, b"t").unwrap_or_default();
                    value.clear();
                }
                // `v`: the value; `t` inside `is`: an inline string.
                b"v" | b"t" => in_value = true,
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"v" | b"t" => in_value = false,
                b"c" => {
                    let shown = match cell_type.as_str() {
                        "s" => value
                            .trim()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| shared.get(i))
                            .cloned(),
                        "b" => Some(if value.trim() == "1" { "TRUE" } else { "FALSE" }.to_string()),
                        _ => Some(std::mem::take(&mut value)),
                    };
                    if let Some(shown) = shown.filter(|s| !s.trim().is_empty()) {
                        row.push(shown);
                    }
                }
                b"row" => end_row(&mut rows, &mut row, used)?,
                _ => {}
            },
            Event::Text(t) if in_value => value.push_str(&t.decode().map_err(|e| damaged(part, &e))?),
            Event::GeneralRef(r) if in_value => {
                value.push_str(&resolve_reference(&String::from_utf8_lossy(&r)))
            }
            Event::Eof => return Ok(rows),
            _ => {}
        }
    }
}

/// Appends `row` to `rows` as a line, within the workbook's budget of text (`used`).
fn end_row(rows: &mut String, row: &mut Vec<String>, used: &mut usize) -> Result<(), ExtractError> {
    if !row.is_empty() {
        let line = row.join("\t");
        *used += line.len() + 1;
        if *used > MAX_TEXT_BYTES {
            return Err(ExtractError::Failed(format!(
                "its sheets hold more than {} of text; Quire reads at most that much of a workbook",
                crate::size::human_bytes(MAX_TEXT_BYTES as u64)
            )));
        }
        rows.push_str(&line);
        rows.push('\n');
        row.clear();
    }
    Ok(())
}

/// The sheets of an ODS content.xml: its name, then its rows.
fn ods_sheets(xml: &str) -> Result<Vec<String>, ExtractError> {
    let mut reader = Reader::from_str(xml);
    let mut sheets = Vec::new();
    let mut sheet = String::new();
    let mut row: Vec<String> = Vec::new();
    let mut row_repeat = 1usize;
    let mut cell = String::new();
    let mut cell_repeat = 1usize;
    let mut in_cell = false;
    let mut in_paragraph = 0usize;
    let mut used = 0;
    let part = "content.xml";
    loop {
        match reader.read_event().map_err(|e| damaged(part, &e))? {
            Event::Start(e) => match e.local_name().as_ref() {
                b"table" => sheet = format!("{}\n", attribute(&e, b"name").unwrap_or_default()),
                b"table-row" => row_repeat = repeat(&e, b"number-rows-repeated"),
                b"table-cell" | b"covered-table-cell" => {
                    in_cell = true;
                    cell.clear();
                    cell_repeat = repeat(&e, b"number-columns-repeated");
                }
                b"p" if in_cell => {
                    if in_paragraph == 0 && !cell.is_empty() {
                        cell.push(' ');
                    }
                    in_paragraph += 1;
                }
                _ => {}
            },
            Event::Empty(e) if e.local_name().as_ref() == b"s" && in_paragraph > 0 => cell.push(' '),
            Event::End(e) => match e.local_name().as_ref() {
                b"p" => in_paragraph = in_paragraph.saturating_sub(1),
                b"table-cell" | b"covered-table-cell" => {
                    in_cell = false;
                    if !cell.trim().is_empty() {
                        row.extend(std::iter::repeat_n(cell.clone(), cell_repeat));
                    }
                }
                b"table-row" => {
                    for _ in 0..row_repeat {
                        let mut copy = row.clone();
                        end_row(&mut sheet, &mut copy, &mut used)?;
                    }
                    row.clear();
                }
                b"table" => sheets.push(std::mem::take(&mut sheet)),
                _ => {}
            },
            Event::Text(t) if in_paragraph > 0 => cell.push_str(&t.decode().map_err(|e| damaged(part, &e))?),
            Event::GeneralRef(r) if in_paragraph > 0 => {
                cell.push_str(&resolve_reference(&String::from_utf8_lossy(&r)))
            }
            Event::Eof => return Ok(sheets),
            _ => {}
        }
    }
}

/// How many times a row or cell repeats, within [`MAX_REPEAT`].
fn repeat(element: &BytesStart<'_>, name: &[u8]) -> usize {
    attribute(element, name)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1usize)
        .clamp(1, MAX_REPEAT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xlsx_cells_show_shared_inline_and_computed_values() {
        let shared =
            shared_strings(r#"<sst><si><t>Item</t></si><si><r><t>Tea </t></r><r><t>bags</t></r></si></sst>"#)
                .unwrap();
        let sheet = r#"<worksheet><sheetData>
            <row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>Cost &amp; tax</t></is></c></row>
            <row r="2"><c r="A2" t="s"><v>1</v></c><c r="B2"><f>1+1</f><v>2.5</v></c><c r="C2" t="b"><v>1</v></c></row>
            <row r="3"><c r="A3"/></row>
        </sheetData></worksheet>"#;
        assert_eq!(
            xlsx_rows(sheet, &shared, "sheet", &mut 0).unwrap(),
            "Item\tCost & tax\nTea bags\t2.5\tTRUE\n"
        );
    }

    #[test]
    fn a_few_kilobytes_repeated_into_gigabytes_are_refused() {
        let cell = "x".repeat(1_000);
        let xml = format!(
            r#"<office:document-content xmlns:table="t" xmlns:text="x"><table:table table:name="Bomb">
            <table:table-row table:number-rows-repeated="1000"><table:table-cell table:number-columns-repeated="1000"><text:p>{cell}</text:p></table:table-cell></table:table-row>
            </table:table></office:document-content>"#
        );
        let err = ods_sheets(&xml).unwrap_err();
        assert!(err.to_string().contains("more than 64.0 MB of text"), "{err}");
    }

    #[test]
    fn ods_sheets_repeat_cells_within_bounds() {
        let xml = r#"<office:document-content xmlns:table="t" xmlns:text="x"><office:body><office:spreadsheet>
            <table:table table:name="Budget">
              <table:table-row><table:table-cell><text:p>Rent</text:p></table:table-cell>
                <table:table-cell table:number-columns-repeated="2"><text:p>900</text:p></table:table-cell>
                <table:table-cell table:number-columns-repeated="16000"/></table:table-row>
              <table:table-row table:number-rows-repeated="1048000"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>
            </table:table>
            <table:table table:name="Notes"><table:table-row><table:table-cell><text:p>Paid</text:p></table:table-cell></table:table-row></table:table>
        </office:spreadsheet></office:body></office:document-content>"#;
        assert_eq!(
            ods_sheets(xml).unwrap(),
            vec![
                "Budget\nRent\t900\t900\n".to_string(),
                "Notes\nPaid\n".to_string()
            ]
        );
    }
}
