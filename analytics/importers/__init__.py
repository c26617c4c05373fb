"""Data from outside the dataset folder: vendor and database importers, KPI export."""
