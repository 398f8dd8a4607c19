"""t2s_pipeline: a Dagster asset pipeline that fine-tunes code LLMs for text-to-SQL."""
