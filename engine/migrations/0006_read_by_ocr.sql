-- Passages whose text was read from an image by OCR (a scanned page, a picture): the
-- window and the CLI say so beside them, as their words may be misread.

ALTER TABLE chunks ADD COLUMN read_by_ocr INTEGER NOT NULL DEFAULT 0;
