"""One module per outside system; nothing else imports their libraries."""
