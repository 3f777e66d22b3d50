"""Looking at a finished run: the HTML report, rows in the terminal, two runs compared."""
