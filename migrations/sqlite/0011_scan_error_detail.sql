-- Why the last scan failed, in a lead's words (URL, driver message); scan_error keeps the viewer's words.
alter table branches add column scan_error_detail text;
