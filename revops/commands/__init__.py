"""One module per verb: plain functions that take data and return a result."""
