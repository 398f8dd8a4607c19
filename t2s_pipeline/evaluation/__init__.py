"""Generation, metrics and reports for text-to-SQL models."""
