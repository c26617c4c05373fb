"""Getting records from the tools that already hold them into a dataset folder."""
