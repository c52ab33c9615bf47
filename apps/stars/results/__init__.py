"""What `invert stars` finds for each object of a file: the posterior analysis that makes the rows of summary.csv
(analysis) and summary.fits, the same table with a unit on every column (summary_fits)."""
