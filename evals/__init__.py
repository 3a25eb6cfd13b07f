"""Evaluation of retrieval and answers: datasets, metrics, runners, run records, reports (`v1tr0 eval`)."""
