"""How versions are kept and read: versions on disk and which is served (`registry`),
one version in memory (`version`), the `metadata.json` contract (`metadata`),
segments over time across versions (`over_time`), and every customer's assignment
to a file or table (`export`, `write_back`)."""
