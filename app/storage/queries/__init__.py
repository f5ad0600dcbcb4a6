"""The read side's SQL: one module per concern, each returning plain rows to the loaders."""
