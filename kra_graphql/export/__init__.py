"""Dataset export: races and what belongs to them, as Parquet or CSV files with a manifest."""
