-- Passages whose text was read from an image by OCR (a scanned page, a picture): the
-- window and the CLI say so beside them, as their words may be misread.

ALTER TABLE chunks ADD COLUMN read_by_ocr INTEGER NOT NULL DEFAULT 0;

-- Pages of an indexed file whose text is in pictures, left unread because OCR was off
-- or Tesseract missing: the file is read again at a run where OCR is there.
ALTER TABLE files ADD COLUMN pages_awaiting_ocr INTEGER NOT NULL DEFAULT 0;
