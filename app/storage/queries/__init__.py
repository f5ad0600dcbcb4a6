"""The read side's SQL: one module per concern, each building the statements the API's loaders run."""
