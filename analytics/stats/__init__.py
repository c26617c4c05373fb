"""Statistical building blocks: rate and duration summaries, Kaplan-Meier, interval and
multiplicity methods."""
