-- Files that were inside an extraction helper when Quire stopped (crashed, was
-- killed, lost power), with the hash of that content and how many times in a row.
-- A file Quire stopped on twice is not read again until its content changes; a
-- read that finishes, whatever its outcome, forgets the file.

CREATE TABLE interrupted_reads (
    path  BLOB    PRIMARY KEY,
    hash  TEXT    NOT NULL,
    times INTEGER NOT NULL
);
