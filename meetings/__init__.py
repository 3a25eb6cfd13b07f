"""Meetings, a domain package: rooms and attendance (service.py, jitsi.py, webhooks.py), transcripts
imported from other tools (transcripts.py), uploads (transcriptions.py), the transcription pipeline
(pipeline.py, run by the worker through jobs.py), summaries (summaries.py) and commitments
(commitments.py), chosen once per worker (tasks.py), and the commitment ledger (ledger.py)."""
